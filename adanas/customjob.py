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

    python -m adanas.customjob --options '<JobOptions as JSON>' -- <command and args of the task>

`JobOptions` is the one definition of the launcher's options: components/custom_job writes it
as one JSON argument at compile time (`JobOptions.launcher_args`), this module reads it back
(`main`). Its runtime fields default to Vertex AI placeholders (project, region, service
account, network, pipeline run, task name), which Vertex AI resolves for the launcher task.

The launcher
- attaches instead of duplicating: each job is labelled with the pipeline run and the task (the
  task's name and a digest of its inputs, stable across retries and distinct per ParallelFor
  iteration); a retried or restarted launcher first looks for its own job (the gcp_resources
  record it wrote beside the task's executor output, then a label-filtered list) and polls a
  running one, or returns at once if it already succeeded, instead of creating a second one;
- cancels the job on any exit while it runs: SIGTERM (task cancelled or preempted), SIGINT, an
  error in the poll loop (SIGKILL cannot be caught: that case is the attach path);
- names the job `<prefix>-<candidate>-<pipeline run>` (at most 128 characters).

With replica_count > 1 (for a reused component whose own code trains across machines; AdaNAS's
train step stays on one machine, as Keras 3's fit cannot use MultiWorkerMirroredStrategy) the
first pool is the chief (1 replica) and the second holds the other workers, each given its
TF_CONFIG by Vertex AI. Only the chief may write the task's outputs: the other workers get an
executor input whose outputs point at a local scratch folder.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from adanas.vertex_client import init_aiplatform

log = logging.getLogger(__name__)

LAUNCHER_COMMAND = ["python3", "-m", "adanas.customjob"]
WORKER_SCRATCH = "/tmp/adanas-worker-outputs"
RECORD_NAME = "custom_job_gcp_resources.json"

# Vertex AI placeholders, resolved for the launcher task (the kfp.dsl constants and those of
# google-cloud-pipeline-components' _placeholders.py, spelled here so this module needs no kfp).
PROJECT = "{{$.pipeline_google_cloud_project_id}}"
LOCATION = "{{$.pipeline_google_cloud_location}}"
SERVICE_ACCOUNT = "{{$.pipeline_service_account}}"  # the run's, else the default one
NETWORK = "{{$.pipeline_network}}"                   # empty when the run sets none
PIPELINE_JOB_ID = "{{$.pipeline_job_uuid}}"          # unique per run: the attach key
PIPELINE_JOB_NAME = "{{$.pipeline_job_name}}"        # readable: the job's display name
TASK_NAME = "{{$.pipeline_task_name}}"

_DONE = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED",
         "JOB_STATE_PAUSED"}
_ACTIVE = {"JOB_STATE_QUEUED", "JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_UPDATING"}
_RUN_LABEL, _TASK_LABEL, _NAME_LABEL = "adanas_run", "adanas_task", "adanas_name"
_TPU_VM = re.compile(r"^(ct\d|tpu\d)")  # ct5lp-hightpu-4t, ct6e-standard-4t, tpu7x-standard-4t


@dataclass(frozen=True)
class JobOptions:
    """How one task runs as a CustomJob. Written once at compile time (`launcher_args`), read
    back by the launcher (`from_json`); `from_config` builds it from resources.custom_job."""
    machine_type: str
    image: str | None = None                 # the workers' image; None: the component's own
    accelerator_type: str | None = None      # Vertex AI names: NVIDIA_TESLA_A100, TPU_V5_LITEPOD
    accelerator_count: int = 0
    tpu_topology: str | None = None          # e.g. 2x2 for ct5lp-hightpu-4t
    replica_count: int = 1
    boot_disk_gb: int = 100
    boot_disk_type: str = "pd-ssd"
    spot: bool = False
    restart_on_worker_restart: bool = False
    timeout_seconds: int | None = None
    base_output_dir: str | None = None       # gs://...; default: beside the task's outputs
    poll_seconds: float = 30.0
    labels: dict[str, str] = field(default_factory=dict)
    name_prefix: str = "adanas"
    # The input parameter that names the job: a JSON object with "name" (a candidate spec) or a
    # plain string. None (or absent): the task's name.
    name_input: str | None = "candidate"
    # Resolved at run time: Vertex AI placeholders unless set.
    project: str = PROJECT
    location: str = LOCATION
    service_account: str = SERVICE_ACCOUNT
    network: str = NETWORK
    pipeline_job_id: str = PIPELINE_JOB_ID
    pipeline_job_name: str = PIPELINE_JOB_NAME
    task_name: str = TASK_NAME
    command_length: int = 0                  # how many words after `--` are the command
    api_endpoint: str | None = None          # tests only: a local stand-in of the Vertex AI API

    def __post_init__(self):
        if self.replica_count < 1:
            raise ValueError(f"replica_count must be >= 1, got {self.replica_count}")

    @classmethod
    def from_config(cls, cfg) -> JobOptions:
        """The options of `cfg.resources.custom_job` (machine) and `cfg.resources.train`
        (accelerators), for the train image."""
        job, train = cfg.resources.custom_job, cfg.resources.train
        return cls(
            machine_type=job.machine_type, image=cfg.train_image_uri(),
            accelerator_type=train.accelerator_type, accelerator_count=train.accelerator_count,
            tpu_topology=job.tpu_topology, replica_count=job.replica_count,
            boot_disk_gb=job.boot_disk_gb, boot_disk_type=job.boot_disk_type, spot=job.spot,
            restart_on_worker_restart=job.restart_on_worker_restart,
            timeout_seconds=None if job.timeout_hours is None else int(job.timeout_hours * 3600),
            base_output_dir=job.base_output_dir, poll_seconds=job.poll_seconds,
            project=job.project or PROJECT, location=job.location or LOCATION,
            service_account=job.service_account or SERVICE_ACCOUNT, network=job.network or NETWORK)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobOptions:
        data = json.loads(text)
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown CustomJob options: {', '.join(sorted(unknown))}")
        return cls(**data)

    def launcher_args(self, command: list[str], args: list[str]) -> list[str]:
        """The launcher's arguments for a task whose container runs `command` + `args`."""
        own = dataclasses.replace(self, command_length=len(command))
        return ["--options", own.to_json(), "--", *command, *args]


def resolved(value: str | None) -> str | None:
    """`value` unless empty or a placeholder nobody resolved (e.g. outside Vertex AI)."""
    return None if not value or "{{$" in value else value


def label_value(text: str) -> str:
    """A Vertex AI label value: lowercase letters, digits, `_` and `-`, at most 63 characters
    (longer values keep a prefix and a digest of the whole)."""
    value = re.sub(r"[^a-z0-9_-]", "-", text.lower())
    if len(value) <= 63:
        return value
    return f"{value[:54]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


# --- worker pools ------------------------------------------------------------------------------

def machine_spec(opts: JobOptions) -> dict[str, Any]:
    """TPU VM machine types (ct5lp-hightpu-4t, ...) fix their chips: Vertex AI takes the machine
    type and `tpu_topology`, with no accelerator type or count that could disagree."""
    spec: dict[str, Any] = {"machine_type": opts.machine_type}
    if opts.accelerator_type and not _TPU_VM.match(opts.machine_type):
        spec.update(accelerator_type=opts.accelerator_type,
                    accelerator_count=opts.accelerator_count)
    if opts.tpu_topology:
        spec["tpu_topology"] = opts.tpu_topology
    return spec


def _executor_input(args: list[str]) -> dict[str, Any] | None:
    try:
        return json.loads(args[args.index("--executor_input") + 1])
    except (ValueError, IndexError):
        return None


def non_chief_args(args: list[str]) -> list[str]:
    """The task's arguments for a non-chief worker: same inputs, outputs in local scratch."""
    out = list(args)
    executor_input = _executor_input(out)
    if executor_input is None:
        raise ValueError("several replicas need a KFP Python component (its arguments carry "
                         "--executor_input); this command has none")
    outputs = executor_input.get("outputs", {})
    for name, group in outputs.get("artifacts", {}).items():
        for artifact in group.get("artifacts", []):
            artifact["uri"] = f"{WORKER_SCRATCH}/{name}"
    for name, param in outputs.get("parameters", {}).items():
        param["outputFile"] = f"{WORKER_SCRATCH}/parameters/{name}"
    if "outputFile" in outputs:
        outputs["outputFile"] = f"{WORKER_SCRATCH}/executor_output.json"
    out[out.index("--executor_input") + 1] = json.dumps(executor_input)
    return out


def worker_pool_specs(opts: JobOptions, command: list[str], args: list[str]) -> list[dict[str, Any]]:
    """Vertex AI worker pools for one task: the chief, then `replica_count - 1` workers."""
    if not opts.image:
        raise ValueError("JobOptions.image: the workers' image is not set")

    def pool(replicas: int, pool_args: list[str]) -> dict[str, Any]:
        return {
            "machine_spec": machine_spec(opts),
            "replica_count": replicas,
            "disk_spec": {"boot_disk_type": opts.boot_disk_type,
                          "boot_disk_size_gb": opts.boot_disk_gb},
            "container_spec": {"image_uri": opts.image, "command": list(command),
                               "args": list(pool_args)},
        }

    pools = [pool(1, args)]
    if opts.replica_count > 1:
        pools.append(pool(opts.replica_count - 1, non_chief_args(args)))
    return pools


def staging_dir(args: list[str]) -> str | None:
    """A gs:// folder beside the task's outputs (the CustomJob's base output directory)."""
    executor_input = _executor_input(args) or {}
    for group in executor_input.get("outputs", {}).get("artifacts", {}).values():
        for artifact in group.get("artifacts", []):
            uri = artifact.get("uri", "")
            if uri.startswith("gs://"):
                return uri.rsplit("/", 1)[0] + "/custom_job"
    return None


# --- which job is this task's ------------------------------------------------------------------

@dataclass(frozen=True)
class Identity:
    display_name: str
    keys: dict[str, str]     # labels that find this task's job again; empty: no attaching
    labels: dict[str, str]   # all labels of a new job


def job_identity(opts: JobOptions, args: list[str]) -> Identity:
    """The job's display name and labels. The task is its name plus a digest of its inputs:
    the same across retries of one task, different for each iteration of a ParallelFor."""
    executor_input = _executor_input(args)
    task = resolved(opts.task_name) or "task"
    subject = task
    if executor_input is not None and opts.name_input:
        value = executor_input.get("inputs", {}).get("parameterValues", {}).get(opts.name_input)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                parsed = json.loads(value)
                value = parsed.get("name", value) if isinstance(parsed, dict) else value
        if isinstance(value, str) and value:
            subject = value
    run_name = resolved(opts.pipeline_job_name) or resolved(opts.pipeline_job_id)
    display_name = "-".join(p for p in (opts.name_prefix, subject, run_name) if p)[:128]
    inputs = executor_input.get("inputs", {}) if executor_input is not None else args
    digest = hashlib.sha256(json.dumps([task, inputs], sort_keys=True).encode()).hexdigest()[:16]
    run_id = resolved(opts.pipeline_job_id)
    keys = {_RUN_LABEL: label_value(run_id), _TASK_LABEL: digest} if run_id else {}
    labels = _system_labels()
    labels.update(opts.labels)
    labels.update({_NAME_LABEL: label_value(subject), **keys})
    return Identity(display_name=display_name, keys=keys, labels=labels)


def _system_labels() -> dict[str, str]:
    """The labels Vertex AI Pipelines passes to the task (billing id and the run's labels)."""
    try:
        labels = json.loads(os.environ.get("VERTEX_AI_PIPELINES_RUN_LABELS", "{}"))
    except ValueError:
        return {}
    return dict(labels) if isinstance(labels, dict) else {}


def label_filter(keys: dict[str, str]) -> str:
    return " AND ".join(f'labels.{k}="{v}"' for k, v in sorted(keys.items()))


def record_path(args: list[str]) -> str | None:
    """Where the gcp_resources record of the task's job lives: beside its executor output."""
    output_file = (_executor_input(args) or {}).get("outputs", {}).get("outputFile")
    return os.path.join(os.path.dirname(output_file), RECORD_NAME) if output_file else None


def _api_host(location: str, api_endpoint: str | None) -> str:
    return api_endpoint.rstrip("/") if api_endpoint else f"https://{location}-aiplatform.googleapis.com"


def write_record(path: str | None, name: str, location: str, api_endpoint: str | None) -> None:
    """google-cloud-pipeline-components' gcp_resources format (best effort)."""
    if not path:
        return
    record = {"resources": [{"resourceType": "CustomJob",
                             "resourceUri": f"{_api_host(location, api_endpoint)}/v1/{name}"}]}
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(record, f)
    except OSError as e:
        log.warning("could not write %s: %s", path, e)


def read_record(path: str | None) -> str | None:
    if not path or not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            (resource,) = json.load(f)["resources"]
        return resource["resourceUri"].split("/v1/", 1)[1]
    except (OSError, ValueError, KeyError, IndexError) as e:
        log.warning("ignoring unreadable %s: %s", path, e)
        return None


def find_own_job(record: str | None, keys: dict[str, str]):
    """This task's job that is still running or already succeeded: the one named in the record,
    else the newest among those labelled with this run and task. None: create one."""
    from google.api_core import exceptions
    from google.cloud import aiplatform

    def usable(jobs):
        states = {j.name: j.gca_resource.state.name for j in jobs}
        done = [j for j in jobs if states[j.name] == "JOB_STATE_SUCCEEDED"]
        active = [j for j in jobs if states[j.name] in _ACTIVE]
        best = sorted(done or active, key=lambda j: j.gca_resource.create_time, reverse=True)
        return best[0] if best else None

    name = read_record(record)
    if name:
        try:
            job = usable([aiplatform.CustomJob.get(resource_name=name)])
        except exceptions.NotFound:
            job = None
        if job is not None:
            return job
    if not keys:
        return None
    return usable(aiplatform.CustomJob.list(filter=label_filter(keys)))


# --- run ---------------------------------------------------------------------------------------

class _CancelOnExit:
    """Cancels `job` when the block is left by an exception (an error, or SystemExit raised by
    SIGTERM/SIGINT) before the job finished. Signals wait while `deferred()` (job creation), so
    a job is never created unnoticed."""

    def __init__(self):
        self.job = None
        self.finished = False
        self._previous: dict[int, Any] = {}
        self._deferring = False
        self._pending: int | None = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def _on_signal(self, signum, frame):
        if self._deferring:
            self._pending = signum
            return
        log.warning("signal %d: the launcher stops", signum)
        raise SystemExit(128 + signum)

    @contextlib.contextmanager
    def deferred(self):
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        if self._pending is not None:
            log.warning("signal %d: the launcher stops", self._pending)
            raise SystemExit(128 + self._pending)

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is not None and self.job is not None and not self.finished:
                for signum in self._previous:
                    signal.signal(signum, signal.SIG_IGN)
                log.warning("launcher exiting (%s): cancelling CustomJob %s",
                            exc_type.__name__, self.job.resource_name)
                try:
                    self.job.cancel()
                except Exception as e:  # noqa: BLE001 -- still exit with the original error
                    log.error("could not cancel CustomJob %s: %s", self.job.resource_name, e)
        finally:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)
        return False


