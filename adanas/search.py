"""The AdaNet loop in one process, without KFP: the same library calls, in the same order, as
the pipeline's DAG (pipelines/adanas_pipeline.py). For debugging, notebooks and benchmarks;
`adanas run --in-process` uses it."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import time
from pathlib import Path
from typing import Any

from adanas import artifacts, data, ensemble, evaluate, generators, student, train
from adanas.config import Config

log = logging.getLogger(__name__)


def run_search(cfg: Config, workdir: str | os.PathLike) -> tuple[dict[str, Any], Path]:
    """Runs the whole search under `workdir`; returns (report, report folder). The report also
    holds `stage_seconds`: wall seconds per step (data, generate, train and collect per candidate,
    select, evaluate, distill), logged as each ends, so a slow step outside training can be found."""
    work = Path(workdir)
    dataset = work / "dataset"
    seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(name: str):
        t0 = time.perf_counter()
        yield
        seconds[name] = round(time.perf_counter() - t0, 3)
        log.info("%s: %.1fs", name, seconds[name])

    with stage("data"):
        data.prepare_step(cfg.dataset, cfg.augmentation, dataset, preview_out=work / "preview.html")
    previous = None
    for t in range(cfg.search.boosting_iterations):
        with stage(f"generate-{t}"):
            specs = generators.generate_step(cfg.search, cfg.seed, t, previous, dataset)
        dirs = []
        for spec in specs:
            out = work / f"iteration-{t}" / spec["name"]
            # As in the DAG: a failing candidate is recorded, and selection uses the others.
            with stage(f"train-{spec['name']}"):
                train.train_step(spec, cfg.training, dataset, out, previous,
                                 tensorboard_dir=work / "tensorboard")
            # In one process the tasks' garbage (Keras models, their input pipelines) piles
            # up until a full collection; collected here, between tasks, it is timed as its own
            # step and never lands inside the next task's budget share (a stalled destructor
            # once cost 55 s there: see adanas.augment.finish). The pipeline runs each
            # task in a process of its own.
            with stage(f"collect-{spec['name']}"):
                gc.collect()
            dirs.append(out)
        current = work / f"iteration-{t}" / "ensemble"
        with stage(f"select-{t}"):
            ensemble.select_step(cfg.search, t, dataset, dirs, previous, current)
        previous = current
        with stage(f"should-continue-{t}"):
            going_on = generators.should_continue(cfg.search, cfg.seed, t + 1, previous, dataset)
        if not going_on:
            break
    with stage("evaluate"):
        report = evaluate.evaluate_step(dataset, previous, work / "exported_model", work / "report")
    report_dir = work / "report"
    if cfg.export.student is not None:  # the distill step, after evaluate as in the DAG
        with stage("distill"):
            record = student.distill_step(cfg.export.student, cfg.training, cfg.seed, dataset,
                                          work / "exported_model", report_dir, work / "student",
                                          work / "final_report")
        report, report_dir = {**report, "student": record["comparison"]}, work / "final_report"
    report["model"] = str(artifacts.exported_model(work / "exported_model"))
    report["stage_seconds"] = seconds
    return report, report_dir
