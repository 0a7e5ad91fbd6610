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


def test_a_budget_too_small_for_an_iterations_candidates_fails_validation():
    # 12 s over 3 candidates is 4 s each, under the 5 s a candidate needs: once accepted, and a
    # one-iteration search then failed after its data step.
    for iterations in (1, 3):
        with pytest.raises(ConfigError, match=re.escape(
                "search.budget: 12 s gives each of the first 3 candidates 4.0 s, under the 5 s a "
                "candidate needs: at least 15 s, or fewer candidates_per_iteration")):
            config.from_dict(tiny_config_dict(budget="12s", candidates_per_iteration=3,
                                              boosting_iterations=iterations))
    s = config.from_dict(tiny_config_dict(budget="15s", candidates_per_iteration=3, boosting_iterations=1)).search
    assert budget.share(s, 0, []) == (5.0, "", False)


def _candidate(task, train, accel=0.0, move="base"):
    return {"task_seconds": task, "train_seconds": train, "accelerator_seconds": accel, "move": move}


def test_exploring_iterations_share_their_fraction_and_the_last_finishes_with_the_rest():
    s = config.from_dict(tiny_config_dict(budget="600s", boosting_iterations=3, budget_exploration=0.6)).search
    assert budget.share(s, 0, []) == (90.0, "", False)                # 0.6 x 600 / (2 x 2)
    history = [{"candidates": [_candidate(100, 90), _candidate(80, 70)]}]
    assert budget.used_seconds(history) == 180
    assert budget.share(s, 1, history) == (90.0, "", False)           # planned: the same share
    # On GPU/TPU the accelerator time counts, not the task's. An overrun does not shrink the
    # next exploring share (which candidates are explored must not follow the machine's speed):
    # it comes out of the finishing share.
    gpu = [{"candidates": [_candidate(100, 90, accel=200), _candidate(80, 70)]}]
    assert budget.used_seconds(gpu) == 280
    assert budget.share(s, 1, gpu) == (90.0, "", False)               # 280 + 180 <= 600 - 120
    # The last iteration: one candidate, with all that is left.
    history.append({"candidates": [_candidate(90, 80), _candidate(90, 80)]})
    assert budget.share(s, 2, history) == (240.0, "", True)           # 600 - 360
    # Once it finished, the search stops.
    history.append({"candidates": [_candidate(240, 230, move="continue")]})
    seconds, reason, _ = budget.share(s, 3, history)
    assert seconds is None and reason == "budget: 600 s of 600 s used; the best tower was trained on with the rest"


def test_an_iteration_that_explored_no_tower_that_learned_is_the_last_to_explore():
    s = config.from_dict(tiny_config_dict(budget="600s", boosting_iterations=4, budget_exploration=0.6)).search
    explored = {"candidates": [_candidate(60, 50), _candidate(60, 50)]}
    learned = [dict(explored, to_finish={"name": "i0_c1", "arch": "cnn(3@16)", "learned": True})]
    assert budget.share(s, 1, learned) == (60.0, "", False)          # 0.6 x 600 / (3 x 2)
    unlearned = [dict(explored, to_finish={"name": "i0_c1", "arch": "cnn(3@16)", "learned": False})]
    assert budget.nothing_learned(unlearned) and not budget.nothing_learned(learned)
    assert budget.share(s, 1, unlearned) == (480.0, "", True)        # 600 - 120: it finishes now
    # Ensembles written before the flag was recorded explore as planned; so do unbudgeted searches.
    assert not budget.nothing_learned([explored]) and not budget.nothing_learned([])
    assert budget.share(s, 1, [explored]) == (60.0, "", False)
    # A search that finished on the grown tower has finished.
    unlearned.append({"candidates": [_candidate(480, 470, move=budget.FINISH_GROWN)]})
    assert budget.share(s, 2, unlearned)[1].startswith("budget: 600 s of 600 s used")


