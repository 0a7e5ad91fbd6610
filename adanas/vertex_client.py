"""The one place the Vertex AI client is pointed at a project, a region and an endpoint."""

from __future__ import annotations

from typing import Any


def init_aiplatform(project: str, location: str, credentials: Any = None,
                    api_endpoint: str | None = None) -> None:
    """`aiplatform.init` for `project`/`location`. `credentials` and `api_endpoint` default to
    the environment's (Application Default Credentials, the regional endpoint); tests point them
    at a local stand-in, which speaks REST over plain http."""
    from google.cloud import aiplatform

    init: dict[str, Any] = {"project": project, "location": location}
    if credentials is not None:
        init["credentials"] = credentials
    if api_endpoint is not None:
        init["api_endpoint"] = api_endpoint
        if api_endpoint.startswith("http://"):
            init["api_transport"] = "rest"
    aiplatform.init(**init)
