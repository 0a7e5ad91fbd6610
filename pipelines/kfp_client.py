"""Submission to open-source Kubeflow Pipelines (a kind or GKE cluster) with kfp.Client."""

from __future__ import annotations

from pathlib import Path


def submit(template_path: str | Path, host: str, experiment: str = "adanas",
           run_name: str | None = None, enable_caching: bool | None = None,
           namespace: str | None = None):
    """Creates a run of a compiled (kubernetes-target) pipeline; returns kfp's RunPipelineResult.

    enable_caching: None keeps each task's compiled caching option. True or False is the run's
    flag, which kfp.Client writes into the root DAG's tasks only (`_override_caching_options`):
    tasks inside conditions and loops keep their compiled option, so compile with
    `compile_pipeline(..., caching=False)` for a run that reuses nothing."""
    import kfp
    client = kfp.Client(host=host, namespace=namespace)
    return client.create_run_from_pipeline_package(
        str(template_path), arguments={}, run_name=run_name or Path(template_path).stem,
        experiment_name=experiment, enable_caching=enable_caching, namespace=namespace)
