"""What `adanas run` shows: one line when each task starts and one when it ends, the rest in logs.

kfp.local prints everything: its own log records (through the root logger) and every line each
task prints (through `print`, in kfp.local.subprocess_task_handler.run_local_subprocess). Inside
`Console.attached(pipeline_root)`:

- each task runs through `Console.run_task` (in place of kfp.local's run_local_subprocess;
  hermetically through pipelines.hermetic.run_task when asked), which writes the task's output
  to `<run>/<task>/task.log` and prints a start and an end line of its own: the iteration, the
  candidate and its architecture, epochs done of planned, seconds, and the error it reached;
- everything else kfp.local prints or logs goes to `<run>/run.log` (with `verbose`, to the
  terminal as well), `<run>` being the run's folder under the pipeline root;
- a task that fails is remembered (`failed`): its name, its log file and the cause, the last
  exception line of its output, so the caller can end the run with one line instead of a
  traceback (`TaskFailed`).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, TextIO

from adanas import artifacts

EXECUTOR_INPUT_FLAG = "--executor_input"
TASK_LOG = "task.log"
RUN_LOG = "run.log"
# The last line of a Python traceback: `ValueError: ...`, `module.SomeError: ...`.
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Fault|Failure)\b(: .*)?$")


class TaskFailed(RuntimeError):
    """A task of a local run failed; the message is one line: the task, the cause, its log."""

    def __init__(self, task: str, cause: str, log: Path | None):
        self.task, self.cause, self.log = task, cause, log
        where = f" (its output: {log})" if log else ""
        super().__init__(f"task {task} failed: {cause}{where}")


def last_exception(lines: list[str]) -> str | None:
    """The last exception line a task printed (a traceback's final line), if any."""
    for line in reversed(lines):
        line = line.strip()
        if _EXCEPTION.match(line):
            return line
    return None


@dataclass
class Task:
    """One task of the run, from its executor input."""
    root: Path
    kind: str
    params: dict[str, Any]
    outputs: dict[str, str]
    output_file: Path | None
    started: float = field(default_factory=time.perf_counter)
    lines: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, full_command: list[str]) -> "Task":
        executor_input = json.loads(full_command[full_command.index(EXECUTOR_INPUT_FLAG) + 1])
        outputs = executor_input.get("outputs", {})
        uris = {name: group["artifacts"][0]["uri"]
                for name, group in outputs.get("artifacts", {}).items() if group.get("artifacts")}
        output_file = Path(outputs["outputFile"]) if outputs.get("outputFile") else None
        root = output_file.parent if output_file else Path(next(iter(uris.values()))).parent
        # kfp.local's task folder is the component's name, -2, -3, ... for later uses of it.
        return cls(root, re.sub(r"-\d+$", "", root.name),
                   executor_input.get("inputs", {}).get("parameterValues", {}), uris, output_file)

    def _json(self, name: str) -> dict[str, Any]:
        value = self.params.get(name)
        return json.loads(value) if isinstance(value, str) else (value or {})

    def label(self) -> str:
        """What the task is: `iteration 0  train i0_c1 cnn(3@16)`, `prepare-dataset`, ..."""
        t = self.params.get("iteration")
        if self.kind == "train-candidate":
            spec = self._json("candidate")
            return f"iteration {spec.get('iteration', '?')}  train {spec.get('name')} {spec.get('arch_str')}"
        if self.kind in ("generate-candidates", "select-ensemble") and t is not None:
            return f"iteration {int(t)}  {self.kind.split('-')[0]}"
        if self.kind == "evaluate-ensemble":
            return "evaluate"
        return self.kind

    def plan(self) -> str:
        """What the task will do, where known before it runs (a candidate's planned epochs)."""
        if self.kind == "train-candidate":
            training = self._json("training")
            if training.get("train_epochs"):
                return f"{training['train_epochs']} epochs planned"
            if training.get("max_iteration_steps"):
                return f"{training['max_iteration_steps']} steps planned"
        if self.kind == "prepare-dataset":
            return f"dataset {self._json('dataset_config').get('name')}"
        return ""

    def result(self) -> str:
        """What the finished task produced, read from its outputs."""
        if self.kind == "prepare-dataset":
            meta = artifacts.dataset_meta(self.outputs["dataset"])
            splits = "/".join(f"{n:,}" for n in meta["splits"].values())
            return (f"{splits} train/validation/test images of {'x'.join(map(str, meta['image_shape']))}, "
                    f"{meta['num_classes']} classes")
        if self.kind == "generate-candidates":
            specs = [json.loads(s) for s in self._returned()]
            return f"{len(specs)} candidates: " + ", ".join(f"{s['name']} {s['arch_str']}" for s in specs)
        if self.kind == "train-candidate":
            record, _ = artifacts.read_candidate(self.outputs["model"])
            if "failed" in record:
                return f"candidate FAILED: {record['failed']['type']}: {record['failed']['message'][:160]}"
            m = record["metrics"]
            epochs = f"epochs {m['epochs_done']}/{m['epochs']}, " if "epochs" in m else ""
            return f"{epochs}val error {_pct(m['validation_error'])}"
        if self.kind == "select-ensemble":
            record = artifacts.ensemble_record(self.outputs["ensemble"])
            last = record["history"][-1]
            out = (f"chose {last['chosen'] or 'none (kept the previous ensemble)'}: "
                   f"{_members(last['ensemble']['size'])}, val error "
                   f"{_pct(last['ensemble']['validation_error'])}")
            return out + (f"; stops: {record['stopped']}" if record.get("stopped") else "")
        if self.kind == "evaluate-ensemble":
            report = artifacts.read_report(self.outputs["report"])
            return f"test error {_pct(report['test_error'])} ({_members(report['ensemble_size'])})"
        return ""

    def _returned(self) -> list[Any]:
        record = json.loads(self.output_file.read_text()) if self.output_file else {}
        value = record.get("parameterValues", {}).get("Output", [])
        return json.loads(value) if isinstance(value, str) else value


