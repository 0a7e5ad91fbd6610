"""Candidate families and generators."""

import numpy as np
import pytest

from adanas import config, generators, models
from conftest import tiny_config_dict


@pytest.mark.parametrize("family, arch", [("cnn", {"num_layers": 3, "filters": 4, "dense_units": 8}),
                                          ("dnn", {"num_layers": 2, "units": 8, "dropout": 0.1})])
def test_families_build_logit_models(family, arch):
    spec = {"name": "m", "family": family, "arch": arch}
    model = models.build_model(spec, (8, 8, 1), 10, weight_decay=1e-4)
    out = model.predict(np.zeros((2, 8, 8, 1), np.uint8), verbose=0)
    assert out.shape == (2, 10)
    assert model.losses  # weight decay is applied


def test_cnn_deeper_and_wider_have_more_params():
    fam = models.FAMILIES["cnn"]
    base = models.CnnArch(num_layers=2, filters=8)
    count = lambda a: models.build_cnn(a, (8, 8, 1), 10, 0.0, "m").count_params()  # noqa: E731
    assert count(fam.grow(base, depth=1)) > count(base)
    assert count(fam.grow(base, width=8)) > count(base)
    assert fam.grow(base, 1, 8) == models.CnnArch(num_layers=3, filters=16)


def _search(**over):
    return config.from_dict(tiny_config_dict(**over)).search


def test_simple_generator_repeats_the_base_with_new_seeds():
    specs = generators.propose(_search(generator="simple", candidates_per_iteration=3), 7, 2, None)
    assert [s["arch"] for s in specs] == [{"num_layers": 1, "filters": 4, "kernel_size": 3,
                                           "dense_units": 0, "dropout": 0.0}] * 3
    assert len({s["seed"] for s in specs}) == 3
    assert [s["name"] for s in specs] == ["i2_c0", "i2_c1", "i2_c2"]


def test_dynamic_generator_grows_the_last_chosen():
    search = _search(generator="dynamic", candidates_per_iteration=3)
    first = generators.propose(search, 0, 0, None)
    assert [(s["move"], s["arch_str"]) for s in first] == [
        ("base", "cnn(1@4)"), ("deeper", "cnn(2@4)"), ("wider", "cnn(1@6)")]
    grown = generators.propose(search, 0, 1, first[2])
    assert [(s["move"], s["arch_str"]) for s in grown] == [
        ("deeper", "cnn(2@6)"), ("wider", "cnn(1@8)"), ("deeper+wider", "cnn(2@8)")]


def test_candidate_seeds_differ_across_iterations_and_searches():
    a = {s["seed"] for t in range(3) for s in generators.propose(_search(), 0, t, None)}
    b = {s["seed"] for t in range(3) for s in generators.propose(_search(), 1, t, None)}
    assert len(a) == 6 and not (a & b)
