"""Local runs that can be listed, compared, resumed and continued.

`recorded_run(...)` wraps one kfp.local pipeline run (pipelines/local_run.py):

- the run's folder is named by us before anything runs (`{pipeline name}-{timestamp}`, the name
  kfp.local would give it), so its record (`adanas-run.json`, adanas.artifacts) is written
  first: the config, how it runs, and `status: running` with this process's id (and, on
  Linux, its start time and the boot's id, so that a later process given the same id is not
  taken for it). A run killed with its process group keeps that record; `adanas runs` shows it
  as interrupted, and `adanas run --resume RUN` reads its config back from it;
- every finished task writes a kfp.local cache entry, also without `--cache` (the cache is then
  write-only: nothing is reused), so a broken run can be resumed with its finished tasks
  reused;
- the tasks that actually run (not reused from the cache) are listed in the record as they
  end, with their input artifacts: the evaluate task's `ensemble` input is the search's final
  ensemble, which `--warm-start RUN` continues from;
- at the end the record gets the outcome and a summary of the report (what `adanas runs` and
  `adanas compare` print).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from adanas import artifacts
from adanas.config import Config
from adanas.continuation import WarmStart

EXECUTOR_INPUT_FLAG = "--executor_input"


def run_name(cfg: Config) -> str:
    """kfp.local's own run folder name: the pipeline name and a timestamp."""
    return f"{cfg.name}-{datetime.datetime.now().strftime('%Y-%m-%d-%H-%M-%S-%f')}"


def _task_entry(full_command: list[str], code: int, run_dir: Path) -> dict[str, Any]:
    executor_input = json.loads(full_command[full_command.index(EXECUTOR_INPUT_FLAG) + 1])
    inputs = executor_input.get("inputs", {})
    outputs = executor_input.get("outputs", {})
    uris = [g["artifacts"][0]["uri"] for g in outputs.get("artifacts", {}).values() if g.get("artifacts")]
    folder = Path(outputs["outputFile"]).parent if outputs.get("outputFile") else Path(uris[0]).parent
    params = inputs.get("parameterValues", {})
    entry = {"task": str(folder.relative_to(run_dir)) if folder.is_relative_to(run_dir) else str(folder),
             "returncode": code,
             "inputs": {name: g["artifacts"][0]["uri"]
                        for name, g in inputs.get("artifacts", {}).items() if g.get("artifacts")}}
    if "iteration" in params:
        entry["iteration"] = int(params["iteration"])
    if isinstance(params.get("candidate"), str):
        spec = json.loads(params["candidate"])
        entry.update(iteration=spec.get("iteration"), candidate=spec.get("name"))
    return entry


