"""Vertex AI Model Registry and online prediction: the register step (vertex target only).

Uploads the exported ensemble's SavedModel (adanas.serving) as a Vertex AI Model, or as a new
version of `parent_model`, served by a prebuilt TensorFlow image (or the configured one),
labelled with the pipeline run and its test error; with `export.endpoint` it then creates an
endpoint and deploys the model to it with all the traffic. The real google-cloud-aiplatform
client does the calls (aiplatform.Model.upload, Endpoint.create, Model.deploy); each waits for
its long-running operation.

The model's artifact URI is the SavedModel folder inside the exported model artifact, read by
Vertex AI from Cloud Storage: on Vertex AI Pipelines that artifact's URI is gs://.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from adanas import artifacts
from adanas.config import EndpointConfig, RegistryConfig
from adanas.vertex_client import init_aiplatform

log = logging.getLogger(__name__)

RUN_LABEL = "adanas_run"
TEST_ERROR_LABEL = "adanas_test_error_bp"   # basis points: label values cannot hold a '.'


def label_value(text: str) -> str:
    """`text` as a label value: lowercase letters, digits, '_' and '-', at most 63."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


def model_labels(cfg: RegistryConfig, pipeline_job: str, test_error: float) -> dict[str, str]:
    return {**cfg.labels, RUN_LABEL: label_value(pipeline_job),
            TEST_ERROR_LABEL: str(int(round(10_000 * test_error)))}


def saved_model_uri(exported_model_uri: str) -> str:
    """The SavedModel folder of an exported model artifact, as a gs:// URI Vertex AI reads."""
    if not exported_model_uri.startswith("gs://"):
        raise ValueError(f"the exported model is at {exported_model_uri!r}: Vertex AI Model "
                         f"Registry reads models from Cloud Storage (gs://), as a pipeline run "
                         f"on Vertex AI stores its artifacts")
    return f"{exported_model_uri.rstrip('/')}/{artifacts.SAVED_MODEL}"


def console_uri(location: str, resource_name: str) -> str:
    """What the Vertex AI console links a google.VertexModel / VertexEndpoint artifact by."""
    return f"https://{location}-aiplatform.googleapis.com/v1/{resource_name}"


def register_step(exported_model_uri: str, report_dir, registry: RegistryConfig,
                  endpoint: EndpointConfig | None, project: str, location: str,
                  pipeline_job: str, pipeline_name: str, credentials: Any = None,
                  api_endpoint: str | None = None) -> dict[str, Any]:
    """Registers the exported ensemble (and deploys it with `endpoint`). Returns what the
    step's Model artifact carries: resourceName (versioned: MODEL@VERSION), uri, versionId,
    displayName, labels, and endpoint / deployedModelId when deployed."""
    from google.cloud import aiplatform

    report = artifacts.read_report(report_dir)
    uri = saved_model_uri(exported_model_uri)
    display_name = registry.display_name or pipeline_name
    labels = model_labels(registry, pipeline_job, report["test_error"])
    summary = (f"AdaNAS ensemble of {report['ensemble_size']} ({report['total_params']:,} params) on "
               f"{report['dataset']}: test error {100 * report['test_error']:.2f}% on "
               f"{report['test_examples']} examples; pipeline run {pipeline_job}. Signatures: "
               f"serving_default (uint8 images), serving_bytes (encoded images); outputs "
               f"probabilities (temperature {report.get('temperature', 1.0):.3f}), class_names, "
               f"top_class, top_class_name")
    init_aiplatform(project, location, credentials, api_endpoint)
    model = aiplatform.Model.upload(
        display_name=display_name, artifact_uri=uri,
        serving_container_image_uri=registry.serving_container_image,
        parent_model=registry.parent_model, is_default_version=True, labels=labels,
        description=summary, version_description=f"pipeline run {pipeline_job}", sync=True)
    name = f"{model.resource_name}@{model.version_id}"
    out = {"resourceName": name, "uri": console_uri(location, name), "versionId": model.version_id,
           "displayName": display_name, "labels": labels, "artifactUri": uri}
    log.info("registered %s (version %s) from %s", model.resource_name, model.version_id, uri)
    if endpoint is not None:
        created = aiplatform.Endpoint.create(display_name=endpoint.display_name or display_name,
                                             labels=labels, sync=True)
        model.deploy(endpoint=created, deployed_model_display_name=display_name,
                     machine_type=endpoint.machine_type,
                     min_replica_count=endpoint.min_replica_count,
                     max_replica_count=endpoint.max_replica_count,
                     traffic_percentage=100, sync=True)
        deployed = [d.id for d in created.list_models()]
        out.update({"endpoint": created.resource_name,
                    "endpointUri": console_uri(location, created.resource_name),
                    "deployedModelId": deployed[-1] if deployed else ""})
        log.info("deployed to %s on %s (%d-%d replicas)", created.resource_name,
                 endpoint.machine_type, endpoint.min_replica_count, endpoint.max_replica_count)
    return out
