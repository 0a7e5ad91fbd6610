"""Tables of local runs side by side: `adanas runs` (one line per run) and `adanas compare`
(their per-iteration tables next to each other), from the runs' records (adanas.artifacts,
written by pipelines/local_runs.py)."""

from __future__ import annotations

import string
from typing import Any

from adanas.report import table


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100.0 * x:.2f}%"


def _compute(summary: dict[str, Any]) -> str:
    hours = summary.get("task_hours")
    if hours is None:
        return "-"
    acc = summary.get("accelerator") or "CPU"
    if acc == "CPU" or not summary.get("accelerator_hours"):
        return f"{hours:.3f} task-h"
    return f"{hours:.3f} task-h, {summary['accelerator_hours']:.2f} {acc}-h"


def _origin(record: dict[str, Any]) -> str:
    parts = []
    if record.get("warm_start"):
        ws = record["warm_start"]
        parts.append(f"continues iteration {ws['iteration']} of {ws['uri']}")
    if record.get("resumed_from"):
        parts.append(f"resumes {record['resumed_from']}")
    return "; ".join(parts) or "-"


def format_runs(records: list[tuple[dict[str, Any], str]]) -> str:
    """(record, state) of each run -> one table, oldest first."""
    rows = []
    for record, state in records:
        s = record.get("summary") or {}
        its = s.get("iterations") or []
        rows.append([record.get("name", "?"), (record.get("started") or "").replace("T", " "),
                     record.get("config_name", "?"), state,
                     f"{its[0]['iteration']}-{its[-1]['iteration']}" if its else "-",
                     s.get("ensemble_size", "-"), _pct(s.get("test_error")), _compute(s),
                     _origin(record)])
    return table(["run", "started", "config", "state", "iterations", "members", "test error",
                  "compute", "from"], rows)


def format_compare(runs: list[tuple[str, dict[str, Any]]]) -> str:
    """(name, summary) of each finished run -> their per-iteration tables side by side (runs
    A, B, ... as columns), then each run's final line."""
    labels = [string.ascii_uppercase[i % 26] + ("" if i < 26 else str(i // 26)) for i in range(len(runs))]
    by_iter = [{it["iteration"]: it for it in s.get("iterations", [])} for _, s in runs]
    iterations = sorted(set().union(*by_iter))
    headers = ["iter"]
    for label in labels:
        headers += [f"{label}: chosen", f"{label}: members", f"{label}: val error", f"{label}: test error"]
    rows = []
    for t in iterations:
        row: list[Any] = [t]
        for its in by_iter:
            it = its.get(t)
            row += (["", "", "", ""] if it is None else
                    [it.get("chosen_arch") or "(kept previous)", it.get("ensemble_size", "-"),
                     _pct(it.get("validation_error")), _pct(it.get("test_error"))])
        rows.append(row)
    lines = [table(headers, rows), ""]
    for label, (name, s) in zip(labels, runs):
        lines.append(f"{label} = {name}: test error {_pct(s.get('test_error'))}, "
                     f"{s.get('ensemble_size', '-')} members, {s.get('total_params', 0):,} params, "
                     f"{_compute(s)}; ended: {s.get('stopped') or 'after the last iteration'}")
    return "\n".join(lines)
