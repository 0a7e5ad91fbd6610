"""The distilled student vs the ensemble it learned from: test error, parameters, CPU latency.

One search per dataset and seed (in process, `adanas.search.run_search`: the pipeline's library
calls, distill step included), then, as the control, the student's architecture trained on the
labels alone for the same epochs (`adanas.train.train_candidate`, no teacher): what distilling
from the ensemble buys over training the small network by itself.

Datasets (as benchmarks/claims.py): the embedded digits (8x8x1; towers grown from cnn(2@16) by
the dynamic generator, 3 iterations x 2 candidates, 8 epochs each) and the CIFAR-shaped version
of them (32x32x3 digits in random colours, written as an image folder; towers from cnn(5@12)).
The student is the search's base architecture, trained for twice a candidate's epochs on the
ensemble's soft targets (temperature 2) and the labels. Latency: milliseconds per image of each
SavedModel's serving_default signature on this machine's CPU (median of >= 10 calls and 1 s,
after 3 warm-up calls), at batch 1 and 64, measured one after the other in the same process.

    python benchmarks/student.py [--seeds 2] [--quick] [--write BENCHMARKS.md]
    python benchmarks/student.py --render-only --results bench-out/student.jsonl --write BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from claims import SMALL, base_config, digits32  # noqa: E402
from orchestration import write_section  # noqa: E402

from adanas import artifacts, config, student, train  # noqa: E402
from adanas.config import merge  # noqa: E402

MARK = "student"
TEMPERATURE = 2.0


def run_one(base: dict, seed: int, student_epochs: int) -> dict:
    """One search with a student, and the student's architecture trained on labels alone."""
    import keras

    from adanas.search import run_search
    cfg = config.from_dict(merge(base, {"seed": seed, "search": {"generator": "dynamic"}, "export": {
        "student": {"architecture": base["search"]["architecture"], "epochs": student_epochs,
                    "temperature": TEMPERATURE}}}))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        report, _ = run_search(cfg, tmp)
        wall = time.perf_counter() - t0
        spec = {**student.student_spec(cfg.export.student, cfg.seed), "name": "alone"}
        alone_cfg = config.from_dict(merge(base, {"training": {"train_epochs": student_epochs}}))
        alone = train.train_candidate(spec, alone_cfg.training, Path(tmp) / "dataset",
                                      Path(tmp) / "alone")
        record = artifacts.read_student(Path(tmp) / "student")
    keras.backend.clear_session()
    comparison = report["student"]
    return {"ensemble": comparison["ensemble"], "student": comparison["student"],
            "alone": {"test_error": alone["test_error"], "params": alone["params"],
                      "train_seconds": alone["train_seconds"]},
            "members": report["ensemble_size"], "search_train_seconds": report["train_seconds"],
            "wall": wall, "student_arch": record["spec"]["arch_str"]}


def _mean(rs, f):
    return statistics.mean(f(r) for r in rs)


def _pct(rs, f):
    xs = [100 * f(r) for r in rs]
    return f"{statistics.mean(xs):.2f}" + (f" +- {statistics.stdev(xs):.2f}" if len(xs) > 1 else "")


