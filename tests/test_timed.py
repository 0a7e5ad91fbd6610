"""Budgeted training by the clock (adanas.timed): the share's end and progress, the learning
rate against hand-computed values, the stop, and a resumed schedule and share."""

import math
import time
from types import SimpleNamespace

import numpy as np
import pytest

from adanas import checkpoints, timed
from conftest import Killed, killing_after_epoch, tiny_config_dict


def test_the_share_ends_its_reserve_before_the_budget_and_progress_is_its_elapsed_fraction():
    # 900 images to predict in batches of 30 at 0.03 s a step: 30 x 0.03 / 3 = 0.3 s, plus the save.
    share = timed.Share(start=100.0, budget_seconds=60.0, predicted_images=900, batch=30)
    assert share.reserve(0.03) == pytest.approx(0.3 + timed.SAVE_RESERVE_SECONDS)
    end = 160.0 - 0.3 - timed.SAVE_RESERVE_SECONDS
    assert share.end(0.03) == pytest.approx(end)
    # Training starts 10 s into the task (loading, building): that time is the task's, not training's.
    assert share.progress(110.0, 0.03) == 0.0
    assert share.progress(110.0 + (end - 110.0) / 4, 0.03) == pytest.approx(0.25)
    assert share.progress(end + 5.0, 0.03) == 1.0
    # A slower pace keeps more for the logits: the same instant is further along.
    assert share.progress(130.0, 0.3) > share.progress(130.0, 0.03)


def test_a_resumed_share_spreads_what_was_left_of_the_schedule_over_its_new_time():
    share = timed.Share(start=0.0, budget_seconds=20.0 + timed.SAVE_RESERVE_SECONDS, predicted_images=0,
                        batch=1, resumed_progress=0.6)
    assert share.progress(0.0, 0.1) == pytest.approx(0.6)
    assert share.progress(10.0, 0.1) == pytest.approx(0.6 + 0.4 * 0.5)
    assert share.progress(20.0, 0.1) == 1.0


def test_the_learning_rate_follows_the_progress_variable():
    progress = timed.progress_variable()
    lr = timed.learning_rate(0.1, warmup_steps=0, decay=True, progress=progress)
    for p in (0.0, 0.25, 0.5, 1.0):
        progress.assign(p)
        # 0.1 x (1 + cos(pi p)) / 2: 0.1, 0.0853553, 0.05, 0
        assert float(lr(1000)) == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * p)), abs=1e-7)
    progress.assign(0.5)
    warm = timed.learning_rate(0.1, warmup_steps=100, decay=True, progress=progress)
    assert float(warm(25)) == pytest.approx(0.1 * 0.25 * 0.5)   # a quarter through warm-up, halfway down
    flat = timed.learning_rate(0.1, warmup_steps=0, decay=False, progress=progress)
    assert float(flat(5)) == pytest.approx(0.1)