def console_url(resource_name: str) -> str:
    # projects/P/locations/L/customJobs/ID
    parts = resource_name.split("/")
    project, location, job_id = parts[1], parts[3], parts[5]
    return (f"https://console.cloud.google.com/vertex-ai/locations/{location}/training/"
            f"{job_id}/cpu?project={project}")


def _poll(job, poll_seconds: float, max_errors: int = 5) -> str:
    """Waits for a final state; transient API errors are retried `max_errors` times in a row."""
    import requests
    from google.api_core import exceptions

    transient = (exceptions.ServiceUnavailable, exceptions.DeadlineExceeded,
                 exceptions.InternalServerError, exceptions.TooManyRequests,
                 requests.exceptions.ConnectionError, ConnectionError)
    started, errors = time.monotonic(), 0
    short = job.resource_name.rsplit("/", 1)[-1]
    while True:
        try:
            state = job.state.name
            errors = 0
        except transient as e:
            errors += 1
            if errors >= max_errors:
                raise
            log.warning("CustomJob %s: polling failed (%s), retrying", short, e)
            time.sleep(poll_seconds)
            continue
        if state in _DONE:
            return state
        log.info("CustomJob %s: %s after %.0fs", short, state, time.monotonic() - started)
        time.sleep(poll_seconds)


