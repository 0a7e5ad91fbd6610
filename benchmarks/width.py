"""Base tower width on the quality suite: would a wider default help on data nobody tuned for?

On the 8x8 digits the peers that beat AdaNAS found wider models (KerasTuner: 3-4 conv x 24-64
filters; AutoKeras: its 32-64 filter "vanilla" block) than the 16-filter towers AdaNAS's default
grows (pipelines/configs/digits.yaml: cnn(2@16), growing +1 layer or +8 filters). This runs
quality.py's AdaNAS search and its best tower alone, at the suite's budgets, with only
`search.architecture.filters` changed, and tabulates each width on the seeds that every width
has on that set, so a default is chosen on all four sets, not on one.

    python benchmarks/width.py [--filters 16 24 32] [--sets ...] [--seeds 0 1]
        [--results bench-out/width.jsonl] [--write BENCHMARKS.md] [--quick]
    python benchmarks/width.py --table RESULTS [RESULTS ...] [--write BENCHMARKS.md]

Rows are quality.py's own (one per system, set, seed; the width is in their `overrides`; a row
without one has the config's width). --table reads several files, so the suite's own rows at
the default width can stand in for a rerun. With --write the table replaces the section between
`<!-- width:start -->` and `<!-- width:end -->`. --quick: digits, seed 0, widths 16 and 32,
20 s and one iteration: a smoke run of the code path, not a figure.
"""

from __future__ import annotations

import argparse
import collections
import functools
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from orchestration import write_section  # noqa: E402
from quality import BENCH_OUT, QUICK_BUDGET, QUICK_OVERRIDES, ROOT, SETS, read_rows  # noqa: E402

CONFIG = "pipelines/configs/digits.yaml"
KEY = "search.architecture.filters"
MARK, TITLE = "width", "Base tower width on the suite"


@functools.cache   # once per config file, not once per row
def default_width(config: str) -> int:
    return int(yaml.safe_load((ROOT / config).read_text())["search"]["architecture"]["filters"])


def width_of(row: dict[str, Any]) -> int:
    for item in row.get("overrides") or []:
        key, _, value = item.partition("=")
        if key == KEY:
            return int(value)
    return default_width(row.get("config") or CONFIG)


def table(rows: list[dict[str, Any]]) -> str:
    latest: dict[tuple, dict[str, Any]] = {}
    for r in rows:   # the latest row per (set, width, seed, system) counts
        if r["system"] in ("adanas", "single") and r["status"] == "ok":
            latest[(r["set"], width_of(r), r["seed"], r["system"])] = r
    lines = ["| set | B | base filters | seeds | AdaNAS mean test error % (min-max) | tower alone mean % "
             "(min-max) | AdaNAS / tower | towers finished (seeds) |",
             "|---|---|---|---|---|---|---|---|"]
    for name in [s for s in SETS if any(k[0] == s for k in latest)]:
        widths = sorted({k[1] for k in latest if k[0] == name})
        per_width = {w: {k[2] for k in latest if k[:2] == (name, w) and k[3] == "adanas"}
                     & {k[2] for k in latest if k[:2] == (name, w) and k[3] == "single"} for w in widths}
        seeds = sorted(set.intersection(*per_width.values()))
        if not seeds:
            continue
        for w in widths:
            ada = [100 * latest[(name, w, s, "adanas")]["test_error"] for s in seeds]
            one = [100 * latest[(name, w, s, "single")]["test_error"] for s in seeds]
            towers = collections.Counter(latest[(name, w, s, "single")]["architecture"] for s in seeds)
            ratio = f"{statistics.mean(ada) / statistics.mean(one):.2f}x" if statistics.mean(one) > 0 else "-"
            budget = latest[(name, w, seeds[0], "adanas")]["budget"]
            lines.append(f"| {name} | {budget:g} s | {w} | {' '.join(map(str, seeds))} | "
                         f"{statistics.mean(ada):.2f} ({min(ada):.2f}-{max(ada):.2f}) | "
                         f"{statistics.mean(one):.2f} ({min(one):.2f}-{max(one):.2f}) | {ratio} | "
                         f"{', '.join(f'{a} ({n})' for a, n in sorted(towers.items()))} |")
    return "\n".join(lines)


def output(rows: list[dict[str, Any]], write: Path | None) -> None:
    dates = sorted(r["date"][:10] for r in rows)
    body = (f"Measured {dates[0]}{' to ' + dates[-1] if dates[-1] != dates[0] else ''} on 2 cores; "
            f"`{CONFIG}` with `{KEY}` set as shown (quality.py's AdaNAS and tower-alone systems, "
            f"its budgets and reserve), each width on the seeds every width has on that set.\n\n"
            f"{table(rows)}")
    print(body)
    if write:
        write_section(write, body, MARK, TITLE)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--filters", type=int, nargs="+", default=[16, 24, 32])
    p.add_argument("--sets", nargs="+", choices=SETS, default=SETS)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--results", type=Path, default=BENCH_OUT / "width.jsonl")
    p.add_argument("--table", type=Path, nargs="+", metavar="RESULTS", help="the table of results files, no training")
    p.add_argument("--write", type=Path, help="replace this benchmark's section in a Markdown file")
    p.add_argument("--quick", action="store_true", help="digits, seed 0, widths 16 and 32, 20 s (smoke run)")
    args = p.parse_args()
    if args.table:
        rows = [r for path in args.table for r in read_rows(path, "--table")]
        if not rows:
            p.error(f"--table {' '.join(map(str, args.table))}: no rows")
        output(rows, args.write)
        return
    if any(f < 1 for f in args.filters):
        p.error("--filters: each width must be at least 1")
    extra: list[str] = []
    if args.quick:
        if args.write:
            p.error("--quick writes nothing outside bench-out/: drop --write")
        args.sets, args.seeds, args.filters = ["digits"], [0], [16, 32]
        args.results = BENCH_OUT / "width-quick.jsonl"
        extra = ["--budget", str(QUICK_BUDGET), *(a for o in QUICK_OVERRIDES for a in ("--set", o))]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    start = len(read_rows(args.results, "--results")) if args.results.exists() else 0
    for width in args.filters:
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "quality.py"), "--systems", "adanas", "single",
                        "--sets", *args.sets, "--seeds", *map(str, args.seeds), "--config", CONFIG,
                        "--set", f"{KEY}={width}", *extra, "--results", str(args.results.resolve())],
                       check=True, cwd=ROOT)
    output(read_rows(args.results, "--results")[start:], args.write)


if __name__ == "__main__":
    main()
