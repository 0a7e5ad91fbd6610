"""Submission to open-source Kubeflow Pipelines (a kind or GKE cluster) with kfp.Client."""

from __future__ import annotations

from pathlib import Path


def submit(template_path: str | Path, host: str, experiment: str = "adanas",
           run_name: str | None = None, enable_caching: bool = True, namespace: str | None = None):
    """Creates a run of a compiled (kubernetes-target) pipeline; returns kfp's RunPipelineResult."""
    import kfp
    client = kfp.Client(host=host, namespace=namespace)
    return client.create_run_from_pipeline_package(
        str(template_path), arguments={}, run_name=run_name or Path(template_path).stem,
        experiment_name=experiment, enable_caching=enable_caching, namespace=namespace)