def test_the_clock_sets_progress_each_step_and_stops_training_when_the_share_is_spent(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(timed.time, "perf_counter", lambda: now[0])
    share = timed.Share(start=0.0, budget_seconds=10.0 + timed.SAVE_RESERVE_SECONDS, predicted_images=0, batch=1)
    progress = timed.progress_variable()
    drop_path = SimpleNamespace(progress=timed.progress_variable())
    clock = timed.callback("c", share, progress, drop_path)
    model = SimpleNamespace(stop_training=False)
    clock.set_model(model)
    clock.on_train_begin()
    seen = []
    while not model.stop_training:
        clock.on_train_batch_begin(0)
        seen.append(float(progress.numpy()))
        assert float(drop_path.progress.numpy()) == seen[-1]
        now[0] += 1.0                 # a step takes 1 s
        clock.on_train_batch_end(0)
    assert len(seen) == 10            # 10 s of training, then the share is spent
    np.testing.assert_allclose(seen, np.arange(10) / 10)


@pytest.mark.slow
def test_a_budgeted_candidate_anneals_to_zero_and_stops_by_the_clock(tmp_path, digits_dir):
    import keras

    from adanas import config, train
    cfg = config.from_dict(tiny_config_dict()).training
    spec = {"name": "c", "family": "cnn", "arch": {"num_layers": 1, "filters": 4}, "arch_str": "cnn(1@4)",
            "iteration": 0, "seed": 3, "budget_seconds": 8.0}
    lrs = []

    class Rate(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            lrs.append(float(self.model.optimizer.learning_rate))

    callbacks = train.fit_callbacks
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(train, "fit_callbacks", lambda *a, **k: callbacks(*a, **k) + [Rate()])
        metrics = train.train_candidate(spec, cfg, digits_dir, tmp_path / "c")
    # The task kept to its share (a step or two and the save over at most), trained well past
    # one epoch, and its learning rate fell from the peak to about 0 by the clock.
    assert metrics["task_seconds"] <= 8.0 + 1.5
    assert metrics["train_steps"] == len(lrs) and metrics["epochs"] >= 3
    assert lrs[0] == pytest.approx(cfg.initial_learning_rate, rel=0.05)
    assert lrs[-1] < 0.05 * cfg.initial_learning_rate
    assert not (tmp_path / "c" / "backup").exists()


def test_a_checkpoint_keeps_the_values_asked_for(tmp_path):
    import keras
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    assert checkpoints.saved_extra(tmp_path) == {}
    checkpoints.save(model, tmp_path, epoch=1, loss=0.5, extra={"progress": 0.25})
    checkpoints.save(model, tmp_path, epoch=2, loss=0.4, extra={"progress": 0.5})
    assert checkpoints.saved_extra(tmp_path) == {"progress": 0.5}
    assert checkpoints.restore(model, tmp_path) == (2, 0.4)


@pytest.mark.slow
def test_a_killed_budgeted_candidate_resumes_its_schedule_where_it_was(tmp_path, digits_dir, monkeypatch):
    import keras

    from adanas import config, train
    cfg = config.from_dict({**tiny_config_dict(), "training": {"checkpoint_min_seconds": 0}}).training
    spec = {"name": "c", "family": "cnn", "arch": {"num_layers": 1, "filters": 4}, "arch_str": "cnn(1@4)",
            "iteration": 0, "seed": 3, "budget_seconds": 6.0}
    first_rate = []

    class FirstRate(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if not first_rate:
                first_rate.append(float(self.model.optimizer.learning_rate))

    killing_after_epoch(train, monkeypatch, 6)
    with pytest.raises(Killed):
        train.train_candidate(spec, cfg, digits_dir, tmp_path / "c")
    monkeypatch.undo()
    kept = checkpoints.saved_extra(tmp_path / "c" / "backup")
    saved, spent = kept["progress"], kept["spent_seconds"]
    assert 0.0 < saved < 1.0 and 0.0 < spent < 6.0
    callbacks = train.fit_callbacks
    monkeypatch.setattr(train, "fit_callbacks", lambda *a, **k: callbacks(*a, **k) + [FirstRate()])
    start = time.perf_counter()
    metrics = train.train_candidate(spec, cfg, digits_dir, tmp_path / "c")
    rerun = time.perf_counter() - start
    # The rerun is given what the first attempt left of the share, not the share again, and the
    # task's time (what search.budget counts) is both attempts'.
    assert rerun <= 6.0 - spent + 1.0
    assert metrics["task_seconds"] == pytest.approx(spent + rerun, abs=0.3)
    assert metrics["earlier_attempts_seconds"] == pytest.approx(spent)
    # The rerun starts at least as far down the cosine as the checkpoint was, not at the peak
    # (the rate is float32 arithmetic: compared to float32 resolution, 1e-6 relative).
    bound = cfg.initial_learning_rate * 0.5 * (1 + math.cos(math.pi * saved))
    assert first_rate[0] <= bound * (1 + 1e-6) < cfg.initial_learning_rate
    assert metrics["epochs_done"] > 6
