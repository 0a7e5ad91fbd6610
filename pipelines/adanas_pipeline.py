"""The AdaNAS pipeline: the AdaNet loop as one KFP v2 DAG. Wiring only; the work is in `adanas`.

    augment-data
    iteration t (unrolled at compile time: KFP v2 has no recursion):
        generate-candidates(t, f_{t-1}) -> ParallelFor: train-candidate -> Collected
        -> select-ensemble -> f_t, and whether to go on
        If go on:  iteration t+1            (nested: the rest of the search)
        Else:      evaluate-ensemble(f_t)   (early stop, parameter budget)
    evaluate-ensemble(f_T) after the last iteration

Exactly one evaluate task runs, in whichever branch the search ended.
"""

import dataclasses
from pathlib import Path

from kfp import compiler, dsl

import components
from components.custom_job import as_custom_job
from adanas.config import Config, TaskResources, section_json


TARGETS = ("vertex", "kubernetes")


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
        task.set_accelerator_type(k8s.accelerator_resource).set_accelerator_limit(res.accelerator_count)
        for key, value in k8s.node_selector.items():
            kubernetes.add_node_selector(task, label_key=key, label_value=value)
        for t in k8s.tolerations:
            kubernetes.add_toleration(task, **t)
    if res.retries:
        task.set_retry(num_retries=res.retries, backoff_duration="60s", backoff_factor=2.0)
    return task


def build_pipeline(cfg: Config, target: str = "vertex"):
    """The pipeline function for `cfg` (its sections are baked in as constant task inputs).

    target: `vertex` (Vertex AI accelerator names) or `kubernetes` (open-source KFP: extended
    resources, node selectors and tolerations from the `kubernetes` section; compiled to its own
    YAML, which Vertex AI cannot load)."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; allowed: {', '.join(TARGETS)}")
    k8s = cfg.kubernetes if target == "kubernetes" else None
    ops = components.build(cfg.image_uri(), cfg.train_image_uri())
    job = cfg.resources.custom_job
    train_op, train_res = ops.train_candidate, cfg.resources.train
    if job.enabled:
        if k8s is not None:
            raise ValueError("resources.custom_job: Vertex AI CustomJobs exist on the vertex target "
                             "only; on Kubernetes a train pod gets resources.train's accelerators "
                             "(set enabled: false)")
        train_op = as_custom_job(
            ops.train_candidate, launcher_image=cfg.image_uri(), image=cfg.train_image_uri(),
            machine_type=job.machine_type, accelerator_type=train_res.accelerator_type,
            accelerator_count=train_res.accelerator_count, replica_count=job.replica_count,
            boot_disk_gb=job.boot_disk_gb, boot_disk_type=job.boot_disk_type,
            project=job.project, location=job.location, service_account=job.service_account,
            network=job.network, spot=job.spot,
            restart_on_worker_restart=job.restart_on_worker_restart,
            timeout_seconds=None if job.timeout_hours is None else int(job.timeout_hours * 3600),
            base_output_dir=job.base_output_dir, poll_seconds=job.poll_seconds)
        # The launcher task is small; the accelerators belong to the CustomJob.
        train_res = dataclasses.replace(cfg.resources.default, retries=train_res.retries)
    sections = {name: section_json(cfg, name)
                for name in ("dataset", "augmentation", "search", "training")}
    default = cfg.resources.default

    @dsl.pipeline(name=cfg.name,
                  description=f"AdaNAS search: up to {cfg.search.boosting_iterations} AdaNet iterations "
                              f"of {cfg.search.candidates_per_iteration} {cfg.search.family} "
                              f"candidates ({cfg.search.generator} generator) on {cfg.dataset.name}")
    def adanas_search():
        data = _apply_resources(ops.augment_data(dataset_config=sections["dataset"],
                                                 augmentation=sections["augmentation"]), default)
        data.set_display_name("augment-data")
        dataset = data.outputs["dataset"]

        def evaluate(ensemble):
            task = ops.evaluate_ensemble(dataset=dataset, ensemble=ensemble)
            _apply_resources(task, default).set_display_name("evaluate-ensemble")
            # Always runs (seconds): each run then has its own exported model and report, even
            # when every other task came from the cache.
            task.set_caching_options(False)

        def iteration(t: int, previous: dict):
            gen = ops.generate_candidates(search=sections["search"], seed=cfg.seed, iteration=t,
                                          dataset=dataset, **previous)
            _apply_resources(gen, default).set_display_name(f"iteration-{t}-generate")
            with dsl.ParallelFor(gen.output) as candidate:
                train = train_op(candidate=candidate, training=sections["training"],
                                            dataset=dataset, **previous)
                _apply_resources(train, train_res, k8s).set_display_name(f"iteration-{t}-train")
            select = ops.select_ensemble(search=sections["search"], seed=cfg.seed, iteration=t,
                                         dataset=dataset,
                                         candidates=dsl.Collected(train.outputs["model"]),
                                         **previous)
            _apply_resources(select, default).set_display_name(f"iteration-{t}-select")
            ensemble = select.outputs["ensemble"]
            if t + 1 == cfg.search.boosting_iterations:
                evaluate(ensemble)
                return
            # Early stopping and the parameter budget end the search here (select decides).
            with dsl.If(select.outputs["Output"] == True, name=f"iteration-{t + 1}"):  # noqa: E712
                iteration(t + 1, {"previous_ensemble": ensemble})
            with dsl.Else(name=f"stop-after-{t}"):
                evaluate(ensemble)

        iteration(0, {})

    return adanas_search


def compile_pipeline(cfg: Config, output, target: str = "vertex") -> Path:
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(build_pipeline(cfg, target), str(output))
    return output
