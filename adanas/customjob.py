"""Run a pipeline task's container as a Vertex AI CustomJob: several GPUs, several machines or a
TPU VM for one candidate.

A Vertex AI Pipelines task is one machine. For a candidate that needs a machine type, a TPU or
more than one replica, the pipeline runs this launcher (in the small CPU image) instead, with
the training task's own command and arguments after `--`. Vertex AI has already resolved their
placeholders for the launcher task, so the CustomJob's workers run the exact command the task
would have run, reading and writing the same artifacts through the /gcs/ mount and writing the
task's executor output file (also on /gcs/), which the pipeline then reads as this task's
outputs. google-cloud-pipeline-components does the same with a JSON payload; it pins
google-cloud-aiplatform<2, which this project cannot use, hence this small module.

    python -m adanas.customjob --project P --location L --display-name NAME \
        --image IMAGE --machine-type a2-highgpu-4g --accelerator-type NVIDIA_TESLA_A100 \
        --accelerator-count 4 [--replica-count 2] ... -- <command and args of the task>

With replica_count > 1 (for a reused component whose own code trains across machines; AdaNAS's
train step stays on one machine, as Keras 3's fit cannot use MultiWorkerMirroredStrategy) the
first pool is the chief (1 replica) and the second holds the other workers, each given its
TF_CONFIG by Vertex AI. Only the chief may write the task's outputs: the other workers get an
executor input whose outputs point at a local scratch folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from typing import Any

from adanas.vertex_client import init_aiplatform

log = logging.getLogger(__name__)

WORKER_SCRATCH = "/tmp/adanas-worker-outputs"
_DONE = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"}


def _machine_spec(machine_type: str, accelerator_type: str | None, accelerator_count: int) -> dict:
    spec: dict[str, Any] = {"machine_type": machine_type}
    if accelerator_type:
        spec.update(accelerator_type=accelerator_type, accelerator_count=accelerator_count)
    return spec


def non_chief_args(args: list[str]) -> list[str]:
    """The task's arguments for a non-chief worker: same inputs, outputs in local scratch."""
    out = list(args)
    try:
        i = out.index("--executor_input") + 1
    except ValueError:
        raise ValueError("several replicas need a KFP Python component (its arguments carry "
                         "--executor_input); this command has none") from None
    executor_input = json.loads(out[i])
    outputs = executor_input.get("outputs", {})
    for name, group in outputs.get("artifacts", {}).items():
        for artifact in group.get("artifacts", []):
            artifact["uri"] = f"{WORKER_SCRATCH}/{name}"
    for name, param in outputs.get("parameters", {}).items():
        param["outputFile"] = f"{WORKER_SCRATCH}/parameters/{name}"
    if "outputFile" in outputs:
        outputs["outputFile"] = f"{WORKER_SCRATCH}/executor_output.json"
    out[i] = json.dumps(executor_input)
    return out


def worker_pool_specs(command: list[str], args: list[str], *, image: str, machine_type: str,
                      accelerator_type: str | None = None, accelerator_count: int = 0,
                      replica_count: int = 1, boot_disk_gb: int = 100,
                      boot_disk_type: str = "pd-ssd") -> list[dict[str, Any]]:
    """Vertex AI worker pools for one task: the chief, then `replica_count - 1` workers."""
    if replica_count < 1:
        raise ValueError(f"replica_count must be >= 1, got {replica_count}")

    def pool(replicas: int, pool_args: list[str]) -> dict[str, Any]:
        return {
            "machine_spec": _machine_spec(machine_type, accelerator_type, accelerator_count),
            "replica_count": replicas,
            "disk_spec": {"boot_disk_type": boot_disk_type, "boot_disk_size_gb": boot_disk_gb},
            "container_spec": {"image_uri": image, "command": list(command), "args": list(pool_args)},
        }

    pools = [pool(1, args)]
    if replica_count > 1:
        pools.append(pool(replica_count - 1, non_chief_args(args)))
    return pools


def staging_dir(args: list[str]) -> str | None:
    """A gs:// folder beside the task's outputs (the CustomJob's base output directory)."""
    try:
        executor_input = json.loads(args[args.index("--executor_input") + 1])
    except (ValueError, IndexError):
        return None
    for group in executor_input.get("outputs", {}).get("artifacts", {}).values():
        for artifact in group.get("artifacts", []):
            uri = artifact.get("uri", "")
            if uri.startswith("gs://"):
                return uri.rsplit("/", 1)[0] + "/custom_job"
    return None


def console_url(resource_name: str) -> str:
    # projects/P/locations/L/customJobs/ID
    parts = resource_name.split("/")
    project, location, job_id = parts[1], parts[3], parts[5]
    return (f"https://console.cloud.google.com/vertex-ai/locations/{location}/training/"
            f"{job_id}/cpu?project={project}")