def test_exploring_shares_are_raised_to_the_floor_and_overruns_end_exploring_early():
    s = config.from_dict(tiny_config_dict(budget="600s", boosting_iterations=4, budget_exploration=0.3)).search
    history = [{"candidates": [_candidate(100, 70), _candidate(60, 50)]}]
    # Planned: 0.3 x 600 / (3 x 2) = 30 s, under twice the 30 s a candidate task spent outside
    # training: raised to 60 s. 160 + 2 x 60 leaves the finishing more than half its planned
    # 420 s (600 - 210 = 390 >= 280).
    assert budget.share(s, 1, history) == (60.0, "", False)
    # Two slow candidates later (360 s used), another 2 x 60 s would eat into that half
    # (480 > 390): iteration 2 finishes instead, with the rest.
    history.append({"candidates": [_candidate(100, 70), _candidate(100, 70)]})
    assert budget.share(s, 2, history) == (240.0, "", True)
    # A retried candidate's earlier attempts (50 s here) are not overhead: 10 s, so a 20 s floor.
    retried = dict(_candidate(150, 90), earlier_attempts_seconds=50.0)
    assert budget.floor_seconds([{"candidates": [retried]}]) == 20.0
    assert budget.used_seconds([{"candidates": [retried]}]) == 150.0
    # The first candidates get at least the least a candidate needs (5 s), budget permitting.
    tiny = config.from_dict(tiny_config_dict(budget="20s", boosting_iterations=3)).search
    assert budget.share(tiny, 0, []) == (5.0, "", False)
    small = config.from_dict(tiny_config_dict(budget="12s", boosting_iterations=3)).search
    assert budget.share(small, 0, []) == (5.0, "", False)             # 10 > 12 - 4.8, still 5 s
    # One iteration: its candidates share everything.
    one = config.from_dict(tiny_config_dict(budget="600s", boosting_iterations=1)).search
    assert budget.share(one, 0, []) == (300.0, "", False)


def test_the_same_candidates_are_explored_on_a_slow_and_a_fast_machine():
    # The quality suite's setting (110 s, 3 iterations of 2, 0.2 exploring): on a slow hour the
    # first two tasks overran their 5.5 s shares by 2 s each; the grown towers of iteration 1
    # are still explored, with the same share, and the finishing gets what is left.
    s = config.from_dict(tiny_config_dict(budget="110s", boosting_iterations=3)).search
    fast = [{"candidates": [_candidate(4.9, 4.0), _candidate(4.9, 4.0)]}]
    slow = [{"candidates": [_candidate(7.5, 5.0), _candidate(7.5, 5.0)]}]
    assert budget.share(s, 1, fast) == budget.share(s, 1, slow) == (5.5, "", False)
    assert budget.share(s, 2, slow + [{"candidates": [_candidate(7.5, 5.0)] * 2}]) == (80.0, "", True)


def test_the_search_stops_when_a_share_is_too_small():
    s = config.from_dict(tiny_config_dict(budget="200s", boosting_iterations=3)).search
    history = [{"candidates": [_candidate(100, 80), _candidate(80, 70)]}]
    # 20 s left for the last iteration, under twice the 20 s a candidate task spent outside
    # training.
    seconds, reason, _ = budget.share(s, 2, history)
    assert seconds is None
    assert reason == ("budget: 180 s of 200 s used; the 20 s left give each candidate 20.0 s, "
                      "under the 40.0 s a candidate needs")
    assert budget.share(config.from_dict(tiny_config_dict()).search, 2, history) == (None, "", False)


def test_a_share_is_wall_time_divided_by_the_accelerators_a_task_holds():
    assert budget.wall_seconds(90.0, 0) == 90.0      # CPU: the budget counts wall-clock time
    assert budget.wall_seconds(90.0, 1) == 90.0
    assert budget.wall_seconds(90.0, 4) == 22.5      # 4 GPUs for 22.5 s spend 90 GPU-seconds


