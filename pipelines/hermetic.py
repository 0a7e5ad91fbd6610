"""Hermetic local execution: each kfp.local task sees only its declared input artifacts.

kfp.local runs every task against one shared disk, so a task can open any file of the run,
including another task's outputs reached through a URI stored inside an artifact. The real
backends cannot: the open-source KFP launcher downloads only a task's declared inputs into its
pod (backend/src/v2/component/launcher_v2.go, `downloadArtifacts`) and uploads its declared
outputs afterwards. This module makes local runs behave like that launcher:

1. before the task's command runs, every input artifact is *copied* into a fresh sandbox folder
   outside the pipeline root and the task's executor input is rewritten to point there;
2. outputs (artifacts, parameter files, the executor output) are written inside the sandbox;
3. the command runs in its own mount namespace with an empty tmpfs mounted over the pipeline
   root, so nothing else of the run is reachable, even by a path computed or stored elsewhere;
4. afterwards the outputs are copied to where kfp.local expects them (sandbox paths in the
   executor output are mapped back) and the sandbox is deleted, so a URI that pointed into it
   leads nowhere, as an input URI does once a real pod is gone.

The sandbox of a task is a stable folder, `<pipeline root>.tasks/<key>`, the key a hash of the
task's command and inputs (not its output paths, which are new in every run). A task that
fails or is killed (with the whole `adanas run`) leaves it behind; when the same task runs
again (a kfp.local retry, or `adanas run --resume`, where every finished task comes from the
cache and the same inputs reach it again) it gets its previous outputs back: a training task
finds the checkpoint it wrote in `backup/` and resumes, as a retried task does on Vertex AI,
whose output URI on Cloud Storage persists across retries.

Used by `adanas run --hermetic` and the end-to-end tests:

    with hermetic_tasks(pipeline_root):
        pipeline()          # under kfp.local.init(runner=SubprocessRunner(use_venv=False), ...)
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

EXECUTOR_INPUT_FLAG = "--executor_input"


@functools.lru_cache(maxsize=1)
def namespaces_available() -> bool:
    """Whether this process may make a mount namespace and mount a tmpfs (root, or user
    namespaces allowed)."""
    probe = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
             "mount -t tmpfs tmpfs /mnt"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _copy(src: str, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if os.path.isdir(src):
        shutil.copytree(src, dst, symlinks=False)
    elif os.path.exists(src):
        shutil.copy2(src, dst)
    # An input that was never written (an optional output left empty) stays absent.


def sandbox_executor_input(executor_input: dict[str, Any], sandbox: Path) -> dict[str, str]:
    """Copies the input artifacts into `sandbox` and points every input and output of
    `executor_input` (changed in place) there. Returns {sandbox path: original path} for the
    outputs, to copy them back."""
    outputs_back: dict[str, str] = {}
    for name, group in executor_input.get("inputs", {}).get("artifacts", {}).items():
        for i, artifact in enumerate(group.get("artifacts", [])):
            local = sandbox / "inputs" / name / str(i) / Path(artifact["uri"]).name
            _copy(artifact["uri"], local)
            artifact["uri"] = str(local)
    outputs = executor_input.get("outputs", {})
    for name, group in outputs.get("artifacts", {}).items():
        for i, artifact in enumerate(group.get("artifacts", [])):
            local = sandbox / "outputs" / name / str(i) / Path(artifact["uri"]).name
            outputs_back[str(local)] = artifact["uri"]
            artifact["uri"] = str(local)
    for name, param in outputs.get("parameters", {}).items():
        local = sandbox / "parameters" / name
        outputs_back[str(local)] = param["outputFile"]
        param["outputFile"] = str(local)
    if "outputFile" in outputs:
        local = sandbox / "executor_output.json"
        outputs_back[str(local)] = outputs["outputFile"]
        outputs["outputFile"] = str(local)
    for path in outputs_back:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return outputs_back


def _restore_outputs(outputs_back: dict[str, str]) -> None:
    for local, original in outputs_back.items():
        if not os.path.exists(local):
            continue
        if os.path.exists(original):
            shutil.rmtree(original) if os.path.isdir(original) else os.remove(original)
        if local.endswith("executor_output.json"):
            # The executor output names its output artifacts by URI: map sandbox paths back.
            text = Path(local).read_text()
            for sandbox_path, real in outputs_back.items():
                text = text.replace(json.dumps(sandbox_path)[1:-1], json.dumps(real)[1:-1])
            Path(original).parent.mkdir(parents=True, exist_ok=True)
            Path(original).write_text(text)
        else:
            _copy(local, Path(original))


def task_state_dir(pipeline_root: str | os.PathLike) -> Path:
    """Where the sandboxes of a pipeline root's tasks live: beside it, never inside (the root is
    hidden from the task)."""
    return Path(os.path.realpath(pipeline_root) + ".tasks")


def task_key(command: list[str], executor_input: dict[str, Any]) -> str:
    """A task's identity across runs: its command with the executor input's inputs only."""
    i = command.index(EXECUTOR_INPUT_FLAG) + 1
    keyed = command[:i] + [json.dumps(executor_input.get("inputs", {}), sort_keys=True)] + command[i + 1:]
    return hashlib.sha256(json.dumps(keyed).encode()).hexdigest()[:24]


def run_task(full_command: list[str], pipeline_root: str, env: dict[str, str] | None = None,
             output: Callable[[str], None] | None = None) -> int:
    """Runs one task's command hermetically (see the module doc); returns its exit status.
    Each line the task prints goes to `output`; by default to this process's stdout, as
    kfp.local's own runner does (pipelines/console.py passes its own, for `adanas run`)."""
    command = list(full_command)
    i = command.index(EXECUTOR_INPUT_FLAG) + 1
    executor_input = json.loads(command[i])
    root = os.path.realpath(pipeline_root)
    os.makedirs(root, exist_ok=True)   # kfp.local makes it only when the first output is written
    sandbox = task_state_dir(root) / task_key(command, executor_input)
    if sandbox.exists():
        # An earlier attempt of this very task failed or was killed: its outputs stay (a
        # training checkpoint), the rest is made afresh.
        for stale in ("inputs", "parameters", "executor_output.json"):
            path = sandbox / stale
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        (output or _print)(f"adanas: task {sandbox.name}: an earlier attempt left its outputs "
                           f"in {sandbox}; reusing them (a training checkpoint resumes)\n")
    sandbox.mkdir(parents=True, exist_ok=True)
    if os.path.commonpath([root, os.path.realpath(sandbox)]) == root:
        raise RuntimeError(f"the pipeline root {root} contains the task folder {sandbox}; "
                           f"put the pipeline root elsewhere")
    code = None
    try:
        outputs_back = sandbox_executor_input(executor_input, sandbox)
        command[i] = json.dumps(executor_input)
        if namespaces_available():
            # The pipeline root becomes an empty folder for this command alone.
            command = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                       'mount -t tmpfs adanas-hidden "$0" && exec "$@"', root, *command]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, bufsize=1, env=None if env is None else {**os.environ, **env})
        assert process.stdout is not None
        for line in iter(process.stdout.readline, ""):
            (output or _print)(line)
        code = process.wait()
        if code == 0:
            _restore_outputs(outputs_back)
        return code
    finally:
        if code == 0:
            shutil.rmtree(sandbox, ignore_errors=True)
        else:
            # Kept for the next attempt of the same task; its input copies are not needed.
            shutil.rmtree(sandbox / "inputs", ignore_errors=True)


def _print(line: str) -> None:
    print(line, end="")


@contextlib.contextmanager
def hermetic_tasks(pipeline_root: str | os.PathLike) -> Iterator[None]:
    """Within the block, every kfp.local SubprocessRunner task runs through `run_task`."""
    from kfp.local import subprocess_task_handler as handler

    if not namespaces_available():
        print("adanas: no mount namespace here (needs root or user namespaces): tasks get "
              "copies of their inputs, but the pipeline root stays visible to them",
              file=sys.stderr)
    original = handler.run_local_subprocess

    def run(full_command, env_vars=None):
        return run_task(full_command, str(pipeline_root), env_vars)

    handler.run_local_subprocess = run
    try:
        yield
    finally:
        handler.run_local_subprocess = original
