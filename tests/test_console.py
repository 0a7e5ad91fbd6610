"""`adanas run` through kfp.local: one line per task start and end, kfp.local's output in the
run's log, the report and data preview pages, TensorBoard curves, and a failing task ending the
run with one line and exit status 1."""

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import tiny_config_dict
from pipelines import cli
from pipelines.console import last_exception
from test_curves import _scalars

pytestmark = pytest.mark.slow

TASK_LINE = re.compile(r"^\d\d:\d\d:\d\d  (start |done  ) ")


def test_last_exception_line():
    out = ["Traceback (most recent call last):\n", '  File "x.py", line 1\n',
           "adanas.data.DataError: bad: images\n", "\n", "[KFP] done\n"]
    assert last_exception(out) == "adanas.data.DataError: bad: images"
    assert last_exception(["all fine\n"]) is None


def test_a_quiet_run_prints_task_lines_the_table_and_where_things_are(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "")
    d = tiny_config_dict()
    d["training"] = {"batch_size": 16, "train_epochs": 2, "tensorboard": True}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(d))
    root = tmp_path / "runs"
    assert cli.main(["run", "--config", str(tmp_path / "c.yaml"), "--pipeline-root", str(root)]) == 0
    out = capsys.readouterr().out
    head, _, tail = out.partition("| iter |")
    lines = [line for line in head.splitlines() if line.strip()]
    assert lines[0].startswith("AdaNAS: running 'adanas-tiny' locally")
    task_lines = lines[1:-1]
    assert all(TASK_LINE.match(line) for line in task_lines), task_lines
    assert lines[-1].startswith("kfp.local's log: ")
    # prepare, 2 x (generate, 2 train, select), evaluate: a start and an end line each.
    assert len(task_lines) == 2 * (1 + 2 * 4 + 1)
    trained = [line for line in task_lines if line[10:].startswith("done   iteration") and " train " in line]
    assert len(trained) == 4
    assert all(re.search(r"train i\d_c\d cnn\(\d@\d\)  \d+\.\ds  epochs 2/2, val error \d+\.\d\d%$", line)
               for line in trained), trained
    assert any("start  iteration 1  train i1_c0" in line and "(2 epochs planned)" in line for line in task_lines)
    assert re.search(r"done   evaluate  \d+\.\ds  test error", head)
    # kfp.local's own output is in the run's log, not on the terminal.
    assert "Executing task" not in out and "KFP Executor" not in out
    (run,) = [p for p in root.iterdir() if p.name.startswith("adanas-")]
    log = (run / "run.log").read_text()
    assert "Executing task" in log and "KFP Executor" in log
    assert (run / "prepare-dataset" / "task.log").read_text().count("Loading KFP component") == 1
    # The pages, at the top of the run's folder, and their paths printed.
    for page in ("report.html", "data-preview.html"):
        assert str(run / page) in tail and (run / page).read_text().startswith("<!DOCTYPE html>")
    assert "Calibration (test): expected calibration error" in tail
    # TensorBoard: every candidate's curves under the run's folder, as `tensorboard --logdir` sees them.
    runs = _scalars(run)
    names = {Path(r).parts[-2] for r in runs}
    assert names == {"i0_c0", "i0_c1", "i1_c0", "i1_c1"}
    assert all(len(tags["epoch_loss"]) == 2 for tags in runs.values())


def test_a_failing_task_ends_the_run_with_one_line_and_status_1(tmp_path, capsys):
    import tensorflow as tf
    images = tmp_path / "images"
    for split, label, size in (("train", "a", 8), ("train", "b", 10), ("test", "a", 8), ("test", "b", 8)):
        (images / split / label).mkdir(parents=True)
        for i in range(3):
            pixels = np.full((size, size, 3), 30 * i, np.uint8)
            tf.io.write_file(str(images / split / label / f"{i}.png"), tf.io.encode_png(pixels))
    root = tmp_path / "runs"
    code = cli.main(["run", "--set", "dataset.name=folder", "--set", f"dataset.data_dir={images}",
                     "--set", "augmentation.cutout=2", "--pipeline-root", str(root)])
    out, err = capsys.readouterr()
    assert code == 1
    (line,) = err.strip().splitlines()
    (run,) = [p for p in root.iterdir() if p.name.startswith("adanas-")]
    task_log = run / "prepare-dataset" / "task.log"
    assert line.startswith("adanas: task prepare-dataset failed: adanas.data.DataError: ")
    assert "inconsistent image shapes" in line and line.endswith(f"(its output: {task_log})")
    assert "Traceback" in task_log.read_text()
    assert "Traceback" not in out + err
    assert re.search(r"FAILED prepare-dataset  \d+\.\ds  adanas.data.DataError", out)


def test_parallel_tasks_that_find_the_run_folder_together_move_the_run_log_once(tmp_path, monkeypatch):
    """A resumed run whose first task to execute is in a ParallelFor: its tasks start in threads
    and each would move the run log into the run folder (the second move used to fail the task)."""
    import io
    import threading
    import time
    from types import SimpleNamespace

    from pipelines import console as console_module
    real_replace = console_module.os.replace

    def slow_replace(src, dst):     # widens the window in which both threads could move it
        time.sleep(0.2)
        real_replace(src, dst)

    monkeypatch.setattr(console_module.os, "replace", slow_replace)
    con = console_module.Console(out=io.StringIO())
    errors, start = [], threading.Barrier(2)

    def first_task_starts(name):
        start.wait()
        try:
            con._found_run_dir(SimpleNamespace(root=tmp_path / "run-1" / name))
        except Exception as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)

    with con.attached(tmp_path):
        threads = [threading.Thread(target=first_task_starts, args=(n,)) for n in ("train-a", "train-b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        con.say("after the move")
    assert errors == []
    assert con.run_log == tmp_path / "run-1" / console_module.RUN_LOG
    assert "after the move" in con.run_log.read_text()
    assert not list(tmp_path.glob(".adanas-run-*.log"))
