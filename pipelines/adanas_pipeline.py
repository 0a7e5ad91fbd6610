"""The AdaNAS pipeline: the AdaNet loop as one KFP v2 DAG. Wiring only; the work is in `adanas`.

    prepare-dataset
    iteration t (unrolled at compile time: KFP v2 has no recursion):
        generate-candidates(t, f_{t-1}) -> ParallelFor: train-candidate -> Collected
        -> select-ensemble -> f_t, and whether to go on
        If go on:  iteration t+1            (nested: the rest of the search)
        Else:      evaluate-ensemble(f_t)   (early stop, parameter budget)
    evaluate-ensemble(f_T) after the last iteration
    after evaluate, when configured (export): distill-student, register-model

Exactly one evaluate task runs, in whichever branch the search ended.

Warm start (adanas.continuation): a `dsl.importer` brings a finished search's ensemble in as a
Model artifact, and the iterations start after its last one.
"""

import dataclasses
import json
from pathlib import Path

from kfp import compiler, dsl
from kfp.dsl import pipeline_context

import components
from adanas.customjob import LOCATION as GOOGLE_CLOUD_LOCATION
from adanas.customjob import PROJECT as GOOGLE_CLOUD_PROJECT
from adanas.customjob import JobOptions
from components.custom_job import as_custom_job
from adanas.config import Config, TaskResources, check_data_dir, check_target, section_json
from adanas.continuation import WarmStart, continued_search


def _apply_resources(task, res: TaskResources, k8s=None):
    """CPU/memory/accelerator/retries; with `k8s` (the kubernetes target) the accelerator is
    the pod's extended resource, plus the GPU pool's node selector and tolerations."""
    if res.cpu_limit:
        task.set_cpu_limit(res.cpu_limit)
    if res.memory_limit:
        task.set_memory_limit(res.memory_limit)
    if res.accelerator_type and k8s is None:
        task.set_accelerator_type(res.accelerator_type).set_accelerator_limit(res.accelerator_count)
    elif res.accelerator_type:
        from kfp import kubernetes
        # nvidia.com/gpu or google.com/tpu; a TPU also gets the GKE TPU pool's labels
        # (accelerator, topology) and the TPU taint's toleration.
        kind = res.accelerator_type
        task.set_accelerator_type(k8s.resource_for(kind)).set_accelerator_limit(res.accelerator_count)
        for key, value in k8s.node_selector_for(kind).items():
            kubernetes.add_node_selector(task, label_key=key, label_value=value)
        for t in k8s.tolerations_for(kind):
            kubernetes.add_toleration(task, **t)
    if res.retries:
        task.set_retry(num_retries=res.retries, backoff_duration="60s", backoff_factor=2.0)
    return task


def _export(cfg: Config, ops, dataset, evaluated, k8s, accelerator: str) -> None:
    """After an evaluate task, what `export` asks for: distill-student (a network trained on
    the exported ensemble's soft targets, on training's resources, as a CustomJob where
    training is one) and register-model (Vertex AI Model Registry, optionally an endpoint)."""
    if cfg.export.student is not None:
        student = json.dumps(dataclasses.asdict(cfg.export.student), sort_keys=True)
        op, res = ops.distill_student, cfg.resources.train
        if cfg.resources.custom_job.enabled:
            # The job is named after the task (there is no candidate to name it by).
            op = as_custom_job(ops.distill_student,
                               dataclasses.replace(JobOptions.from_config(cfg), name_input=None),
                               launcher_image=cfg.image_uri())
            res = dataclasses.replace(cfg.resources.custom_job.launcher, retries=res.retries)
        task = op(student_config=student, training=section_json(cfg, "training"), seed=cfg.seed,
                  dataset=dataset, exported_model=evaluated.outputs["exported_model"],
                  report=evaluated.outputs["report"], accelerator=accelerator)
        _apply_resources(task, res, k8s).set_display_name("distill-student")
    if cfg.export.model_registry is not None:
        task = ops.register_model(export=section_json(cfg, "export"), pipeline_name=cfg.name,
                                  exported_model=evaluated.outputs["exported_model"],
                                  report=evaluated.outputs["report"],
                                  project=GOOGLE_CLOUD_PROJECT, location=GOOGLE_CLOUD_LOCATION,
                                  pipeline_job=dsl.PIPELINE_JOB_NAME_PLACEHOLDER)
        _apply_resources(task, cfg.resources.default).set_display_name("register-model")
        # Registering twice makes two model versions: a rerun must not come from the cache
        # either way, as evaluate (its input) never does.
        task.set_caching_options(False)