def render(results: dict) -> str:
    lines = [f"Measured {time.strftime('%Y-%m-%d')} on this machine's CPUs (2 cores); test error in % "
             f"(mean +- std over seeds where more than one); params, latency and training seconds "
             f"are means. Latency: ms per image of the SavedModel's serving_default on CPU.", ""]
    for label, rs in results.items():
        e, s = (lambda r: r["ensemble"]), (lambda r: r["student"])
        members = statistics.median(r["members"] for r in rs)
        lines += [f"**{label}** ({len(rs)} seed{'s' if len(rs) > 1 else ''}; the search returned "
                  f"{members:.0f} member{'s' if members != 1 else ''}, student "
                  f"{rs[0]['student_arch']} for {rs[0]['student']['epochs']} epochs at T = "
                  f"{rs[0]['student']['distillation_temperature']:g})", "",
                  "| model | test error % | params | ms/image, batch 1 | ms/image, batch 64 | "
                  "SavedModel MB | training s |", "|---|---|---|---|---|---|---|"]
        for name, g, train_s in (("ensemble", e, lambda r: r["search_train_seconds"]),
                                 ("distilled student", s, lambda r: r["student"]["train_seconds"])):
            lines.append(
                f"| {name} | {_pct(rs, lambda r: g(r)['test_error'])} | {_mean(rs, lambda r: g(r)['params']):,.0f} | "
                f"{_mean(rs, lambda r: g(r)['latency_ms_per_image']['batch_1']):.3f} | "
                f"{_mean(rs, lambda r: g(r)['latency_ms_per_image']['batch_64']):.4f} | "
                f"{_mean(rs, lambda r: g(r)['saved_model_bytes']) / 1e6:.2f} | {_mean(rs, train_s):.0f} |")
        lines.append(f"| same network, labels only | {_pct(rs, lambda r: r['alone']['test_error'])} | "
                     f"{_mean(rs, lambda r: r['alone']['params']):,.0f} | (as the student) | | | "
                     f"{_mean(rs, lambda r: r['alone']['train_seconds']):.0f} |")
        speed1 = _mean(rs, lambda r: e(r)["latency_ms_per_image"]["batch_1"] / s(r)["latency_ms_per_image"]["batch_1"])
        speed64 = _mean(rs, lambda r: e(r)["latency_ms_per_image"]["batch_64"] / s(r)["latency_ms_per_image"]["batch_64"])
        lines += ["", f"Student vs ensemble: {_mean(rs, lambda r: s(r)['params'] / e(r)['params']):.1%} "
                      f"of the parameters, {speed1:.1f}x faster at batch 1 and {speed64:.1f}x at "
                      f"batch 64; agrees with the ensemble's prediction on "
                      f"{_pct(rs, lambda r: s(r)['agreement_with_ensemble'])}% of test images. "
                      f"Distilled vs labels only: "
                      f"{_mean(rs, lambda r: 100 * (s(r)['test_error'] - r['alone']['test_error'])):+.2f} "
                      f"points of test error.", ""]
    return "\n".join(lines).rstrip()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=2, help="seeds per dataset")
    p.add_argument("--only", choices=["digits", "digits32"], help="run one dataset")
    p.add_argument("--results", type=Path, default=Path("bench-out/student.jsonl"),
                   help="raw results, appended as they come (tables are rendered from this file)")
    p.add_argument("--quick", action="store_true", help="digits only, 2 epochs (a smoke run)")
    p.add_argument("--render-only", action="store_true",
                   help="run nothing: render (and --write) the tables of --results")
    p.add_argument("--write", type=Path)
    args = p.parse_args()
    results_file = Path(tempfile.mkdtemp()) / "student.jsonl" if args.quick else args.results
    results_file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        plan = []
        if args.only in (None, "digits"):
            plan.append(("digits 8x8x1", lambda: {"name": "digits"}, 2 if args.quick else 8,
                         {"flip": False, "pad_crop": 1, "cutout": 2}, SMALL))
        if args.only in (None, "digits32") and not args.quick:
            plan.append(("digits 32x32x3 (CIFAR-shaped)",
                         lambda: {"name": "folder", "data_dir": str(digits32(Path(tmp) / "digits32"))},
                         8, {"flip": False, "pad_crop": 4, "cutout": 8}, {"num_layers": 5, "filters": 12}))
        for label, dataset, epochs, aug, small in ([] if args.render_only else plan):
            base = base_config(dataset(), epochs, aug)
            base["search"]["architecture"] = small
            for seed in range(args.seeds):
                r = run_one(base, seed, 2 * epochs)
                r.update(dataset=label, seed=seed)
                with results_file.open("a") as f:
                    f.write(json.dumps(r) + "\n")
                print(f"{label} seed {seed}: ensemble {100 * r['ensemble']['test_error']:.2f}% "
                      f"({r['ensemble']['params']:,} params), student {100 * r['student']['test_error']:.2f}% "
                      f"({r['student']['params']:,}), alone {100 * r['alone']['test_error']:.2f}%; "
                      f"{r['wall']:.0f}s", file=sys.stderr, flush=True)
    results: dict = {}
    for line in results_file.read_text().splitlines():
        r = json.loads(line)
        results.setdefault(r["dataset"], []).append(r)
    table = render(results)
    print(table)
    if args.write:
        write_section(args.write, table, MARK, "Distilled student vs the ensemble")


if __name__ == "__main__":
    main()
