"""The AdaNAS pipeline: the AdaNet loop as one KFP v2 DAG. Wiring only; the work is in `adanas`.

    augment-data
    for t in 0..T-1 (unrolled at compile time: KFP v2 has no recursion):
        generate-candidates(t, f_{t-1})  ->  ParallelFor: train-candidate  ->  Collected
        select-ensemble(t, f_{t-1}, candidates)  ->  f_t
    evaluate-ensemble(f_{T-1})  ->  exported Keras model, report, metrics
"""

# No `from __future__ import annotations`: kfp reads the pipeline's return annotation as a type.
from pathlib import Path

from kfp import compiler, dsl

import components
from adanas.config import Config, TaskResources, section_json


def _apply_resources(task, res: TaskResources):
    if res.cpu_limit:
        task.set_cpu_limit(res.cpu_limit)
    if res.memory_limit:
        task.set_memory_limit(res.memory_limit)
    if res.accelerator_type:
        task.set_accelerator_type(res.accelerator_type).set_accelerator_limit(res.accelerator_count)
    return task


def build_pipeline(cfg: Config):
    """The pipeline function for `cfg` (its sections are baked in as constant task inputs)."""
    ops = components.build(cfg.image_uri())
    sections = {name: section_json(cfg, name)
                for name in ("dataset", "augmentation", "search", "training")}
    default, train_res = cfg.resources.default, cfg.resources.train

    @dsl.pipeline(name=cfg.name,
                  description=f"AdaNAS search: {cfg.search.boosting_iterations} AdaNet iterations "
                              f"of {cfg.search.candidates_per_iteration} {cfg.search.family} "
                              f"candidates ({cfg.search.generator} generator) on {cfg.dataset.name}")
    def adanas_search() -> dsl.Artifact:
        data = _apply_resources(ops.augment_data(dataset_config=sections["dataset"],
                                                 augmentation=sections["augmentation"]), default)
        data.set_display_name("augment-data")
        dataset = data.outputs["dataset"]
        previous = {}  # f_0 = 0: the first iteration has no previous ensemble
        for t in range(cfg.search.boosting_iterations):
            gen = ops.generate_candidates(search=sections["search"], seed=cfg.seed, iteration=t,
                                          **previous)
            _apply_resources(gen, default).set_display_name(f"iteration-{t}-generate")
            with dsl.ParallelFor(gen.output) as candidate:
                train = ops.train_candidate(candidate=candidate, training=sections["training"],
                                            dataset=dataset, **previous)
                _apply_resources(train, train_res).set_display_name(f"iteration-{t}-train")
            select = ops.select_ensemble(search=sections["search"], iteration=t, dataset=dataset,
                                         candidates=dsl.Collected(train.outputs["model"]),
                                         **previous)
            _apply_resources(select, default).set_display_name(f"iteration-{t}-select")
            previous = {"previous_ensemble": select.outputs["ensemble"]}
        evaluate = ops.evaluate_ensemble(dataset=dataset, ensemble=previous["previous_ensemble"])
        _apply_resources(evaluate, default).set_display_name("evaluate-ensemble")
        return evaluate.outputs["report"]

    return adanas_search


def compile_pipeline(cfg: Config, output) -> Path:
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(build_pipeline(cfg), str(output))
    return output
