"""One tower for B, or k towers of B/k averaged: can an ensemble pay at the quality suite's budgets?

Target (1) of issue 10 asks AdaNAS to match its own best tower trained alone for the whole
budget B. At the suite's budgets the searches finish one tower (cnn(4@16) in most runs) after
spending a tenth to a fifth of the budget exploring (and some seconds on the steps between
tasks), so the returned model has had 75-85% of the tower alone's training. An ensemble finish
(several members sharing the finishing time) could only make that up if, at these budgets, k
towers of B/k each beat one tower of B. This measures that best case directly, with no search in
front: the same tower, k times from different seeds, each trained by the clock for B/k
(adanas.timed, the suite's "tower alone" protocol, task overheads counted inside each share),
against the same tower trained once for B. The members are combined as AdaNAS's `mean` ensembler
combines them (the mean of their logits); the mean of their softmax outputs is recorded too.
Every run also records the members' own test errors, so the table shows the error of one tower
at B/k beside the ensemble of k of them. (--quick runs the same tower on the 8x8 digits: a smoke
run.)

    python benchmarks/split_budget.py [--sets digits32 textures shapes] [--seeds 0 1] [--ks 1 2 3]
        [--budget SECONDS] [--tower 4@16] [--write BENCHMARKS.md] [--quick] [--table RESULTS]

--tower LAYERS@FILTERS[+dUNITS] trains another cnn tower (+dUNITS: a hidden dense layer before
its logits); with --ks 1, that tower alone for B, e.g. each tower a search could have finished
on a set. Rows and table lines are per tower.

Rows go to bench-out/split_budget.jsonl (one per set, seed and k); the table is printed (with
--write, it replaces the section between `<!-- split:start -->` and `<!-- split:end -->`).
--quick: digits, seed 0, k = 1 and 2, 10 s: a smoke run of the code path, not a figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import suite_data  # noqa: E402
from environment import cpu_model  # noqa: E402
from orchestration import write_section  # noqa: E402
from quality import BENCH_OUT, BUDGETS, error_of, prepare_data, progress, read_rows  # noqa: E402

from adanas import artifacts, generators, train  # noqa: E402
from adanas.config import load_config  # noqa: E402

CONFIG = "pipelines/configs/digits.yaml"
MARK, TITLE = "split", "One tower for B or k towers of B/k"
TOWER = "4@16"   # layers@filters: what the suite's searches finished on the 32x32 sets


def parse_tower(text: str) -> dict[str, int]:
    """LAYERS@FILTERS[+dUNITS]: a cnn tower, with a hidden dense layer of UNITS before its logits."""
    tower, plus, dense = text.partition("+d")
    layers, sep, filters = tower.partition("@")
    if not (sep and layers.isdigit() and filters.isdigit() and int(layers) > 0 and int(filters) > 0
            and (not plus or (dense.isdigit() and int(dense) > 0))):
        raise ValueError(f"--tower {text!r}: expected LAYERS@FILTERS or LAYERS@FILTERS+dUNITS, e.g. 4@16+d64")
    return {"num_layers": int(layers), "filters": int(filters), **({"dense_units": int(dense)} if plus else {})}


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def run(name: str, seed: int, k: int, budget: float, suite_dir: Path, work: Path,
        tower: str = TOWER) -> dict[str, Any]:
    cfg = load_config(CONFIG, suite_data.dataset_overrides(name, suite_dir, 0)
                      + [f"seed={seed}"] + [f"search.architecture.{key}={v}" for key, v in parse_tower(tower).items()])
    ds = prepare_data(cfg, work / "dataset")
    base = generators.propose(cfg.search, seed, 0, None)[0]
    logits, errors, steps = [], [], []
    t0 = time.perf_counter()
    for j in range(k):
        spec = {**base, "name": f"m{j}", "seed": base["seed"] + 1000 * j,
                "budget_seconds": round(budget / k, 2)}
        out = work / f"m{j}"
        metrics = train.train_candidate(spec, cfg.training, ds.dir, out)
        logits.append(artifacts.read_candidate_logits(out)["test"].full())
        errors.append(metrics["test_error"])
        steps.append(metrics["train_steps"])
    wall = time.perf_counter() - t0
    labels = ds.y["test"].reshape(-1)
    dense = base["arch"].get("dense_units")
    return {"set": name, "seed": seed, "k": k, "budget": budget,
            "arch": base["arch_str"] + (f"+dense{dense}" if dense else ""),
            "test_error": error_of(np.mean(logits, axis=0).argmax(axis=-1), labels),
            "softmax_mean_error": error_of(np.mean([softmax(z) for z in logits], axis=0).argmax(axis=-1), labels),
            "member_errors": errors, "member_steps": steps, "wall": wall,
            "test_examples": int(labels.size), "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "machine": f"{os.cpu_count()} cores ({cpu_model()})"}


def table(rows: list[dict[str, Any]]) -> str:
    """Per set and B, one line per k; a (set, seed, k, B) measured more than once counts its
    latest row."""
    latest = {(r["set"], r["budget"], r["arch"], r["k"], r["seed"]): r for r in rows}
    lines = ["| set | B | tower | k towers x B/k | ensemble test error %, mean (min-max) | mean of softmax, mean "
             "| one member's test error %, mean | steps per member, median | seeds "
             "| ensemble / one tower for B |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, budget, arch in dict.fromkeys((s, b, a) for s, b, a, _, _ in latest):
        group = [r for (s, b, a, _, _), r in latest.items() if (s, b, a) == (name, budget, arch)]
        one = [r["test_error"] for r in group if r["k"] == 1]
        for k in sorted({r["k"] for r in group}):
            sel = [r for r in group if r["k"] == k]
            errs = [100 * r["test_error"] for r in sel]
            soft = [100 * r["softmax_mean_error"] for r in sel]
            members = [100 * e for r in sel for e in r["member_errors"]]
            steps = [s for r in sel for s in r["member_steps"]]
            ratio = (f"{statistics.mean(errs) / (100 * statistics.mean(one)):.2f}x"
                     if one and statistics.mean(one) > 0 else "-")
            lines.append(f"| {name} | {budget:g} s | {arch} | {k} x {budget / k:.0f} s | {statistics.mean(errs):.2f} "
                         f"({min(errs):.2f}-{max(errs):.2f}) | {statistics.mean(soft):.2f} | "
                         f"{statistics.mean(members):.2f} | {statistics.median(steps):.0f} | {len(sel)} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sets", nargs="+", choices=list(suite_data.SETS), default=["digits32", "textures", "shapes"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--ks", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--budget", type=float, help="seconds per (set, seed, k); default: the suite's B per set")
    p.add_argument("--suite-dir", type=Path, default=suite_data.SUITE_DIR)
    p.add_argument("--results", type=Path, default=BENCH_OUT / "split_budget.jsonl")
    p.add_argument("--table", type=Path, metavar="RESULTS", help="the table of a results file, no training")
    p.add_argument("--write", type=Path, help="replace this benchmark's section in a Markdown file")
    p.add_argument("--tower", default=TOWER, help=f"LAYERS@FILTERS[+dUNITS] of the cnn tower (default {TOWER})")
    p.add_argument("--quick", action="store_true", help="digits, seed 0, k = 1 and 2, 10 s (smoke run)")
    args = p.parse_args()
    try:
        parse_tower(args.tower)
    except ValueError as e:
        p.error(str(e))
    if args.quick:
        args.sets, args.seeds, args.ks, args.budget = ["digits"], [0], [1, 2], 10.0
        args.results = BENCH_OUT / "split_budget-quick.jsonl"
    if args.table:
        rows = read_rows(args.table, "--table")
        if not rows:
            p.error(f"--table {args.table}: no rows")
        output(rows, args.write)
        return
    if any(not 1 <= k <= 9 for k in args.ks):
        p.error("--ks: each k must be 1-9 (member seeds are 1000 apart)")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.sets:
        suite_data.make(name, args.suite_dir, 0)
        for seed in args.seeds:
            for k in args.ks:
                budget = args.budget or BUDGETS[name]
                progress(f"{name} seed {seed}: {k} x {budget / k:.0f} s")
                with tempfile.TemporaryDirectory(prefix=f"split-{name}-") as tmp:
                    row = run(name, seed, k, budget, args.suite_dir, Path(tmp), args.tower)
                rows.append(row)
                with args.results.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                progress(f"  test error {100 * row['test_error']:.2f}% "
                         f"(members {', '.join(f'{100 * e:.2f}' for e in row['member_errors'])})")
    output(rows, args.write)


def output(rows: list[dict[str, Any]], write: Path | None) -> None:
    body = (f"Measured {rows[0]['date'][:10]} on {rows[0]['machine']}; `pipelines/configs/digits.yaml`'s "
            f"training section, each member trained by the clock for B/k; "
            f"the ensemble is the mean of the members' logits (AdaNAS's `mean` ensembler).\n\n{table(rows)}")
    print(body)
    if write:
        write_section(write, body, MARK, TITLE)


if __name__ == "__main__":
    main()