def run(opts: JobOptions, command: list[str], args: list[str], credentials: Any = None) -> str:
    """Runs the task as this task's CustomJob (attaching to it if it exists), waits for it and
    returns its resource name. Raises RuntimeError (with Vertex AI's error message) unless it
    succeeds, so that the pipeline task fails and its retries apply."""
    from google.cloud import aiplatform
    from google.cloud.aiplatform_v1.types import custom_job as gca_custom_job

    project, location = resolved(opts.project), resolved(opts.location)
    if not project or not location:
        raise SystemExit(f"project {opts.project!r} / location {opts.location!r} not resolved: "
                         f"outside Vertex AI set resources.custom_job.project and .location")
    pools = worker_pool_specs(opts, command, args)
    base_output_dir = opts.base_output_dir or staging_dir(args)
    if not base_output_dir:
        raise SystemExit("base_output_dir: the task's outputs are not on gs://, so give the "
                         "CustomJob a gs:// folder")
    if credentials is None and opts.api_endpoint:
        from google.auth.credentials import AnonymousCredentials
        credentials = AnonymousCredentials()
    init_aiplatform(project, location, credentials, opts.api_endpoint)
    identity = job_identity(opts, args)
    if not identity.keys:
        log.warning("the pipeline run is unknown (%s unresolved): a restarted launcher cannot "
                    "find this job again", opts.pipeline_job_id)
    record = record_path(args)

    with _CancelOnExit() as guard:
        job = find_own_job(record, identity.keys)
        if job is not None:
            log.info("CustomJob %s is this task's (%s): attaching", job.resource_name,
                     job.gca_resource.state.name)
            guard.job = job
        else:
            with guard.deferred():
                job = aiplatform.CustomJob(
                    display_name=identity.display_name, worker_pool_specs=pools,
                    base_output_dir=base_output_dir, staging_bucket=base_output_dir,
                    labels=identity.labels)
                job.submit(
                    service_account=resolved(opts.service_account),
                    network=resolved(opts.network), timeout=opts.timeout_seconds,
                    restart_job_on_worker_restart=opts.restart_on_worker_restart,
                    scheduling_strategy=gca_custom_job.Scheduling.Strategy.SPOT if opts.spot else None)
                guard.job = job
            log.info("CustomJob %s created", job.resource_name)
        name = job.resource_name
        log.info("CustomJob %s: %s", identity.display_name, console_url(name))
        write_record(record, name, location, opts.api_endpoint)
        state = _poll(job, opts.poll_seconds)
        guard.finished = True
    if state != "JOB_STATE_SUCCEEDED":
        error = job.to_dict().get("error", {}).get("message", "no error message")
        raise RuntimeError(f"CustomJob {name} ended in {state}: {error} (logs: {console_url(name)})")
    log.info("CustomJob %s succeeded", name)
    return name


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        raise SystemExit("usage: python -m adanas.customjob --options JSON -- COMMAND [ARGS...]")
    split = argv.index("--")
    own, task = argv[:split], argv[split + 1:]
    p = argparse.ArgumentParser(prog="python -m adanas.customjob", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--options", required=True, help="JobOptions as JSON (JobOptions.to_json)")
    opts = JobOptions.from_json(p.parse_args(own).options)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run(opts, task[:opts.command_length], task[opts.command_length:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
