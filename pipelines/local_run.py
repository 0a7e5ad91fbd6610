"""Runs the pipeline on this machine with kfp.local (SubprocessRunner: each task is a child
process of the current interpreter, so nothing is installed at run time)."""

from __future__ import annotations

import contextlib
import time
import warnings
from pathlib import Path
from typing import Any

from adanas import artifacts
from adanas.config import Config
from pipelines.adanas_pipeline import build_pipeline


def run_local(cfg: Config, pipeline_root: str | Path, enable_caching: bool = False,
              hermetic: bool = False) -> tuple[dict[str, Any], Path]:
    """Runs the whole search; returns (report, report folder). Raises if any task fails.

    hermetic: each task sees only copies of its declared input artifacts, the rest of the
    pipeline root hidden, as on the real backends (pipelines/hermetic.py)."""
    from kfp import local

    from pipelines.hermetic import hermetic_tasks

    root = Path(pipeline_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    # Resources (cpu, memory, accelerator) only matter on a cluster; kfp.local would warn about
    # them once per task.
    warnings.filterwarnings("ignore", message=".*have no effect in the current local runner")
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root),
               enable_caching=enable_caching)
    before = set(root.iterdir())
    t0 = time.perf_counter()
    with hermetic_tasks(root) if hermetic else contextlib.nullcontext():
        build_pipeline(cfg)()
    wall = time.perf_counter() - t0
    runs = [p for p in root.iterdir() if p not in before and p.name.startswith(cfg.name)]
    # One evaluate task runs, in whichever branch the search stopped.
    reports = [p for run in runs for p in run.rglob(f"report/{artifacts.REPORT_RECORD}")]
    if len(reports) != 1:
        raise RuntimeError(f"expected one report under {runs}, found {len(reports)}")
    report = artifacts.read_report(reports[0].parent)
    report["model"] = str(artifacts.exported_model(reports[0].parent.parent / "exported_model"))
    report["wall_seconds"] = wall
    return report, reports[0].parent
