"""Local orchestration overhead: wall time of `adanas run` vs time spent inside task functions.

Runs the real CLI (what `make run` runs) as a child process, with benchmarks/hooks on
PYTHONPATH so every task process records when it started and when the KFP executor ran its
component function. Reports, per run and as medians:
  - wall: the whole `adanas run` command;
  - busy: time during which at least one task function was running (tasks overlap: the
    ParallelFor runs candidates side by side), so wall - busy is pure orchestration;
  - per task kind: process start-up before the function (interpreter + kfp import) and the
    function itself (which includes importing TensorFlow where the step needs it).
Runs alternate between the default hermetic mode (each task gets copies of its declared inputs
in a sandbox, the rest of the run hidden: pipelines/hermetic.py) and `--no-hermetic` (kfp.local's
shared disk), and a last table sets the two side by side.

    python benchmarks/orchestration.py [--repeats 3] [--config ...] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = "orchestration"


def _union(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def one_run(config: str, overrides: list[str], hermetic: bool = True) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        timings = Path(tmp) / "timings.jsonl"
        env = dict(os.environ, ADANAS_BENCH_TIMINGS=str(timings),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "benchmarks" / "hooks"),
                                                            os.environ.get("PYTHONPATH")])))
        cmd = [str(Path(sys.executable).parent / "adanas"), "run", "--config", config,
               "--pipeline-root", str(Path(tmp) / "root"),
               "--hermetic" if hermetic else "--no-hermetic"]
        for o in overrides:
            cmd += ["--set", o]
        t0 = time.time()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.time() - t0
        if proc.returncode != 0:
            sys.exit(f"adanas run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        tasks = [json.loads(line) for line in timings.read_text().splitlines()]
    report_line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("Final ensemble")), "")
    return {
        "wall": wall,
        "busy": _union([(t["begin"], t["end"]) for t in tasks]),
        "function_sum": sum(t["end"] - t["begin"] for t in tasks),
        "startup_sum": sum(t["begin"] - t["process_start"] for t in tasks),
        "tasks": tasks,
        "result": report_line,
    }


def _med(xs):
    return statistics.median(xs) if xs else float("nan")


def _spread(xs, fmt="{:.1f}"):
    return f"{fmt.format(_med(xs))} ({fmt.format(min(xs))}-{fmt.format(max(xs))})"


def _import_cost(stmt: str, repeats: int = 3) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", stmt], check=True, capture_output=True,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        out.append(time.perf_counter() - t0)
    return out


def compare_modes(hermetic: list[dict], shared: list[dict]) -> list[str]:
    """Wall and overhead of the hermetic runs next to the shared-disk runs, in one table."""
    def row(name, f, fmt="{:.1f}"):
        h, s = [f(r) for r in hermetic], [f(r) for r in shared]
        return (f"| {name} | {_spread(h, fmt)} | {_spread(s, fmt)} | "
                f"{_med(h) / _med(s):.2f}x |")
    return [
        "",
        "| measure | hermetic (default) | shared disk (`--no-hermetic`) | hermetic / shared |",
        "|---|---|---|---|",
        row("wall time of `adanas run` (s)", lambda r: r["wall"]),
        row("orchestration overhead: wall - busy (s)", lambda r: r["wall"] - r["busy"]),
        row("sum of task function times (s)", lambda r: r["function_sum"]),
    ]


def render(runs: list[dict], config: str, overrides: list[str],
           shared: list[dict] | None = None) -> str:
    from adanas import __version__
    walls = [r["wall"] for r in runs]
    busy = [r["busy"] for r in runs]
    overhead = [100.0 * (r["wall"] - r["busy"]) / r["wall"] for r in runs]
    by_kind = defaultdict(lambda: {"startup": [], "function": []})
    for r in runs:
        for t in r["tasks"]:
            by_kind[t["function"]]["startup"].append(t["begin"] - t["process_start"])
            by_kind[t["function"]]["function"].append(t["end"] - t["begin"])
    n_tasks = len(runs[0]["tasks"])
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores ({cpu}), no GPU; "
        f"Python {platform.python_version()}, adanas {__version__}; "
        f"`adanas run --config {config}{''.join(' --set ' + o for o in overrides)}`, "
        f"{len(runs)} runs, median (min-max).",
        "",
        "| measure | value |",
        "|---|---|",
        f"| wall time of `adanas run` (s) | {_spread(walls)} |",
        f"| tasks per run | {n_tasks} |",
        f"| time with at least one task function running (s) | {_spread(busy)} |",
        f"| orchestration overhead: wall - busy (s) | {_spread([w - b for w, b in zip(walls, busy)])} |",
        f"| overhead share of wall time (%) | {_spread(overhead)} |",
        f"| sum of task function times (s) | {_spread([r['function_sum'] for r in runs])} |",
        f"| sum of task process start-ups before the function (s) | {_spread([r['startup_sum'] for r in runs])} |",
        "",
        "| task | count per run | process start-up before the function (s) | function incl. its imports (s) |",
        "|---|---|---|---|",
    ]
    for kind, d in sorted(by_kind.items()):
        lines.append(f"| {kind} | {len(d['function']) // len(runs)} | {_spread(d['startup'], '{:.2f}')} | "
                     f"{_spread(d['function'], '{:.2f}')} |")
    kfp_import = _import_cost("import kfp.dsl")
    tf_import = _import_cost("import tensorflow, keras")
    lines += [
        "",
        f"Fixed costs measured alone: `import kfp.dsl` {_spread(kfp_import, '{:.2f}')} s, "
        f"`import tensorflow, keras` {_spread(tf_import, '{:.2f}')} s (a fresh interpreter each).",
        f"Search result of the last run: {runs[-1]['result']}",
    ]
    if shared:
        lines += compare_modes(runs, shared)
    return "\n".join(lines)


def write_section(path: Path, body: str, mark: str = MARK,
                  title: str = "Local orchestration overhead") -> None:
    """Replaces the text between `<!-- mark:start -->` and `<!-- mark:end -->` (or appends)."""
    start, end = f"<!-- {mark}:start -->", f"<!-- {mark}:end -->"
    text = path.read_text() if path.exists() else ""
    block = f"{start}\n{body}\n{end}"
    if start in text and end in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + f"\n\n## {title}\n\n{block}\n"
    path.write_text(text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="pipelines/configs/digits.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--write", type=Path, help="replace this benchmark's section in a Markdown file")
    args = p.parse_args()
    runs, shared = [], []
    for i in range(args.repeats):
        # Alternating, so the machine's slow and fast spells fall on both modes alike.
        for hermetic, into in ((True, runs), (False, shared)):
            into.append(one_run(args.config, args.overrides, hermetic))
            print(f"run {i + 1}/{args.repeats} ({'hermetic' if hermetic else 'shared disk'}): "
                  f"wall {into[-1]['wall']:.1f}s, busy {into[-1]['busy']:.1f}s",
                  file=sys.stderr, flush=True)
    table = render(runs, args.config, args.overrides, shared)
    print(table)
    if args.write:
        write_section(args.write, table)


if __name__ == "__main__":
    main()
