"""A training task killed mid-way resumes from its last epoch when it is run again."""

import json
import os
import signal
import subprocess
import sys
import time

from adanas import config, generators
from conftest import ROOT, tiny_config_dict

SCRIPT = """
import json, logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s", force=True)
from adanas import config, train
spec, training, dataset, out = json.loads(sys.argv[1])
train.train_candidate(spec, config.section_from_json("training", training), dataset, out)
print("FINISHED", flush=True)
"""


def _start(args):
    return subprocess.Popen([sys.executable, "-c", SCRIPT, json.dumps(args)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))


def test_killed_training_resumes_and_loses_at_most_one_epoch(digits_dir, tmp_path):
    # Every epoch is checkpointed (these epochs last well under the default 10 s minimum).
    cfg = config.from_dict({**tiny_config_dict(), "training": {"train_epochs": 40, "batch_size": 8,
                                                             "checkpoint_min_seconds": 0}})
    spec = generators.propose(cfg.search, 0, 0, None)[0]
    args = [spec, config.section_json(cfg, "training"), str(digits_dir), str(tmp_path / "out")]

    first = _start(args)
    done = 0
    deadline = time.time() + 240
    for line in first.stdout:                      # wait for a few finished epochs
        if "] epoch " in line:
            done = int(line.split("] epoch ")[1].split("/")[0])
            if done >= 3:
                break
        assert time.time() < deadline, "training did not progress"
    first.send_signal(signal.SIGKILL)              # a preempted node: no clean-up at all
    first.wait()
    assert (tmp_path / "out" / "backup").exists()

    second = _start(args)
    out, _ = second.communicate(timeout=600)
    assert second.returncode == 0 and "FINISHED" in out
    assert "resumed from a checkpoint" in out
    epochs = [int(ln.split("] epoch ")[1].split("/")[0]) for ln in out.splitlines() if "] epoch " in ln]
    # It picks up after the last epoch saved before the kill (at most one epoch lost) ...
    assert done <= epochs[0] <= done + 2 and epochs[-1] == 40
    # ... and cleans its checkpoint once the candidate is complete.
    assert not (tmp_path / "out" / "backup").exists()
    assert json.loads((tmp_path / "out" / "candidate.json").read_text())["metrics"]["train_steps"] > 0


def test_checkpoints_are_at_most_as_frequent_as_configured(tmp_path, monkeypatch):
    from adanas import checkpoints, train
    clock = [100.0]
    monkeypatch.setattr(checkpoints.time, "monotonic", lambda: clock[0])
    saved = []
    monkeypatch.setattr(checkpoints, "save", lambda model, folder, epoch, loss, extra: saved.append(epoch))
    backup = train.fit_callbacks("c", 10, 100, None, tmp_path / "backup", checkpoint_min_seconds=10)[0]
    backup.on_train_begin()
    for epoch, seconds in enumerate([3, 3, 3, 3, 12, 1]):  # time spent in each epoch
        clock[0] += seconds
        backup.on_epoch_end(epoch)
    assert saved == [4, 5]


def test_a_task_killed_after_training_resumes_without_training_again(digits_dir, tmp_path, monkeypatch):
    # Killed while it writes its logits (minutes on large data): its checkpoints must outlive
    # training, so the retry only writes the outputs.
    import keras
    import pytest

    from adanas import artifacts, train
    from conftest import Killed
    cfg = config.from_dict({**tiny_config_dict(), "training": {"train_epochs": 3, "checkpoint_min_seconds": 0}})
    spec = generators.propose(cfg.search, 0, 0, None)[0]
    write = artifacts.write_candidate_logits

    def killed(*args, **kwargs):
        raise Killed()

    monkeypatch.setattr(artifacts, "write_candidate_logits", killed)
    with pytest.raises(Killed):
        train.train_candidate(spec, cfg.training, digits_dir, tmp_path / "c")
    monkeypatch.setattr(artifacts, "write_candidate_logits", write)
    steps = []

    class Count(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            steps.append(batch)

    callbacks = train.fit_callbacks
    monkeypatch.setattr(train, "fit_callbacks", lambda *a, **k: callbacks(*a, **k) + [Count()])
    metrics = train.train_candidate(spec, cfg.training, digits_dir, tmp_path / "c")
    assert steps == [] and metrics["epochs_done"] == 3 and metrics["earlier_attempts_seconds"] > 0
    assert metrics["train_steps"] > 0                    # the first attempt's, restored
    assert not (tmp_path / "c" / "backup").exists()      # removed once the outputs are written
