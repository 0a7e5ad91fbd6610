"""The AdaNet loop in one process, without KFP: the same library calls, in the same order, as
the pipeline's DAG (pipelines/adanas_pipeline.py). For debugging, notebooks and benchmarks;
`adanas run --in-process` uses it."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from adanas import artifacts, data, ensemble, evaluate, generators, student, train
from adanas.config import Config

log = logging.getLogger(__name__)


def run_search(cfg: Config, workdir: str | os.PathLike) -> tuple[dict[str, Any], Path]:
    """Runs the whole search under `workdir`; returns (report, report folder)."""
    work = Path(workdir)
    dataset = work / "dataset"
    data.prepare_step(cfg.dataset, cfg.augmentation, dataset, preview_out=work / "preview.html")
    previous = None
    for t in range(cfg.search.boosting_iterations):
        specs = generators.generate_step(cfg.search, cfg.seed, t, previous, dataset)
        dirs = []
        for spec in specs:
            out = work / f"iteration-{t}" / spec["name"]
            # As in the DAG: a failing candidate is recorded, and selection uses the others.
            train.train_step(spec, cfg.training, dataset, out, previous,
                             tensorboard_dir=work / "tensorboard")
            dirs.append(out)
        current = work / f"iteration-{t}" / "ensemble"
        ensemble.select_step(cfg.search, t, dataset, dirs, previous, current)
        previous = current
        if not generators.should_continue(cfg.search, cfg.seed, t + 1, previous, dataset):
            break
    report = evaluate.evaluate_step(dataset, previous, work / "exported_model", work / "report")
    report_dir = work / "report"
    if cfg.export.student is not None:  # the distill step, after evaluate as in the DAG
        record = student.distill_step(cfg.export.student, cfg.training, cfg.seed, dataset,
                                      work / "exported_model", report_dir, work / "student",
                                      work / "final_report")
        report, report_dir = {**report, "student": record["comparison"]}, work / "final_report"
    report["model"] = str(artifacts.exported_model(work / "exported_model"))
    return report, report_dir
