"""Any component, run as a Vertex AI CustomJob (machine type, accelerators, replicas, TPU VMs).

`as_custom_job(comp, ...)` returns a component with the same inputs and outputs whose container
is the launcher `python -m adanas.customjob` in the small CPU image; the original command and
arguments follow `--`, so Vertex AI resolves their placeholders for the launcher task and the
CustomJob's workers run them unchanged (see adanas/customjob.py). Our equivalent of
google-cloud-pipeline-components' `create_custom_training_job_from_component`, which pins
google-cloud-aiplatform<2.

    train = as_custom_job(ops.train_candidate, launcher_image="REPO/adanas:0.1.0",
                          machine_type="a2-highgpu-4g", accelerator_type="NVIDIA_TESLA_A100",
                          accelerator_count=4)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from kfp import compiler, components

# Vertex AI fills these in at run time with the pipeline run's project and region.
PROJECT_PLACEHOLDER = "{{$.pipeline_google_cloud_project_id}}"
LOCATION_PLACEHOLDER = "{{$.pipeline_google_cloud_location}}"


def as_custom_job(component, *, launcher_image: str, machine_type: str, image: str | None = None,
                  accelerator_type: str | None = None, accelerator_count: int = 0,
                  replica_count: int = 1, boot_disk_gb: int = 100, boot_disk_type: str = "pd-ssd",
                  project: str | None = None, location: str | None = None,
                  service_account: str | None = None, network: str | None = None,
                  spot: bool = False, restart_on_worker_restart: bool = False,
                  timeout_seconds: int | None = None, base_output_dir: str | None = None,
                  poll_seconds: float = 30.0, api_endpoint: str | None = None):
    """`component` as a CustomJob-launching component (same signature). `image` defaults to the
    component's own image; project and location to the pipeline run's."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "component.yaml"
        compiler.Compiler().compile(component, str(path))
        spec = yaml.safe_load(path.read_text())
    (executor,) = spec["deploymentSpec"]["executors"].values()
    inner = executor["container"]
    flags = {
        "--project": project or PROJECT_PLACEHOLDER,
        "--location": location or LOCATION_PLACEHOLDER,
        "--display-name": spec["pipelineInfo"]["name"],
        "--image": image or inner["image"],
        "--machine-type": machine_type,
        "--accelerator-type": accelerator_type,
        "--accelerator-count": str(accelerator_count) if accelerator_type else None,
        "--replica-count": str(replica_count),
        "--boot-disk-gb": str(boot_disk_gb),
        "--boot-disk-type": boot_disk_type,
        "--service-account": service_account,
        "--network": network,
        "--timeout-seconds": None if timeout_seconds is None else str(timeout_seconds),
        "--base-output-dir": base_output_dir,
        "--poll-seconds": str(poll_seconds),
        "--api-endpoint": api_endpoint,
        "--command-length": str(len(inner["command"])),
    }
    args = [word for flag, value in flags.items() if value is not None for word in (flag, value)]
    args += ["--spot"] * spot + ["--restart-on-worker-restart"] * restart_on_worker_restart
    executor["container"] = {
        "image": launcher_image,
        "command": ["python3", "-m", "adanas.customjob"],
        "args": args + ["--", *inner["command"], *inner.get("args", [])],
    }
    return components.load_component_from_text(yaml.safe_dump(spec, sort_keys=False))
