"""Submission of a compiled pipeline to Vertex AI Pipelines (google-cloud-aiplatform)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from adanas.vertex_client import init_aiplatform

_LABEL_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
_JOB_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")


def parse_labels(items: list[str]) -> dict[str, str]:
    """`key=value` strings -> dict, checked against Vertex AI's label rules."""
    labels = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"label {item!r}: expected key=value")
        if not _LABEL_RE.match(key) or not _LABEL_VALUE_RE.match(value):
            raise ValueError(f"label {item!r}: keys start with a lowercase letter; keys and values "
                             f"use lowercase letters, digits, '_' and '-', up to 63 characters")
        labels[key] = value
    return labels


def submit(template_path: str | Path, *, project: str, region: str, pipeline_root: str,
           display_name: str | None = None, job_id: str | None = None,
           service_account: str | None = None, network: str | None = None,
           labels: dict[str, str] | None = None, enable_caching: bool | None = None,
           experiment: str | None = None, parameter_values: dict[str, Any] | None = None,
           credentials: Any = None, api_endpoint: str | None = None):
    """Creates a Vertex AI PipelineJob from a compiled pipeline YAML. Returns the job.

    `credentials` and `api_endpoint` default to the environment's (Application Default
    Credentials, the regional endpoint); tests point them at a local stand-in.
    """
    from google.cloud import aiplatform

    if not pipeline_root.startswith("gs://"):
        raise ValueError(f"pipeline_root must be a gs:// path on Vertex AI, got {pipeline_root!r}")
    if job_id is not None and not _JOB_ID_RE.match(job_id):
        raise ValueError(f"job_id {job_id!r}: use lowercase letters, digits and '-', up to 128")
    if experiment is not None and not _JOB_ID_RE.match(experiment):
        raise ValueError(f"experiment {experiment!r}: use lowercase letters, digits and '-', up to 128")
    init_aiplatform(project, region, credentials, api_endpoint)
    job = aiplatform.PipelineJob(
        display_name=display_name or Path(template_path).stem,
        template_path=str(template_path),
        pipeline_root=pipeline_root,
        parameter_values=parameter_values or {},
        enable_caching=enable_caching,
        labels=labels or None,
        job_id=job_id,
    )
    # With an experiment, the run joins it (created on first use) and shows up beside the
    # experiment's other runs for comparison in the console.
    job.submit(service_account=service_account, network=network, experiment=experiment)
    return job


def console_url(job) -> str:
    """The job's page in the Google Cloud console."""
    project, region, job_id = job.project, job.location, job.name
    return (f"https://console.cloud.google.com/vertex-ai/locations/{region}/pipelines/runs/"
            f"{job_id}?project={project}")