def build_pipeline(cfg: Config, target: str = "vertex", caching: bool | None = None,
                   warm_start: WarmStart | None = None):
    """The pipeline function for `cfg` (its sections are baked in as constant task inputs).

    target: `vertex` (Vertex AI accelerator names) or `kubernetes` (open-source KFP: extended
    resources, node selectors and tolerations from the `kubernetes` section; compiled to its own
    YAML, which Vertex AI cannot load).
    caching: None: every task may be reused from the cache except evaluate, which always reruns;
    False / True: caching off / on for every task, those inside conditions and loops included
    (a client's run-level flag reaches only the root DAG's tasks on open-source KFP).
    warm_start: continue from this ensemble (a local folder or gs:// URI, imported as a Model
    artifact) for search.boosting_iterations more iterations (adanas.continuation)."""
    check_target(cfg, target)   # the target's own rules, with key paths, before anything is built
    k8s = cfg.kubernetes if target == "kubernetes" else None
    ops = components.build(cfg.image_uri(), cfg.train_image_uri())
    job = cfg.resources.custom_job
    train_op, train_res = ops.train_candidate, cfg.resources.train
    if job.enabled:
        train_op = as_custom_job(ops.train_candidate, JobOptions.from_config(cfg),
                                 launcher_image=cfg.image_uri())
        # The launcher task is small (its own resources); the accelerators belong to the
        # CustomJob. resources.train's retries apply to it: a retry attaches to a running job.
        train_res = dataclasses.replace(job.launcher, retries=train_res.retries)
    sections = {name: section_json(cfg, name)
                for name in ("dataset", "augmentation", "search", "training")}
    # Continued: the tasks see the iteration count the whole search reaches.
    search = continued_search(cfg.search, warm_start)
    sections["search"] = json.dumps(dataclasses.asdict(search), sort_keys=True)
    first = warm_start.first_iteration if warm_start is not None else 0
    # What the train task must see (it fails rather than train on CPU): GPU, TPU or nothing.
    accelerator = cfg.resources.train.accelerator_kind
    default = cfg.resources.default

    @dsl.pipeline(name=cfg.name,
                  description=f"AdaNAS search: up to {cfg.search.boosting_iterations} AdaNet iterations "
                              f"of {cfg.search.candidates_per_iteration} {cfg.search.family} "
                              f"candidates ({cfg.search.generator} generator) on {cfg.dataset.name}")
    def adanas_search():
        data = _apply_resources(ops.prepare_dataset(dataset_config=sections["dataset"],
                                                    augmentation=sections["augmentation"]), default)
        data.set_display_name("prepare-dataset")
        dataset = data.outputs["dataset"]

        def evaluate(ensemble):
            task = ops.evaluate_ensemble(dataset=dataset, ensemble=ensemble)
            _apply_resources(task, default).set_display_name("evaluate-ensemble")
            # Always runs (seconds): each run then has its own exported model and report, even
            # when every other task came from the cache.
            task.set_caching_options(False)
            _export(cfg, ops, dataset, task, k8s, accelerator)

        def iteration(t: int, previous: dict):
            gen = ops.generate_candidates(search=sections["search"], seed=cfg.seed, iteration=t,
                                          dataset=dataset, **previous)
            _apply_resources(gen, default).set_display_name(f"iteration-{t}-generate")
            with dsl.ParallelFor(gen.output) as candidate:
                train = train_op(candidate=candidate, training=sections["training"],
                                 dataset=dataset, accelerator=accelerator, **previous)
                _apply_resources(train, train_res, k8s).set_display_name(f"iteration-{t}-train")
            select = ops.select_ensemble(search=sections["search"], seed=cfg.seed, iteration=t,
                                         dataset=dataset,
                                         candidates=dsl.Collected(train.outputs["model"]),
                                         **previous)
            _apply_resources(select, default).set_display_name(f"iteration-{t}-select")
            ensemble = select.outputs["ensemble"]
            if t + 1 == search.boosting_iterations:
                evaluate(ensemble)
                return
            # Early stopping and the parameter budget end the search here (select decides).
            with dsl.If(select.outputs["Output"] == True, name=f"iteration-{t + 1}"):  # noqa: E712
                iteration(t + 1, {"previous_ensemble": ensemble})
            with dsl.Else(name=f"stop-after-{t}"):
                evaluate(ensemble)

        if warm_start is None:
            iteration(0, {})
        else:
            imported = dsl.importer(artifact_uri=warm_start.uri, artifact_class=dsl.Model,
                                    reimport=False)
            imported.set_display_name("warm-start-ensemble")
            iteration(first, {"previous_ensemble": imported.output})
        if caching is not None:  # the pipeline's every task, nested ones included
            for task in pipeline_context.Pipeline.get_default_pipeline().tasks.values():
                task.set_caching_options(caching)

    return adanas_search


def compile_pipeline(cfg: Config, output, target: str = "vertex",
                     caching: bool | None = None, warm_start: WarmStart | None = None) -> Path:
    # What is compiled runs on the target's pods: the data must be where they can read it.
    check_data_dir(cfg, target)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(build_pipeline(cfg, target, caching, warm_start), str(output))
    return output
