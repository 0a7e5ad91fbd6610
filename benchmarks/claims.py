"""The paper's claims at small scale, several seeds: test error of each arm, mean +- std.

Datasets: the embedded digits (8x8x1, towers cnn(2@16), big tower cnn(2@28)) and a CIFAR-shaped
version of it (32x32x3: each digit upscaled 4x, light ink of a random colour on a random dark
background, written as an image folder and read back through the `folder` loader; towers
cnn(5@12), big tower cnn(5@21)). A genuine CIFAR-10 copy is not available on these machines
(no network), so tfds cifar10 is not used here.

Regimes: 8 epochs per candidate on both sets (towers still learning), and long training on the
8x8 digits (40 and 120 epochs per tower), meant as the regime where one tower saturates (the
paper's regime for its ensemble claim: towers trained to convergence), checked by the same big
tower trained twice as long (saturated: twice the training gains under one test image).

Arms (all in-process searches with `adanas.search.run_search`, same library as the pipeline; the
grown ensemble is returned as the paper does, search.return_best false, so that an arm measures
its ensemble and not the best tower selection might fall back to):
  ensemble-3      3 iterations x 1 candidate, simple generator: 3 small towers, mean
  single-big      1 tower with about 3x the parameters, same epochs: about the same compute
  single-big-2x   single-big trained twice the epochs (saturating regime only: is it saturated?)
  G_S             3 iterations x 2 candidates, simple generator (new seeds), mean
  G_D             3 iterations x 2 candidates, dynamic generator (deeper / wider), mean
  G_D+KD          G_D with adaptive distillation from the ensemble so far
  G_D+weighted    G_D with scalar mixture weights fitted to the AdaNet objective

    python benchmarks/claims.py [--seeds 5] [--only REGIME] [--long-epochs 40 120] [--results FILE]
        [--quick] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from orchestration import write_section  # noqa: E402

from adanas import config  # noqa: E402
from adanas.config import merge  # noqa: E402

SMALL = {"num_layers": 2, "filters": 16}
BIG = {"num_layers": 2, "filters": 28}      # ~3x the parameters (and FLOPs) of SMALL on digits

ARMS = {
    "ensemble-3": {"search": {"generator": "simple", "candidates_per_iteration": 1, "boosting_iterations": 3}},
    # The big architecture is set per dataset (about 3x the small one's parameters and FLOPs).
    "single-big": {"search": {"generator": "simple", "candidates_per_iteration": 1, "boosting_iterations": 1}},
    "single-big-2x": {"search": {"generator": "simple", "candidates_per_iteration": 1, "boosting_iterations": 1}},
    "G_S": {"search": {"generator": "simple"}},
    "G_D": {"search": {"generator": "dynamic"}},
    "G_D+KD": {"search": {"generator": "dynamic"}, "training": {"knowledge_distillation": "adaptive"}},
    "G_D+weighted": {"search": {"generator": "dynamic", "ensembler": "weighted",
                                "mixture_weight_type": "scalar", "adanet_beta": 0.001}},
}

SHORT_ARMS = [a for a in ARMS if a != "single-big-2x"]
LONG_ARMS = ["ensemble-3", "single-big", "single-big-2x"]
LONG_EPOCHS = [40, 120]

COMPARISONS = [
    ("3 small towers vs 1 tower of 3x params, same compute", "ensemble-3", "single-big"),
    ("saturation: the big tower trained 2x longer", "single-big-2x", "single-big"),
    ("G_D vs G_S", "G_D", "G_S"),
    ("adaptive KD vs none (G_D)", "G_D+KD", "G_D"),
    ("weighted vs mean (G_D)", "G_D+weighted", "G_D"),
]


def digits32(root: Path) -> Path:
    """Digits as 32x32 RGB images in root/train/<class>/*.png: ink in a random light colour on a
    random dark background (shape, not colour, carries the class)."""
    import tensorflow as tf
    from sklearn.datasets import load_digits
    bunch = load_digits()
    rng = np.random.default_rng(0)
    for i, (image, label) in enumerate(zip(bunch.images, bunch.target)):
        ink = np.kron(image / 16.0, np.ones((4, 4)))[..., None]            # 32x32x1 in 0..1
        fg, bg = rng.uniform(150, 255, 3), rng.uniform(0, 100, 3)
        rgb = np.round(bg + (fg - bg) * ink).astype(np.uint8)
        path = root / "train" / str(label) / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        tf.io.write_file(str(path), tf.io.encode_png(rgb))
    return root


def base_config(dataset: dict, epochs: int, augmentation: dict) -> dict:
    return {
        "name": "claims",
        "dataset": dataset,
        "augmentation": augmentation,
        "search": {"family": "cnn", "architecture": SMALL, "growth": {"depth": 1, "width": 8},
                   "candidates_per_iteration": 2, "boosting_iterations": 3, "return_best": False},
        "training": {"batch_size": 32, "train_epochs": epochs, "initial_learning_rate": 0.05},
    }


def run_arm(base: dict, arm: str, seed: int, override: dict | None = None) -> dict:
    import keras

    from adanas.search import run_search
    cfg = config.from_dict(merge(merge(base, ARMS[arm] if override is None else override), {"seed": seed}))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        report, _ = run_search(cfg, tmp)
        wall = time.perf_counter() - t0
    keras.backend.clear_session()
    return {"test_error": report["test_error"], "params": report["total_params"],
            "train_seconds": report["train_seconds"], "wall": wall, "size": report["ensemble_size"]}


def _ms(xs):
    return f"{100 * statistics.mean(xs):.2f} +- {100 * (statistics.stdev(xs) if len(xs) > 1 else 0.0):.2f}"


def render(results: dict) -> str:
    lines = [f"Measured {time.strftime('%Y-%m-%d')} on this machine's CPUs (2 cores); test error in % "
             f"(mean +- std over seeds); members, trainable params and training seconds are medians.", ""]
    for label, arms in results.items():
        n = max(len(rs) for rs in arms.values())
        lines += [f"**{label}** ({n} seeds)", "", "| arm | test error % | members | params | training s |",
                  "|---|---|---|---|---|"]
        for arm, rs in arms.items():
            lines.append(f"| {arm} | {_ms([r['test_error'] for r in rs])} | "
                         f"{statistics.median(r['size'] for r in rs):.0f} | "
                         f"{statistics.median(r['params'] for r in rs):,.0f} | "
                         f"{statistics.median(r['train_seconds'] for r in rs):.0f} |")
        lines += ["", "| claim | A | B | A - B error (points) | A better in seeds |", "|---|---|---|---|---|"]
        for name, a, b in COMPARISONS:
            if a not in arms or b not in arms:
                continue
            ea = [r["test_error"] for r in arms[a]]
            eb = [r["test_error"] for r in arms[b]]
            diff = 100 * (statistics.mean(ea) - statistics.mean(eb))
            wins = sum(x < y for x, y in zip(ea, eb))
            lines.append(f"| {name} | {a} | {b} | {diff:+.2f} | {wins}/{min(len(ea), len(eb))} |")
        lines.append("")
    return "\n".join(lines).rstrip()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=5, help="seeds on digits (both regimes)")
    p.add_argument("--seeds32", type=int, default=5, help="seeds on the CIFAR-shaped set")
    p.add_argument("--arms32", nargs="+", default=SHORT_ARMS,
                   help="arms run on the CIFAR-shaped set (it is ~3x slower per epoch)")
    p.add_argument("--only", choices=["digits", "digits-long", "digits32"], help="run one regime")
    p.add_argument("--results", type=Path,
                   help="raw results, appended as they come; the tables are rendered from the whole "
                        "file, so pass an earlier run's to add to it (default: a new file per run, "
                        "bench-out/claims-<time>.jsonl)")
    p.add_argument("--long-epochs", type=int, nargs="+", default=LONG_EPOCHS, metavar="EPOCHS",
                   help="epochs per tower of each long-training regime")
    p.add_argument("--quick", action="store_true", help="1 seed, digits only, 2 epochs (a smoke run)")
    p.add_argument("--write", type=Path)
    args = p.parse_args()
    results_file = (Path(tempfile.mkdtemp()) / "claims.jsonl" if args.quick else
                    args.results or Path("bench-out") / f"claims-{time.strftime('%Y%m%dT%H%M%S')}.jsonl")
    results_file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        plan = []
        digits_aug = {"flip": False, "pad_crop": 1, "cutout": 2}
        if args.only in (None, "digits"):
            plan.append(("digits 8x8x1", lambda: {"name": "digits"}, 2 if args.quick else 8,
                         digits_aug, SMALL, BIG, 1 if args.quick else args.seeds, SHORT_ARMS))
        if args.only in (None, "digits-long"):
            for long_epochs in [2] if args.quick else args.long_epochs:
                plan.append((f"digits 8x8x1, long training ({long_epochs} epochs per tower)",
                             lambda: {"name": "digits"}, long_epochs, digits_aug, SMALL, BIG,
                             1 if args.quick else args.seeds, LONG_ARMS))
        if args.only in (None, "digits32") and not args.quick:
            # 5 layers, two 2x2 pools: 32x32 digits need the receptive field to learn in 8 epochs.
            plan.append(("digits 32x32x3 (CIFAR-shaped)",
                         lambda: {"name": "folder", "data_dir": str(digits32(Path(tmp) / "digits32"))},
                         8, {"flip": False, "pad_crop": 4, "cutout": 8},
                         {"num_layers": 5, "filters": 12}, {"num_layers": 5, "filters": 21},
                         args.seeds32, args.arms32))
        for label, dataset, epochs, aug, small, big, n_seeds, arms in plan:
            base = base_config(dataset(), epochs, aug)
            base["search"]["architecture"] = small
            for seed in range(n_seeds):
                for arm in arms:
                    over = ARMS[arm]
                    if arm.startswith("single-big"):
                        over = merge(over, {"search": {"architecture": big}})
                    if arm == "single-big-2x":
                        over = merge(over, {"training": {"train_epochs": 2 * epochs}})
                    r = run_arm(base, arm, seed, override=over)
                    r.update(dataset=label, arm=arm, seed=seed)
                    with results_file.open("a") as f:
                        f.write(json.dumps(r) + "\n")
                    print(f"{label} seed {seed} {arm}: test error {100 * r['test_error']:.2f}% "
                          f"({r['size']} members, {r['params']:,} params, {r['train_seconds']:.0f}s training)",
                          file=sys.stderr, flush=True)
    results: dict = {}
    for line in results_file.read_text().splitlines():
        r = json.loads(line)
        results.setdefault(r["dataset"], {}).setdefault(r["arm"], []).append(r)
    table = render(results)
    print(table)
    if args.write:
        write_section(args.write, table, "claims", "The paper's claims at small scale")


if __name__ == "__main__":
    main()
