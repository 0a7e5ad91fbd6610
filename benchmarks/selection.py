"""Selection cost vs ensemble size: one select decision (2 candidates, Grow) from cached logits.

For M frozen members on N examples x C classes, times `adanas.ensemblers.make(search).select` (what
the select step runs) with each ensembler: `mean`, and `weighted` with scalar, vector and matrix
mixture weights (each candidate ensemble's weights fitted to the AdaNet objective by L-BFGS-B). Synthetic logits with a learnable signal; only the
time matters here. Target (issues 3 and 5): under 1 s at 10 members x 10,000 examples.

    python benchmarks/selection.py [--members 2 5 10 20] [--examples 10000] [--repeats 3] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from orchestration import write_section  # noqa: E402

from adanas import ensemblers  # noqa: E402
from adanas.config import SearchConfig  # noqa: E402

CLASSES = 10


def _logits(rng, m, n, y):
    strength = rng.uniform(0.3, 1.5, size=(m, 1, 1))
    return (rng.normal(size=(m, n, CLASSES)) + 2.0 * strength * np.eye(CLASSES)[y][None]).astype(np.float32)


def _units(rng, m, n, y, prefix):
    return [ensemblers.Unit({"spec": {"name": f"{prefix}{i}", "family": "cnn",
                                    "arch": {"num_layers": 2 + i % 3, "filters": 16}},
                           "metrics": {"params": 10_000}},
                          {"validation": logits})
            for i, logits in enumerate(_logits(rng, m, n, y))]


def time_choose(m: int, n: int, kind: str, repeats: int) -> list[float]:
    """One decision of the select step: propose (grow: previous + each candidate) and score."""
    rng = np.random.default_rng(m)
    y = rng.integers(0, CLASSES, n)
    previous, new = _units(rng, m, n, y, "member"), _units(rng, 2, n, y, "candidate")
    search = SearchConfig(ensembler="mean" if kind == "mean" else "weighted",
                          mixture_weight_type="scalar" if kind == "mean" else kind,
                          adanet_lambda=0.01, adanet_beta=0.001, force_grow=True)
    ensembler = ensemblers.make(search)
    ensembler.select(previous[:1], new, [], y)  # warm-up: imports
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ensembler.select(previous, new, [], y)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--members", type=int, nargs="+", default=[2, 5, 10, 20])
    p.add_argument("--examples", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--write", type=Path)
    args = p.parse_args()
    kinds = ["mean", "scalar", "vector", "matrix"]
    rows = []
    for m in args.members:
        cells = []
        for kind in kinds:
            ts = time_choose(m, args.examples, kind, args.repeats)
            cells.append(f"{statistics.median(ts):.3f} ({min(ts):.3f}-{max(ts):.3f})")
            print(f"members {m} {kind}: {statistics.median(ts):.3f}s", file=sys.stderr, flush=True)
        rows.append(f"| {m} | " + " | ".join(cells) + " |")
    table = "\n".join([
        f"Measured {time.strftime('%Y-%m-%d')}, one core's worth of NumPy on this machine; "
        f"{args.examples:,} examples x {CLASSES} classes, 2 candidates per decision, "
        f"{args.repeats} repeats, median (min-max) seconds.",
        "",
        "| frozen members | mean | weighted, scalar | weighted, vector | weighted, matrix |",
        "|---|---|---|---|---|",
        *rows,
    ])
    print(table)
    if args.write:
        write_section(args.write, table, "selection", "Selection cost vs ensemble size")


if __name__ == "__main__":
    main()
