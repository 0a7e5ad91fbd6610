"""Submission of a compiled pipeline to Vertex AI Pipelines (google-cloud-aiplatform)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from adanas.images import docker_hub_name, registry_host
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


def template_images(template_path: str | Path) -> list[str]:
    """Every image a compiled pipeline runs: each executor's image and, for a CustomJob
    launcher, the image its workers run (`--image X` or the `image` of `--options JSON`)."""
    import json

    import yaml
    spec = next(yaml.safe_load_all(Path(template_path).read_text()))
    images = set()
    for executor in spec.get("deploymentSpec", {}).get("executors", {}).values():
        container = executor.get("container")
        if not container:
            continue
        images.add(container["image"])
        args = list(container.get("args", []))
        for flag, value in zip(args, args[1:]):
            if flag == "--image":
                images.add(value)
            elif flag == "--options":
                try:
                    image = json.loads(value).get("image")
                except (ValueError, AttributeError):
                    image = None
                if image:
                    images.add(image)
    return sorted(images)


def check_registry_images(images: list[str], where: str) -> None:
    """Refuses images without a registry host: Vertex AI would pull them from Docker Hub
    (`adanas:TAG` is docker.io/library/adanas:TAG) and the task would fail after the job started."""
    local = [image for image in images if registry_host(image) is None]
    if local:
        names = ", ".join(f"{i!r} (pulled as {docker_hub_name(i)})" for i in local)
        raise ValueError(
            f"image: {where} names no registry for {names}; Vertex AI would pull it from "
            f"Docker Hub and the job would fail. Push the images to your registry "
            f"(make push IMAGE=REGION-docker.pkg.dev/PROJECT/REPO/adanas, or make cloudbuild "
            f"IMAGE=...) and submit with --set image=REGION-docker.pkg.dev/PROJECT/REPO/adanas "
            f"(a Docker Hub image must be written docker.io/USER/NAME)")


def submit(template_path: str | Path, *, project: str, region: str, pipeline_root: str,
           display_name: str | None = None, job_id: str | None = None,
           service_account: str | None = None, network: str | None = None,
           labels: dict[str, str] | None = None, enable_caching: bool | None = None,
           experiment: str | None = None, parameter_values: dict[str, Any] | None = None,
           credentials: Any = None, api_endpoint: str | None = None):
    """Creates a Vertex AI PipelineJob from a compiled pipeline YAML. Returns the job.

    `credentials` and `api_endpoint` default to the environment's (Application Default
    Credentials, the regional endpoint); tests point them at a local stand-in.
    enable_caching: None keeps each task's compiled caching option (the evaluate task always
    reruns); True or False is written into every task (aiplatform rewrites each task's
    `cachingOptions`, nested ones included, overriding the compiled settings).
    """
    from google.cloud import aiplatform

    if not pipeline_root.startswith("gs://"):
        raise ValueError(f"pipeline_root must be a gs:// path on Vertex AI, got {pipeline_root!r}")
    if job_id is not None and not _JOB_ID_RE.match(job_id):
        raise ValueError(f"job_id {job_id!r}: use lowercase letters, digits and '-', up to 128")
    if experiment is not None and not _JOB_ID_RE.match(experiment):
        raise ValueError(f"experiment {experiment!r}: use lowercase letters, digits and '-', up to 128")
    # Before anything reaches Vertex AI: every image must name its registry.
    check_registry_images(template_images(template_path), f"the compiled pipeline {template_path}")
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


def read_gcs_text(uri: str, project: str | None = None, credentials: Any = None) -> str:
    """The text of one Cloud Storage object (the ensemble record a `--warm-start gs://...`
    continues from, read at submit time). STORAGE_EMULATOR_HOST points it elsewhere (tests)."""
    from google.cloud import storage

    if not uri.startswith("gs://"):
        raise ValueError(f"{uri!r}: expected a gs:// URI")
    bucket, _, name = uri[len("gs://"):].partition("/")
    client = storage.Client(project=project, credentials=credentials)
    return client.bucket(bucket).blob(name).download_as_text()


def console_url(job) -> str:
    """The job's page in the Google Cloud console."""
    project, region, job_id = job.project, job.location, job.name
    return (f"https://console.cloud.google.com/vertex-ai/locations/{region}/pipelines/runs/"
            f"{job_id}?project={project}")
