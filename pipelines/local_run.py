"""Runs the pipeline on this machine with kfp.local (SubprocessRunner: each task is a child
process of the current interpreter, so nothing is installed at run time)."""

from __future__ import annotations

import contextlib
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

from adanas import artifacts
from adanas.config import Config, ConfigError
from adanas.continuation import WarmStart
from pipelines.adanas_pipeline import build_pipeline
from pipelines.local_runs import recorded_run


def run_local(cfg: Config, pipeline_root: str | Path, enable_caching: bool = False,
              hermetic: bool = False, console=None, warm_start: WarmStart | None = None,
              resumed_from: str | None = None,
              config_source: str | None = None) -> tuple[dict[str, Any], Path]:
    """Runs the whole search; returns (report, report folder). Raises if any task fails.

    hermetic: each task sees only copies of its declared input artifacts, the rest of the
    pipeline root hidden, as on the real backends (pipelines/hermetic.py).
    console: a pipelines.console.Console: one line per task start and end, kfp.local's output
    in <run>/run.log, and a failed task raised as console.TaskFailed (one line).
    warm_start: continue from this ensemble (adanas.continuation). The run is recorded in its
    folder (pipelines/local_runs.py: `adanas runs`, `compare`, `--resume`, `--warm-start`) and
    writes cache entries even without enable_caching, which only decides whether they are read
    (resumed_from: the run this one resumes, for its record)."""
    from kfp import local

    from pipelines.hermetic import hermetic_tasks

    if cfg.export.model_registry is not None:
        raise ConfigError("export.model_registry", "registers the model in Vertex AI Model "
                          "Registry, which a local run cannot reach: submit the pipeline to Vertex "
                          "AI, or run locally with --set export.model_registry=null "
                          "--set export.endpoint=null")

    root = Path(pipeline_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    # Resources (cpu, memory, accelerator) only matter on a cluster; kfp.local would warn about
    # them once per task.
    warnings.filterwarnings("ignore", message=".*have no effect in the current local runner")
    # Always on: without enable_caching the cache is write-only (local_runs.recorded_run).
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root),
               enable_caching=True)
    before = set(root.iterdir())
    t0 = time.perf_counter()
    tasks = (console.attached(root) if console is not None else
             hermetic_tasks(root) if hermetic else contextlib.nullcontext())
    recording = recorded_run(cfg, root, caching=enable_caching, hermetic=hermetic,
                             warm_start=warm_start, resumed_from=resumed_from,
                             config_source=config_source)
    try:
        with tasks, recording as recorded:
            build_pipeline(cfg, warm_start=warm_start)()
    except Exception:
        if console is not None and console.failed is not None:
            raise console.failed from None
        raise
    if console is not None and console.failed is not None:
        recorded.fail(console.failed)
        raise console.failed
    wall = time.perf_counter() - t0
    runs = [p for p in root.iterdir() if p not in before and p.name.startswith(cfg.name)]
    # One evaluate task runs, in whichever branch the search stopped.
    reports = [p for run in runs for p in run.rglob(f"report/{artifacts.REPORT_RECORD}")]
    if len(reports) != 1:
        raise RuntimeError(f"expected one report under {runs}, found {len(reports)}")
    report = artifacts.read_report(reports[0].parent)
    # With export.student, the distill step's copy of the report adds the student side by side.
    finals = [p for run in runs for p in run.rglob(f"final_report/{artifacts.REPORT_RECORD}")]
    report_dir = finals[0].parent if finals else reports[0].parent
    if finals:
        report = artifacts.read_report(report_dir)
    report["model"] = str(artifacts.exported_model(reports[0].parent.parent / "exported_model"))
    report["wall_seconds"] = wall
    # The pages people open, at the top of the run's folder: the report, the data preview.
    run = next(r for r in runs if reports[0].is_relative_to(r))
    report["report_page"] = str(_publish(reports[0].parent / artifacts.REPORT_HTML, run / "report.html"))
    preview = next(run.rglob("prepare-dataset/preview"), None)
    if preview is not None:
        report["preview_page"] = str(_publish(preview, run / "data-preview.html"))
    recorded.finish(report, reports[0].parent)
    return report, report_dir


def _publish(page: Path, to: Path) -> Path:
    shutil.copyfile(page, to)
    return to