@dataclass
class RecordedRun:
    folder: Path
    tasks: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_task(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.tasks.append(entry)
            artifacts.update_run_record(self.folder, tasks=self.tasks)

    def final_ensemble(self) -> str | None:
        evaluated = [t for t in self.tasks if t["task"].startswith("evaluate-ensemble")
                     and t["returncode"] == 0 and "ensemble" in t["inputs"]]
        return evaluated[-1]["inputs"]["ensemble"] if evaluated else None

    def fail(self, error: BaseException) -> None:
        artifacts.update_run_record(self.folder, status="failed", finished=_now(),
                                    error=f"{type(error).__name__}: {str(error)[:500]}")

    def finish(self, report: dict[str, Any], report_dir: Path) -> None:
        artifacts.update_run_record(
            self.folder, status="succeeded", finished=_now(), final_ensemble=self.final_ensemble(),
            report=str(report_dir), summary=summary(report))


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """What `adanas runs` and `adanas compare` show of a finished run."""
    return {
        "test_error": report["test_error"],
        "ensemble_size": report["ensemble_size"],
        "total_params": report["total_params"],
        "task_hours": report.get("task_hours"),
        "accelerator_hours": report.get("accelerator_hours"),
        "accelerator": report.get("accelerator"),
        "stopped": report.get("stopped", ""),
        "wall_seconds": report.get("wall_seconds"),
        "iterations": [{k: it.get(k) for k in ("iteration", "chosen", "chosen_arch", "ensemble_size",
                                               "ensemble_params", "validation_error", "test_error",
                                               "best_single_test_error", "task_hours")}
                       for it in report["iterations"]],
    }


def _now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


@contextlib.contextmanager
def recorded_run(cfg: Config, root: Path, *, caching: bool, hermetic: bool,
                 warm_start: WarmStart | None = None, resumed_from: str | None = None,
                 config_source: str | None = None) -> Iterator[RecordedRun]:
    """Within the block, the kfp.local pipeline run is recorded (see the module doc). Must be
    entered after kfp.local.init and after any replacement of kfp.local's task runner (it
    wraps whichever is in place)."""
    from kfp.local import cache, executor_input_utils
    from kfp.local import subprocess_task_handler as handler

    name = run_name(cfg)
    run = RecordedRun(Path(root) / name)
    run.folder.mkdir(parents=True, exist_ok=False)
    artifacts.write_run_record(run.folder, {
        "name": name, "config_name": cfg.name, "started": _now(), "status": "running",
        "pid": os.getpid(), "host": socket.gethostname(), **process_identity(os.getpid()),
        "config": cfg.to_dict(), "config_source": config_source, "caching": caching,
        "hermetic": hermetic,
        "warm_start": None if warm_start is None else {"uri": warm_start.uri,
                                                       "iteration": warm_start.iteration,
                                                       "members": warm_start.members},
        "resumed_from": resumed_from, "tasks": []})

    original_name = executor_input_utils.get_local_pipeline_resource_name
    original_get = cache.LocalCache.get
    original_run = handler.run_local_subprocess
    executor_input_utils.get_local_pipeline_resource_name = lambda pipeline_name: name
    if not caching:
        # Written, never read: a later `--resume` of this run can reuse what it finished.
        cache.LocalCache.get = lambda self, key: None

    def run_and_record(full_command, env_vars=None):
        code = original_run(full_command, env_vars)
        try:
            run.add_task(_task_entry(full_command, code, run.folder))
        except (ValueError, KeyError, IndexError, OSError):
            pass    # a task of another shape: nothing to record
        return code

    handler.run_local_subprocess = run_and_record
    try:
        yield run
    except BaseException as e:
        run.fail(e)
        raise
    finally:
        executor_input_utils.get_local_pipeline_resource_name = original_name
        cache.LocalCache.get = original_get
        handler.run_local_subprocess = original_run


# --- finding runs and ensembles -----------------------------------------------------------------

def resolve_run(run: str | os.PathLike, pipeline_root: str | os.PathLike) -> Path:
    """A run's folder from its path or its name under the pipeline root."""
    for candidate in (Path(run), Path(pipeline_root) / str(run)):
        if artifacts.is_run_folder(candidate):
            return candidate.resolve()
    known = [p.name for p in artifacts.run_folders(pipeline_root)]
    raise ValueError(f"run {str(run)!r}: not a local run folder (no {artifacts.RUN_RECORD}) nor "
                     f"the name of one under {pipeline_root}"
                     + (f"; runs there: {', '.join(known[-5:])}" if known else "; it has none"))


BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def process_identity(pid: int) -> dict[str, Any]:
    """What tells process `pid` from a later one given the same id (after a reboot, or in a
    container where adanas is PID 1 each time): its start time in clock ticks since boot and
    the boot's id. {} where /proc does not tell them (not Linux) or no process has the id."""
    try:
        boot_id = BOOT_ID.read_text().strip()
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
        # Field 22, starttime; fields are counted from the pid, but the command name (field 2,
        # in parentheses) may hold spaces and parentheses itself: count from its last ')'.
        started = int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return {}
    return {"pid_started": started, "boot_id": boot_id}


def process_alive(record: dict[str, Any]) -> bool:
    """Whether the process that ran a run still runs (on this host)."""
    if record.get("host") != socket.gethostname() or not record.get("pid"):
        return False
    pid = int(record["pid"])
    if pid == os.getpid():
        # The process asking (resuming the run, listing it) is not the one that ran it: that
        # one had this id before, and is gone.
        return False
    if record.get("pid_started") is not None and BOOT_ID.exists():
        # The same process only if it started when the recorded one did, in the same boot.
        return process_identity(pid) == {"pid_started": record["pid_started"],
                                         "boot_id": record.get("boot_id")}
    # An older record, or no /proc: whichever process has the id now.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def state(record: dict[str, Any]) -> str:
    """succeeded, failed, running, or interrupted (running, but its process is gone)."""
    status = record.get("status", "?")
    if status == "running" and not process_alive(record):
        return "interrupted"
    return status


def warm_start_folder(value: str | os.PathLike, pipeline_root: str | os.PathLike) -> Path:
    """The local ensemble folder `--warm-start VALUE` names: an ensemble artifact folder, a run
    folder (or a run's name under the pipeline root: its final ensemble, else the ensemble of
    its highest iteration), or any folder holding ensembles (the highest iteration's)."""
    path = Path(value)
    if not path.exists() and (Path(pipeline_root) / str(value)).exists():
        path = Path(pipeline_root) / str(value)
    if not path.exists():
        raise ValueError(f"--warm-start {str(value)!r}: no such folder (give an ensemble artifact "
                         f"folder, a local run folder or its name, or a gs:// URI)")
    if artifacts.is_run_folder(path) and not artifacts.is_ensemble(path):
        record = artifacts.read_run_record(path)
        if state(record) == "running":
            # Its newest ensemble is an intermediate one, which the run itself goes on from.
            raise ValueError(f"--warm-start {str(value)!r}: run {record.get('name', path.name)} is "
                             f"still running (process {record['pid']}): wait for it to finish, "
                             f"or pass an ensemble folder")
        final = record.get("final_ensemble")
        if final and artifacts.is_ensemble(final):
            return Path(final).resolve()
    try:
        return artifacts.last_ensemble(path).resolve()
    except artifacts.ArtifactError as e:
        raise ValueError(f"--warm-start {str(value)!r}: {e}") from None
