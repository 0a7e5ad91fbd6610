"""search.budget: parsing and validation, each candidate's share, the stop, and a real search
that keeps to it."""

import re

import pytest

from adanas import artifacts, budget, config, generators, search
from adanas.config import ConfigError, duration_seconds
from conftest import tiny_config_dict


@pytest.mark.parametrize("value, seconds", [(0.5, 1800.0), (2, 7200.0), ("150s", 150.0),
                                            ("20m", 1200.0), ("1.5h", 5400.0), (" 90S ", 90.0)])
def test_budget_forms(value, seconds):
    assert duration_seconds(value) == seconds
    assert config.from_dict(tiny_config_dict(budget=value)).search.budget_seconds() == seconds


@pytest.mark.parametrize("value, message", [
    ("ten minutes", "search.budget: must be hours (a number) or a string such as '150s'"),
    (-1, "search.budget: must be a positive duration"),
    ("0s", "search.budget: must be a positive duration"),
    ("5s", "search.budget: must be at least 10 s"),
])
def test_bad_budgets_fail_validation(value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.from_dict(tiny_config_dict(budget=value))


def _candidate(task, train, accel=0.0):
    return {"task_seconds": task, "train_seconds": train, "accelerator_seconds": accel}


def test_shares_split_what_is_left_over_the_candidates_left():
    s = config.from_dict(tiny_config_dict(budget="600s", boosting_iterations=3)).search
    assert budget.share(s, 0, []) == (100.0, "")                      # 600 / (3 x 2)
    history = [{"candidates": [_candidate(100, 90), _candidate(80, 70)]}]
    assert budget.used_seconds(history) == 180
    assert budget.share(s, 1, history) == (105.0, "")                 # (600 - 180) / (2 x 2)
    # On GPU/TPU the accelerator time counts, not the task's.
    gpu = [{"candidates": [_candidate(100, 90, accel=200), _candidate(80, 70)]}]
    assert budget.used_seconds(gpu) == 280
    assert budget.share(s, 1, gpu) == (80.0, "")


def test_the_search_stops_when_a_share_is_too_small():
    s = config.from_dict(tiny_config_dict(budget="200s", boosting_iterations=3)).search
    history = [{"candidates": [_candidate(100, 80), _candidate(80, 70)]}]
    # 20 s left over 2 candidates of the last iteration: 10 s each, under twice the 20 s a
    # candidate task spent outside training.
    seconds, reason = budget.share(s, 2, history)
    assert seconds is None
    assert reason == ("budget: 180 s of 200 s used; the 20 s left give each candidate 10.0 s, "
                      "under the 40.0 s a candidate needs")
    assert budget.share(config.from_dict(tiny_config_dict()).search, 2, history) == (None, "")


def test_plan_gives_each_spec_its_share(digits_dir):
    s = config.from_dict(tiny_config_dict(budget="60s", boosting_iterations=2)).search
    specs, reason = generators.plan(s, 0, 0, None, digits_dir)
    assert reason == "" and [sp["budget_seconds"] for sp in specs] == [15.0, 15.0]


@pytest.mark.slow
def test_a_budgeted_search_keeps_to_its_budget(tmp_path):
    cfg = config.from_dict(tiny_config_dict(budget="45s", boosting_iterations=3))
    report, _ = search.run_search(cfg, tmp_path)
    b = report["budget"]
    assert b["given_seconds"] == 45.0
    # Within 15% of it (a task overruns by at most its save and a step or two), and most of it
    # used: the candidates trained for their shares, not for the configured steps.
    assert 0.6 * 45.0 <= b["used_seconds"] <= 1.15 * 45.0
    history = artifacts.ensemble_record(artifacts.last_ensemble(tmp_path))["history"]
    trained = [c for h in history for c in h["candidates"]]
    assert trained and all(c["budget_seconds"] > 0 for c in trained)
    assert min(c["train_steps"] for c in trained) > cfg.training.max_iteration_steps
