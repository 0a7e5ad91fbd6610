"""Long searches end to end through kfp.local, hermetically (each task sees only its declared
inputs): a search extended by one iteration equals the same search run in one go, and a run
killed during training resumes without retraining what it finished, to the same result."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import yaml

from adanas import artifacts, config
from adanas.continuation import WarmStart
from pipelines import hermetic, local_runs
from pipelines.hermetic import namespaces_available
from pipelines.local_run import run_local
from conftest import ROOT, tiny_config_dict

pytestmark = pytest.mark.slow

# Long enough epochs-wise to kill a training in the middle; a checkpoint after every epoch.
TRAINING = {"batch_size": 16, "train_epochs": 30, "max_iteration_steps": None, "checkpoint_min_seconds": 0}
COMPARED = ("iteration", "chosen", "chosen_arch", "ensemble_size", "ensemble_params",
            "validation_error", "test_error", "best_single_test_error")


def _config(iterations: int) -> dict:
    return {**tiny_config_dict(boosting_iterations=iterations), "training": TRAINING}


def _iterations(report):
    return [{k: it[k] for k in COMPARED} for it in report["iterations"]]


@pytest.fixture(scope="module")
def two_iterations(tmp_path_factory):
    """One unbroken 2-iteration run: what the extension starts from and the resumed run ends as."""
    assert namespaces_available(), "hermetic tests need a mount namespace (root or user namespaces)"
    root = tmp_path_factory.mktemp("two") / "root"
    report, _ = run_local(config.from_dict(_config(2)), root, hermetic=True)
    (run,) = artifacts.run_folders(root)
    return root, run, report


def test_extending_two_iterations_by_one_equals_three_in_one_go(two_iterations, tmp_path):
    root, run, two = two_iterations
    ensemble = local_runs.warm_start_folder(run, root)
    record = artifacts.ensemble_record(ensemble)
    assert record["iteration"] == 1 and record["stopped"] == "done: 2 iterations"
    warm = WarmStart.from_record(str(ensemble), record)
    extended, _ = run_local(config.from_dict(_config(1)), tmp_path / "extended", hermetic=True,
                            warm_start=warm)
    one_go, _ = run_local(config.from_dict(_config(3)), tmp_path / "one-go", hermetic=True)

    assert [it["iteration"] for it in extended["iterations"]] == [0, 1, 2]
    assert _iterations(extended)[:2] == _iterations(two)
    assert _iterations(extended) == _iterations(one_go)
    for key in ("test_error", "test_loss", "ensemble_size", "total_params"):
        assert extended[key] == one_go[key], key
    assert [m["name"] for m in extended["members"]] == [m["name"] for m in one_go["members"]]
    # The extension trained iteration 2 only, from the imported ensemble.
    (ext_run,) = artifacts.run_folders(tmp_path / "extended")
    ext = artifacts.read_run_record(ext_run)
    assert ext["warm_start"]["iteration"] == 1
    trained = sorted((t["iteration"], t["candidate"]) for t in ext["tasks"] if "candidate" in t)
    assert trained == [(2, "i2_c0"), (2, "i2_c1")]


def _cli(*args):
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2"))


def test_a_killed_run_resumes_reusing_what_it_finished_and_ends_as_an_unbroken_one(two_iterations, tmp_path):
    _, _, unbroken = two_iterations
    conf = tmp_path / "tiny.yaml"
    conf.write_text(yaml.safe_dump(_config(2)))
    root = tmp_path / "root"

    first = _cli("--config", str(conf), "--pipeline-root", str(root), "--verbose")
    deadline, seen = time.time() + 400, []
    for line in first.stdout:                      # wait until iteration 1 trains, a few epochs in
        seen.append(line)
        m = re.search(r"\[i1_c\d\] epoch (\d+)/", line)
        if m and int(m.group(1)) >= 3:
            break
        assert time.time() < deadline, "iteration 1 never trained:\n" + "".join(seen[-30:])
    else:
        pytest.fail("the run ended before iteration 1 trained:\n" + "".join(seen[-30:]))
    os.killpg(first.pid, signal.SIGKILL)           # the whole `adanas run`: no clean-up at all
    first.wait()

    (run,) = artifacts.run_folders(root)
    record = artifacts.read_run_record(run)
    assert local_runs.state(record) == "interrupted"
    kept = [p for p in hermetic.task_state_dir(root).rglob("backup/epoch-*.weights.h5")]
    assert kept, "the killed training left no checkpoint"

    second = _cli("--resume", run.name, "--pipeline-root", str(root), "--verbose")
    out, _ = second.communicate(timeout=600)
    assert second.returncode == 0, out[-3000:]
    assert "resumed from a checkpoint" in out

    resumed_run = max(artifacts.run_folders(root), key=lambda p: p.name)
    resumed = artifacts.read_run_record(resumed_run)
    assert resumed["resumed_from"] == run.name and resumed["status"] == "succeeded"
    assert resumed["config"] == record["config"]
    ran = resumed["tasks"]
    # Everything the killed run finished came from the cache: the data and all of iteration 0
    # (and iteration 1's generate step); iteration 1 trained again, from its checkpoints.
    assert not any(t["task"].startswith("prepare-dataset") for t in ran)
    assert sorted(t["candidate"] for t in ran if "candidate" in t) == ["i1_c0", "i1_c1"]
    assert not any(t.get("iteration") == 0 for t in ran)
    # ... and it ends where the unbroken run did.
    summary = resumed["summary"]
    assert summary["test_error"] == unbroken["test_error"]
    assert [{k: it[k] for k in ("chosen", "chosen_arch", "validation_error", "test_error")}
            for it in summary["iterations"]] == \
           [{k: it[k] for k in ("chosen", "chosen_arch", "validation_error", "test_error")}
            for it in unbroken["iterations"]]
    assert not list(hermetic.task_state_dir(root).rglob("backup")), "checkpoints outlived their tasks"