def _members(n: int) -> str:
    return f"{n} member" + ("" if n == 1 else "s")


def _pct(x: float) -> str:
    return f"{100.0 * x:.2f}%"


class _Tee:
    """A text stream writing to several (the run log, and the terminal when verbose)."""

    def __init__(self, *streams: TextIO):
        self.streams = streams

    def write(self, text: str) -> int:
        for s in self.streams:
            s.write(text)
        return len(text)

    def flush(self) -> None:
        for s in self.streams:
            s.flush()

    def isatty(self) -> bool:
        return False


class Console:
    """Start and end lines of each task on `out`; kfp.local's output to the run log (and to
    `out` as well when `verbose`)."""

    def __init__(self, out: TextIO | None = None, verbose: bool = False, hermetic: bool = True):
        self.out = out or sys.stdout
        self.verbose, self.hermetic = verbose, hermetic
        self.run_log: Path | None = None
        self.run_dir: Path | None = None
        self.failed: TaskFailed | None = None
        self._log: TextIO | None = None
        self._stream: TextIO | None = None
        self._root: Path | None = None
        # A resumed run's first tasks to execute may be a ParallelFor's, in threads: one of
        # them moves the run log.
        self._run_dir_lock = threading.Lock()

    def say(self, text: str) -> None:
        """A line of ours: on `out`, and in the run log."""
        line = f"{time.strftime('%H:%M:%S')}  {text}\n"
        self.out.write(line)
        self.out.flush()
        if self._log is not None:
            self._log.write(line)

    @contextlib.contextmanager
    def attached(self, pipeline_root: str | os.PathLike) -> Iterator["Console"]:
        """Within the block, kfp.local tasks run through `run_task`, and stdout, stderr and the
        root logger go to the run log."""
        from kfp.local import subprocess_task_handler as handler

        from pipelines import hermetic

        self._root = Path(pipeline_root).resolve()
        self._root.mkdir(parents=True, exist_ok=True)
        # Until the run's folder is known (its first task names it), the log waits beside it.
        self.run_log = self._root / f".adanas-run-{os.getpid()}-{time.time_ns()}.log"
        self._log = open(self.run_log, "w", buffering=1)
        self._stream = _Tee(self._log, self.out) if self.verbose else self._log
        root_logger = logging.getLogger()
        handlers = root_logger.handlers[:]
        ours = logging.StreamHandler(self._stream)
        ours.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        root_logger.handlers[:] = [ours]
        original = handler.run_local_subprocess
        handler.run_local_subprocess = self.run_task
        # kfp.local indents `print` while a task runs by swapping builtins.print; tasks of a
        # ParallelFor run in threads, and the swaps of two of them can leave it indented.
        saved_print = builtins.print
        if self.hermetic and not hermetic.namespaces_available():
            self.say("warning: no mount namespace here (needs root or user namespaces): tasks get "
                     "copies of their inputs, but the pipeline root stays visible to them")
        try:
            with contextlib.redirect_stdout(self._stream), contextlib.redirect_stderr(self._stream):
                yield self
        finally:
            handler.run_local_subprocess = original
            builtins.print = saved_print
            root_logger.handlers[:] = handlers
            self._log.close()
            self._log = None

    def _found_run_dir(self, task: Task) -> None:
        with self._run_dir_lock:
            if self.run_dir is not None or self._root is None:
                return
            try:
                relative = task.root.resolve().relative_to(self._root)
            except ValueError:
                return
            run_dir = self._root / relative.parts[0]
            run_dir.mkdir(parents=True, exist_ok=True)
            target = run_dir / RUN_LOG
            os.replace(self.run_log, target)   # the open file keeps writing, now under its new name
            self.run_log, self.run_dir = target, run_dir

    def run_task(self, full_command: list[str], env_vars: dict[str, str] | None = None) -> int:
        """kfp.local's run_local_subprocess, reported: start and end lines, the task's output to
        its task.log and the run log."""
        from pipelines import hermetic

        task = Task.parse(full_command)
        self._found_run_dir(task)
        task.root.mkdir(parents=True, exist_ok=True)
        log_path = task.root / TASK_LOG
        plan = task.plan()
        self.say(f"start  {task.label()}" + (f"  ({plan})" if plan else ""))
        with open(log_path, "w") as task_log:
            def output(line: str) -> None:
                task.lines.append(line)
                task_log.write(line)
                (self._stream or sys.stdout).write(line)

            if self.hermetic:
                code = hermetic.run_task(full_command, str(self._root), env_vars, output)
            else:
                code = _run_plain(full_command, env_vars, output)
        seconds = time.perf_counter() - task.started
        if code == 0:
            try:
                result = task.result()
            except Exception as e:  # noqa: BLE001 - a summary must never fail the run
                result = f"(no summary: {type(e).__name__}: {e})"
            self.say(f"done   {task.label()}  {seconds:.1f}s" + (f"  {result}" if result else ""))
        else:
            cause = last_exception(task.lines) or f"exit status {code}"
            self.failed = TaskFailed(task.root.name, cause, log_path)
            self.say(f"FAILED {task.label()}  {seconds:.1f}s  {cause}")
        return code


def _run_plain(full_command: list[str], env_vars: dict[str, str] | None,
               output: Callable[[str], None]) -> int:
    """What kfp.local's runner does, the lines going to `output`."""
    env = {**os.environ, **env_vars} if env_vars else None
    with subprocess.Popen(full_command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1, env=env) as process:
        assert process.stdout is not None
        for line in iter(process.stdout.readline, ""):
            output(line)
        return process.wait()
