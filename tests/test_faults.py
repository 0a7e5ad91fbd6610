"""A candidate that fails does not fail its iteration; the iteration fails only if all do."""

import pytest

from adanas import artifacts, budget, config, ensemble, generators, train
from conftest import tiny_config_dict


def _cfg(**over):
    return config.from_dict(tiny_config_dict(**{
        "family": "keras", "builder": "example_builders:fragile", "architecture": {"layers": 1, "units": 8},
        "generator": "example_builders:one_good_one_nan_one_broken", "candidates_per_iteration": 3, **over}))


def test_failed_candidates_are_recorded_and_skipped(digits_dir, tmp_path):
    cfg = _cfg()
    specs = generators.propose(cfg.search, 0, 0, None)
    dirs = []
    for spec in specs:
        out = tmp_path / spec["name"]
        metrics = train.train_step(spec, cfg.training, digits_dir, out)
        dirs.append(out)
        assert ("failed" in metrics) == ("fault" in spec["arch"])
    broken, _ = artifacts.read_candidate(tmp_path / "i0_c2")
    assert broken["failed"]["type"] == "RuntimeError" and "injected fault" in broken["failed"]["message"]
    # What a failed task spent is recorded, and counts against search.budget.
    assert broken["failed"]["task_seconds"] > 0 and broken["failed"]["accelerator_seconds"] == 0
    nan, _ = artifacts.read_candidate(tmp_path / "i0_c1")
    assert nan["failed"]["type"] == "FloatingPointError" and "diverged" in nan["failed"]["message"]

    entry = ensemble.select_step(cfg.search, 0, digits_dir, dirs, None, tmp_path / "e")
    assert entry["chosen"] == "i0_c0"
    assert [f["name"] for f in entry["failed"]] == ["i0_c1", "i0_c2"]
    assert [c["name"] for c in entry["candidates"]] == ["i0_c0"]

    spent = sum(c["task_seconds"] for c in entry["candidates"] + entry["failed"])
    assert budget.used_seconds([entry]) == pytest.approx(spent)
    assert spent > entry["candidates"][0]["task_seconds"]

    with pytest.raises(ValueError, match="every candidate failed .*i0_c1: FloatingPointError.*i0_c2: RuntimeError"):
        ensemble.select_step(cfg.search, 0, digits_dir, dirs[1:], None, tmp_path / "e2")


def test_when_a_later_iteration_fails_whole_the_search_keeps_and_returns_what_it_had(tmp_path):
    # Iteration 1's only candidate fails (as a diverging finishing tower would): the search
    # stops there and evaluates iteration 0's ensemble instead of failing the run.
    from adanas.search import run_search
    cfg = _cfg(generator="example_builders:good_then_broken", candidates_per_iteration=1,
               boosting_iterations=3)
    report, _ = run_search(cfg, tmp_path / "work")
    assert report["ensemble_size"] == 1 and len(report["iterations"]) == 2
    assert report["iterations"][1]["failed"] == ["i1_c0"]
    assert report["iterations"][1]["chosen"] is None
    assert report["stopped"].startswith("iteration 1: every candidate failed (i1_c0: RuntimeError")
    assert report["stopped"].endswith("the search returns the ensemble of iteration 0")
    kept = artifacts.ensemble_record(tmp_path / "work" / "iteration-1" / "ensemble")
    first = artifacts.ensemble_record(tmp_path / "work" / "iteration-0" / "ensemble")
    assert kept["members"] == first["members"] and kept["returned"] == first["returned"]


def test_a_candidate_whose_validation_logits_are_not_finite_fails(digits_dir, tmp_path):
    # Its training loss is finite; selection would rank and combine NaNs.
    cfg = _cfg()
    spec = generators.propose(cfg.search, 0, 0, None)[0]
    spec = dict(spec, arch=dict(spec["arch"], fault="nan_at_inference"))
    assert train.train_step(spec, cfg.training, digits_dir, tmp_path / "c") == {"failed": 1}
    info, _ = artifacts.read_candidate(tmp_path / "c")
    assert info["failed"]["type"] == "FloatingPointError"
    assert "validation logits are not finite" in info["failed"]["message"]


def test_the_in_process_search_records_failed_candidates_as_the_dag_does(tmp_path, monkeypatch):
    from adanas.search import run_search
    report, _ = run_search(_cfg(boosting_iterations=1), tmp_path / "work")
    assert report["ensemble_size"] == 1
    assert report["iterations"][0]["failed"] == ["i0_c1", "i0_c2"]


def test_a_task_given_an_accelerator_it_cannot_see_fails_instead_of_training_on_cpu(digits_dir, tmp_path):
    cfg = config.from_dict(tiny_config_dict())
    spec = generators.propose(cfg.search, 0, 0, None)[0]
    # The failure is the task's (so the orchestrator's retry applies), not a failed candidate.
    with pytest.raises(train.MissingAcceleratorError, match="asked for a GPU .* TensorFlow sees none"):
        train.train_step(spec, cfg.training, digits_dir, tmp_path / "gpu", expected_accelerator="GPU")
    assert not (tmp_path / "gpu").exists()
    assert "failed" not in train.train_step(spec, cfg.training, digits_dir, tmp_path / "cpu")
