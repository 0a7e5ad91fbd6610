"""Any component, run as a Vertex AI CustomJob (machine type, accelerators, replicas, TPU VMs).

`as_custom_job(comp, options)` returns a component with the same inputs and outputs whose
container is the launcher `python -m adanas.customjob` in the small CPU image: its options are
one JSON argument (`adanas.customjob.JobOptions`, written here, read back by the launcher), then
`--` and the original command and arguments, so Vertex AI resolves their placeholders for the
launcher task and the CustomJob's workers run them unchanged (see adanas/customjob.py). Our
equivalent of google-cloud-pipeline-components' `create_custom_training_job_from_component`,
which pins google-cloud-aiplatform<2.

    train = as_custom_job(ops.train_candidate, launcher_image="REPO/adanas:TAG",
                          machine_type="a2-highgpu-4g", accelerator_type="NVIDIA_TESLA_A100",
                          accelerator_count=4)
    train = as_custom_job(ops.train_candidate, JobOptions.from_config(cfg),
                          launcher_image=cfg.image_uri())
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import yaml
from kfp import compiler, components

from adanas.customjob import LAUNCHER_COMMAND, JobOptions


def as_custom_job(component, options: JobOptions | None = None, *, launcher_image: str,
                  **overrides):
    """`component` as a CustomJob-launching component (same signature). `overrides` are
    JobOptions fields (all of them when `options` is None); the workers' `image` defaults to
    the component's own, project, region, service account and network to the pipeline run's."""
    opts = dataclasses.replace(options, **overrides) if options else JobOptions(**overrides)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "component.yaml"
        compiler.Compiler().compile(component, str(path))
        spec = yaml.safe_load(path.read_text())
    (executor,) = spec["deploymentSpec"]["executors"].values()
    inner = executor["container"]
    if opts.image is None:
        opts = dataclasses.replace(opts, image=inner["image"])
    executor["container"] = {
        "image": launcher_image,
        "command": list(LAUNCHER_COMMAND),
        "args": opts.launcher_args(inner["command"], inner.get("args", [])),
    }
    return components.load_component_from_text(yaml.safe_dump(spec, sort_keys=False))