def test_after_finishing_on_its_last_iteration_the_search_says_the_budget_ended_it(tmp_path, digits_dir):
    s = config.from_dict(tiny_config_dict(budget="60s", boosting_iterations=2)).search
    history = [{"iteration": 0, "improvement": None, "candidates": [_candidate(6, 5), _candidate(6, 5)]},
               {"iteration": 1, "improvement": 0.1, "candidates": [_candidate(47, 45, move="continue")]}]
    members = [{"spec": {"name": "i1_c0", "family": "cnn", "arch": {"num_layers": 1, "filters": 4}},
                "metrics": {"params": 100}}]
    artifacts.write_ensemble(tmp_path / "ens", {"members": members, "history": history}, {}, {})
    assert generators.plan(s, 0, 2, tmp_path / "ens", digits_dir) == (
        [], "budget: 59 s of 60 s used; the best tower was trained on with the rest")
    # Where no tower had learned and the grown one did not fit, the deepest was trained on: said so.
    history[0]["to_finish"] = {"name": "i0_c1", "arch": "cnn(2@4)", "learned": False}
    assert budget.finished(s, history) == (
        "budget: 59 s of 60 s used; no explored tower had learned; the deepest was trained on with the rest")
    # Without a budget, the iteration count is the reason, as before.
    plain = config.from_dict(tiny_config_dict(boosting_iterations=2)).search
    assert generators.plan(plain, 0, 2, tmp_path / "ens", digits_dir) == ([], "done: 2 iterations")


def test_early_stopping_ends_the_exploring_and_the_rest_of_the_budget_finishes(tmp_path, digits_dir):
    tower = {"name": "i1_c1", "family": "cnn", "arch": {"num_layers": 2, "filters": 4},
             "arch_str": "cnn(2@4)", "move": "deeper", "iteration": 1, "seed": 10101}
    unit = {"spec": tower, "metrics": {"params": 100, "validation_loss": 0.5}}
    explored = [_candidate(6, 5), _candidate(6, 5)]
    history = [{"iteration": 0, "improvement": None, "candidates": explored},
               {"iteration": 1, "improvement": 0.001, "candidates": explored,
                "to_finish": {"name": "i1_c1", "arch": "cnn(2@4)", "learned": True}}]
    artifacts.write_ensemble(tmp_path / "ens", {"members": [unit], "history": history,
                                                "best_single": unit, "to_finish": unit}, {}, {})
    s = config.from_dict(tiny_config_dict(budget="600s", boosting_iterations=4,
                                          early_stopping_margin=0.01)).search
    # Iteration 1 lowered the objective by less than the margin: no more exploring, but the 576 s
    # left train the best tower on (before 2026-12-01 the search stopped with them unspent).
    specs, reason = generators.plan(s, 0, 2, tmp_path / "ens", digits_dir)
    assert reason == "" and len(specs) == 1
    assert specs[0]["move"] == budget.FINISH and specs[0]["warm_from"] == "i1_c1"
    assert specs[0]["budget_seconds"] == 576.0
    # Without a budget, early stopping stops the search, as before.
    plain = config.from_dict(tiny_config_dict(boosting_iterations=4, early_stopping_margin=0.01)).search
    assert generators.plan(plain, 0, 2, tmp_path / "ens", digits_dir)[1].startswith("early stop")
    # The finishing iteration ends the search with the budget's reason, even where it raised the
    # objective (once reported as an early stop).
    history.append({"iteration": 2, "improvement": -0.2,
                    "candidates": [_candidate(570, 560, move=budget.FINISH)]})
    artifacts.write_ensemble(tmp_path / "ens2", {"members": [unit], "history": history,
                                                 "best_single": unit, "to_finish": unit}, {}, {})
    assert generators.plan(s, 0, 3, tmp_path / "ens2", digits_dir) == (
        [], "budget: 594 s of 600 s used; the best tower was trained on with the rest")


def test_a_failed_candidate_counts_what_it_spent():
    s = config.from_dict(tiny_config_dict(budget="600s", boosting_iterations=3, budget_exploration=0.6)).search
    history = [{"candidates": [_candidate(100, 90)],
                "failed": [{"name": "i0_c1", "type": "FloatingPointError", "message": "diverged",
                            "task_seconds": 85.0, "accelerator_seconds": 0.0}]}]
    assert budget.used_seconds(history) == 185.0
    # Records written before failures carried their time count them as nothing.
    assert budget.used_seconds([{"candidates": [_candidate(100, 90)],
                                 "failed": [{"name": "i0_c1", "type": "E", "message": ""}]}]) == 100.0