def run(pools: list[dict[str, Any]], *, project: str, location: str, display_name: str,
        base_output_dir: str | None = None, service_account: str | None = None,
        network: str | None = None, spot: bool = False, restart_on_worker_restart: bool = False,
        timeout_seconds: int | None = None, labels: dict[str, str] | None = None,
        poll_seconds: float = 30.0, credentials: Any = None,
        api_endpoint: str | None = None) -> str:
    """Creates the CustomJob, waits for it and returns its resource name.

    Raises RuntimeError (with Vertex AI's error message) unless it succeeds, so that the
    pipeline task fails and its retries apply. SIGTERM (the pipeline task cancelled or
    preempted) cancels the job first.
    """
    from google.cloud import aiplatform
    from google.cloud.aiplatform_v1.types import custom_job as gca_custom_job

    init_aiplatform(project, location, credentials, api_endpoint)
    job = aiplatform.CustomJob(
        display_name=display_name, worker_pool_specs=pools, base_output_dir=base_output_dir,
        staging_bucket=base_output_dir, labels=labels or None)
    strategy = gca_custom_job.Scheduling.Strategy.SPOT if spot else None
    job.submit(service_account=service_account, network=network, timeout=timeout_seconds,
               restart_job_on_worker_restart=restart_on_worker_restart,
               scheduling_strategy=strategy)
    name = job.resource_name
    log.info("CustomJob %s created: %s", name, console_url(name))

    def cancel(signum, frame):
        log.warning("signal %d: cancelling CustomJob %s", signum, name)
        job.cancel()
        sys.exit(128 + signum)

    previous = signal.signal(signal.SIGTERM, cancel)
    try:
        started = time.monotonic()
        while True:
            state = job.state.name
            if state in _DONE:
                break
            log.info("CustomJob %s: %s after %.0fs", name.rsplit("/", 1)[-1], state,
                     time.monotonic() - started)
            time.sleep(poll_seconds)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if state != "JOB_STATE_SUCCEEDED":
        error = job.to_dict().get("error", {}).get("message", "no error message")
        raise RuntimeError(f"CustomJob {name} ended in {state}: {error} (logs: {console_url(name)})")
    log.info("CustomJob %s succeeded", name)
    return name


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        raise SystemExit("usage: python -m adanas.customjob [options] -- COMMAND [ARGS...]")
    split = argv.index("--")
    own, task = argv[:split], argv[split + 1:]
    p = argparse.ArgumentParser(prog="python -m adanas.customjob", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--project", required=True)
    p.add_argument("--location", required=True)
    p.add_argument("--display-name", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--machine-type", required=True)
    p.add_argument("--accelerator-type")
    p.add_argument("--accelerator-count", type=int, default=0)
    p.add_argument("--replica-count", type=int, default=1)
    p.add_argument("--boot-disk-gb", type=int, default=100)
    p.add_argument("--boot-disk-type", default="pd-ssd")
    p.add_argument("--service-account")
    p.add_argument("--network")
    p.add_argument("--spot", action="store_true")
    p.add_argument("--restart-on-worker-restart", action="store_true")
    p.add_argument("--timeout-seconds", type=int)
    p.add_argument("--base-output-dir", help="gs:// folder for the job (default: beside the "
                   "task's outputs)")
    p.add_argument("--poll-seconds", type=float, default=30.0)
    p.add_argument("--api-endpoint", help="tests only: a local stand-in of the Vertex AI API")
    p.add_argument("--command-length", type=int, required=True,
                   help="how many of the words after -- are the command (the rest are its args)")
    a = p.parse_args(own)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    command, args = task[:a.command_length], task[a.command_length:]
    pools = worker_pool_specs(command, args, image=a.image, machine_type=a.machine_type,
                              accelerator_type=a.accelerator_type,
                              accelerator_count=a.accelerator_count, replica_count=a.replica_count,
                              boot_disk_gb=a.boot_disk_gb, boot_disk_type=a.boot_disk_type)
    base_output_dir = a.base_output_dir or staging_dir(args)
    if not base_output_dir:
        raise SystemExit("--base-output-dir: the task's outputs are not on gs://, so give the "
                         "CustomJob a gs:// folder")
    credentials = None
    if a.api_endpoint:
        from google.auth.credentials import AnonymousCredentials
        credentials = AnonymousCredentials()
    run(pools, project=a.project, location=a.location, display_name=a.display_name,
        base_output_dir=base_output_dir, service_account=a.service_account, network=a.network,
        spot=a.spot, restart_on_worker_restart=a.restart_on_worker_restart,
        timeout_seconds=a.timeout_seconds, poll_seconds=a.poll_seconds, credentials=credentials,
        api_endpoint=a.api_endpoint)
    return 0


if __name__ == "__main__":
    sys.exit(main())
