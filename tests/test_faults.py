"""A candidate that fails does not fail its iteration; the iteration fails only if all do."""

import json

import pytest

from adanas import config, ensemble, generators, train
from conftest import tiny_config_dict


def _cfg(**over):
    return config.from_dict(tiny_config_dict(
        family="keras", builder="example_builders:fragile", architecture={"layers": 1, "units": 8},
        generator="example_builders:one_good_one_nan_one_broken", candidates_per_iteration=3, **over))


def test_failed_candidates_are_recorded_and_skipped(digits_dir, tmp_path):
    cfg = _cfg()
    specs = generators.propose(cfg.search, 0, 0, None)
    dirs = []
    for spec in specs:
        out = tmp_path / spec["name"]
        metrics = train.train_or_record_failure(spec, cfg.training, digits_dir, out)
        dirs.append(str(out))
        assert ("failed" in metrics) == ("fault" in spec["arch"])
    broken = json.loads((tmp_path / "i0_c2" / "candidate.json").read_text())
    assert broken["failed"]["type"] == "RuntimeError" and "injected fault" in broken["failed"]["message"]
    nan = json.loads((tmp_path / "i0_c1" / "candidate.json").read_text())
    assert nan["failed"]["type"] == "FloatingPointError" and "diverged" in nan["failed"]["message"]

    entry = ensemble.select_step(cfg.search, 0, digits_dir, dirs, dirs, None, tmp_path / "e")
    assert entry["chosen"] == "i0_c0"
    assert [f["name"] for f in entry["failed"]] == ["i0_c1", "i0_c2"]
    assert [c["name"] for c in entry["candidates"]] == ["i0_c0"]

    with pytest.raises(ValueError, match="every candidate failed .*i0_c1: FloatingPointError.*i0_c2: RuntimeError"):
        ensemble.select_step(cfg.search, 0, digits_dir, dirs[1:], dirs[1:], None, tmp_path / "e2")