@pytest.mark.parametrize("value", [0, 1, 1.5, -0.1])
def test_bad_exploration_fractions_fail_validation(value):
    with pytest.raises(ConfigError, match=re.escape("search.budget_exploration: must be in (0, 1)")):
        config.from_dict(tiny_config_dict(budget="60s", budget_exploration=value))


def test_plan_gives_each_spec_its_share(digits_dir):
    s = config.from_dict(tiny_config_dict(budget="60s", boosting_iterations=2)).search
    specs, reason = generators.plan(s, 0, 0, None, digits_dir)
    assert reason == "" and [sp["budget_seconds"] for sp in specs] == [6.0, 6.0]   # 0.2 x 60 / 2


def test_the_finishing_candidate_is_the_best_tower_so_far_from_its_weights():
    best = {"name": "i0_c1", "family": "cnn", "arch": {"num_layers": 2, "filters": 4}, "arch_str": "cnn(2@4)",
            "move": "deeper", "iteration": 0, "seed": 10001, "budget_seconds": 9.0, "params": 500}
    spec = generators.finishing_spec({"spec": best, "metrics": {"validation_loss": 0.3}}, seed=1, iteration=1)
    assert spec == {"name": "i1_c0", "family": "cnn", "arch": {"num_layers": 2, "filters": 4},
                    "arch_str": "cnn(2@4)", "move": "continue", "iteration": 1, "seed": 10100,
                    "warm_from": "i0_c1"}


@pytest.mark.parametrize("family, arch, shape", [
    ("cnn", {"num_layers": 2, "filters": 4, "dropout": 0.2}, (8, 8, 1)),
    # NASNet: drop path and the auxiliary head are in the training model only.
    ("nasnet", {"cells_per_stack": 1, "penultimate_filters": 24, "use_aux_head": True,
                "drop_path_keep_prob": 0.7}, (32, 32, 3)),
])
def test_warm_start_copies_a_saved_towers_weights_into_a_new_training_model(tmp_path, family, arch, shape):
    import keras
    import numpy as np

    from adanas import models, train
    spec = {"name": "t", "family": family, "arch": arch, "arch_str": "t", "seed": 0}
    first = models.build_model(spec, shape, 10, 0.0)
    rng = np.random.default_rng(0)
    first.set_weights([rng.normal(size=w.shape).astype("float32") * 0.1 for w in first.get_weights()])
    saved = train.servable(models.family_of_spec(spec), first)
    saved.save(tmp_path / "model.keras")
    x = rng.integers(0, 255, (4, *shape)).astype("float32")

    second = models.build_model(spec, shape, 10, 0.0)
    fresh = np.asarray(train.servable(models.family_of_spec(spec), second)(x))
    train.warm_start(second, tmp_path / "model.keras")
    expected = np.asarray(keras.saving.load_model(tmp_path / "model.keras")(x))
    assert not np.allclose(fresh, expected)
    np.testing.assert_allclose(np.asarray(train.servable(models.family_of_spec(spec), second)(x)),
                               expected, rtol=1e-5, atol=1e-5)
    other = models.build_model({**spec, "arch": {**arch, **({"filters": 8} if family == "cnn" else
                                                           {"penultimate_filters": 48})}}, shape, 10, 0.0)
    with pytest.raises(ValueError, match="has no counterpart in the model built from the spec"):
        train.warm_start(other, tmp_path / "model.keras")


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
    # 0.2 x 45 s explores (raised to 5 s per candidate, as long as the finishing keeps half its
    # planned 36 s); then the best tower so far trains on from its weights with the rest, alone
    # (or, if none has learned, the one grown from the deepest), and the search stops.
    last = history[-1]["candidates"]
    assert len(last) == 1 and last[0]["move"] in budget.FINISHING and len(history) <= 3
    assert all(c["budget_seconds"] >= 5.0 for h in history[:-1] for c in h["candidates"])
    assert last[0]["budget_seconds"] >= 0.8 * 45.0 / 2
    assert report["stopped"] == budget.finished(cfg.search, history)
    assert report["stopped"].endswith("the best tower was trained on with the rest" if last[0]["move"] == budget.FINISH
                                      else "the one grown from the deepest was trained with the rest")
