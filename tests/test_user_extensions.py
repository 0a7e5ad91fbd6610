"""Any Keras model builder as a family, and a user generator, both by import path."""

import pytest

from adanas import config, ensemble, generators, train
from conftest import tiny_config_dict

BUILDER = "example_builders:small_mlp"


def _cfg(**search):
    return config.from_dict(tiny_config_dict(family="keras", builder=BUILDER,
                                             architecture={"layers": 1, "units": 8}, **search))


def test_keras_builder_family_grows_named_keys_and_trains(digits_dir, tmp_path):
    cfg = _cfg(growth={"depth": 1, "width": 4, "depth_key": "layers", "width_key": "units"})
    first = generators.propose(cfg.search, 0, 0, None)
    assert [s["arch"] for s in first] == [{"layers": 1, "units": 8}, {"layers": 2, "units": 8}]
    assert first[0]["arch_str"] == "small_mlp(1@8)" and first[0]["builder"] == BUILDER
    later = generators.propose(cfg.search, 0, 1, first[1])
    assert [s["arch"] for s in later] == [{"layers": 3, "units": 8}, {"layers": 2, "units": 12}]
    metrics = train.train_candidate(first[0], cfg.training, digits_dir, tmp_path / "c")
    assert metrics["params"] == (64 * 8 + 8) + (8 * 10 + 10)   # 8x8x1 pixels -> 8 -> 10
    entry = ensemble.select_step(cfg.search, 0, digits_dir, [tmp_path / "c"], None, tmp_path / "e")
    assert entry["chosen"] == "i0_c0"


def test_dynamic_growth_only_where_a_key_is_named():
    cfg = _cfg(growth={"depth": 1, "width": 4, "depth_key": "layers"}, candidates_per_iteration=3)
    specs = generators.propose(cfg.search, 0, 0, None)
    assert [s["move"] for s in specs] == ["base", "deeper", "deeperx2"]


def test_user_generator(digits_dir):
    cfg = _cfg(generator="example_builders:halving_widths", candidates_per_iteration=3)
    specs = generators.propose(cfg.search, 0, 0, None)
    assert [s["arch"]["units"] for s in specs] == [8, 4, 2]
    assert {s["move"] for s in specs} == {"custom"}


@pytest.mark.parametrize("search, path, message", [
    ({"family": "keras"}, "search.builder", "required with family 'keras'"),
    ({"builder": BUILDER}, "search.builder", "only then"),
    ({"family": "keras", "builder": "no_such_module:build"}, "search.builder", "cannot be imported"),
    ({"family": "keras", "builder": "example_builders"}, "search.builder", "package.module:function"),
    ({"family": "keras", "builder": "example_builders:NOT_CALLABLE"}, "search.builder", "not callable"),
    ({"generator": "example_builders:missing"}, "search.generator", "cannot be imported"),
    ({"family": "keras", "builder": BUILDER, "generator": "dynamic"}, "search.growth.depth_key", "needs"),
])
def test_bad_import_paths_fail_at_config_time(search, path, message):
    with pytest.raises(config.ConfigError) as e:
        config.from_dict(tiny_config_dict(**{"architecture": {}, **search}))
    assert e.value.path == path and message in str(e.value)
