"""Runs the pipeline on this machine with kfp.local (SubprocessRunner: each task is a child
process of the current interpreter, so nothing is installed at run time)."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

from adanas.config import Config
from pipelines.adanas_pipeline import build_pipeline


def run_local(cfg: Config, pipeline_root: str | Path, enable_caching: bool = False) -> tuple[dict[str, Any], Path]:
    """Runs the whole search; returns (report, report folder). Raises if any task fails."""
    from kfp import local

    # Resources (cpu, memory, accelerator) only matter on a cluster; kfp.local would warn about
    # them once per task.
    warnings.filterwarnings("ignore", message=".*have no effect in the current local runner")
    local.init(runner=local.SubprocessRunner(use_venv=False),
               pipeline_root=str(Path(pipeline_root).resolve()), enable_caching=enable_caching)
    t0 = time.perf_counter()
    task = build_pipeline(cfg)()
    report_dir = Path(task.output.path)
    report = json.loads((report_dir / "report.json").read_text())
    report["wall_seconds"] = time.perf_counter() - t0
    return report, report_dir
