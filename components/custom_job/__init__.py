"""Any component, run as a Vertex AI CustomJob: see component.py and README.md."""

from components.custom_job.component import as_custom_job

__all__ = ["as_custom_job"]
