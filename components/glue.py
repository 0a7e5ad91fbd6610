"""What every component shares: the factory, optional inputs and metrics outputs.

Component bodies run in the task's container from their own source (KFP lightweight
components), so they import these helpers inside the body.
"""

from __future__ import annotations

import json
from typing import Any

from kfp import dsl


def component(func, image: str):
    """`func` as a KFP component running in `image`. kfp is in the image already."""
    return dsl.component(func, base_image=image, install_kfp_package=False)


def path_or_none(artifact) -> str | None:
    """An optional input artifact's local path, or None where the pipeline gave none."""
    return None if artifact is None else artifact.path


def log_metrics(metrics, values: dict[str, Any]) -> None:
    """Logs `values` to a Metrics output. They live in the artifact's metadata; a file at its
    path as well lets kfp.local's cache reuse the task (it treats a missing file as a miss)."""
    for key, value in values.items():
        metrics.log_metric(key, value)
    with open(metrics.path, "w") as f:
        json.dump(metrics.metadata, f)


def log_confusion_matrix(artifact, categories: list[str], matrix: list[list[int]]) -> None:
    """A ClassificationMetrics output's confusion matrix (the consoles draw it), also written
    to its path for kfp.local's cache, as log_metrics does."""
    artifact.log_confusion_matrix([str(c) for c in categories], [[int(v) for v in row] for row in matrix])
    with open(artifact.path, "w") as f:
        json.dump(artifact.metadata, f)


class VertexModel(dsl.Artifact):
    """A model in Vertex AI Model Registry: google-cloud-pipeline-components' artifact type
    (schema google.VertexModel), which the Vertex AI console links to the registered model.
    Its metadata carries `resourceName`; its uri is the model's REST URL
    (https://LOCATION-aiplatform.googleapis.com/v1/projects/.../models/ID@VERSION).
    Defined here because google-cloud-pipeline-components pins google-cloud-aiplatform<2."""
    schema_title = "google.VertexModel"
    schema_version = "0.0.1"
