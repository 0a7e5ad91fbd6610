"""When the search goes on: iteration count, early stopping margin, parameter budget."""

import pytest

from adanas import artifacts, config, generators
from conftest import tiny_config_dict


def _record(tmp_path, improvement, params=(100,)):
    d = tmp_path / "ens"
    members = [{"spec": {"name": f"m{i}", "family": "cnn", "arch": {"num_layers": 1, "filters": 4}},
                "metrics": {"params": p}} for i, p in enumerate(params)]
    history = [{"iteration": 0, "improvement": None}, {"iteration": 1, "improvement": improvement}]
    artifacts.write_ensemble(d, {"members": members, "history": history}, {}, {})
    return d


def test_early_stopping_margin(tmp_path, digits_dir):
    search = config.from_dict(tiny_config_dict(boosting_iterations=5, early_stopping_margin=0.01)).search
    specs, reason = generators.plan(search, 0, 2, _record(tmp_path, 0.5), digits_dir)
    assert len(specs) == 2 and reason == ""
    specs, reason = generators.plan(search, 0, 2, _record(tmp_path, 0.001), digits_dir)
    assert specs == [] and reason.startswith("early stop: iteration 1 lowered the objective by 0.001")
    assert generators.plan(search, 0, 5, _record(tmp_path, 0.5), digits_dir) == ([], "done: 5 iterations")


def test_parameter_budget(tmp_path, digits_dir):
    # Tiny CNNs on 8x8 digits: cnn(2@4) (the deeper candidate) is bigger than cnn(1@6) (wider).
    sizes = generators.candidate_params(
        generators.propose(config.from_dict(tiny_config_dict()).search, 0, 1,
                           {"family": "cnn", "arch": {"num_layers": 1, "filters": 4}}), digits_dir)
    small, big = min(sizes), max(sizes)
    budget = 100 + (small + big) // 2      # room for the smaller candidate only
    search = config.from_dict(tiny_config_dict(max_ensemble_params=budget)).search
    specs, reason = generators.plan(search, 0, 1, _record(tmp_path, 0.5), digits_dir)
    assert [s["params"] for s in specs] == [small]
    search = config.from_dict(tiny_config_dict(max_ensemble_params=100 + small - 1)).search
    specs, reason = generators.plan(search, 0, 1, _record(tmp_path, 0.5), digits_dir)
    assert specs == [] and reason.startswith("budget: the ensemble has 100 params")
    # A first candidate that cannot fit is a configuration error, said before any training.
    with pytest.raises(ValueError, match="smaller than every first candidate"):
        generators.plan(search.__class__(**{**search.__dict__, "max_ensemble_params": 10}), 0, 0, None, digits_dir)


def test_should_continue_records_why_the_search_stopped(tmp_path, digits_dir):
    search = config.from_dict(tiny_config_dict(boosting_iterations=2)).search
    ens = _record(tmp_path, 0.5)
    assert generators.should_continue(search, 0, 2, ens, digits_dir) is False
    assert artifacts.ensemble_record(ens)["stopped"] == "done: 2 iterations"
    with pytest.raises(ValueError, match="should not run"):
        generators.generate_step(search, 0, 2, ens, digits_dir)


def test_generate_reuses_the_plan_select_recorded(tmp_path, digits_dir, monkeypatch):
    search = config.from_dict(tiny_config_dict(boosting_iterations=5, max_ensemble_params=10**6)).search
    ens = _record(tmp_path, 0.5)
    assert generators.should_continue(search, 0, 2, ens, digits_dir) is True
    planned = artifacts.ensemble_record(ens)["next"]["specs"]
    # The generate task must not build the candidates again to count their parameters ...
    monkeypatch.setattr(generators, "candidate_params", lambda *a: pytest.fail("rebuilt"))
    assert generators.generate_step(search, 0, 2, ens, digits_dir) == planned
    assert all("params" in s for s in planned)
    # ... but a different search (or seed) plans afresh.
    other = config.from_dict(tiny_config_dict(boosting_iterations=5)).search
    assert [s["name"] for s in generators.generate_step(other, 0, 2, ens, digits_dir)] == ["i2_c0", "i2_c1"]
