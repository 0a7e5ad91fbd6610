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


def test_a_builders_model_is_checked_and_built_on_the_images(caplog, monkeypatch):
    from adanas import models
    monkeypatch.setattr(models, "_WARNED", set())    # other tests' builds warned already

    def spec(builder):
        return {"name": "c", "family": "keras", "builder": f"example_builders:{builder}", "arch": {},
                "depth_key": None, "width_key": None}

    # Extra outputs would be trained as a NASNet auxiliary head and served beside the logits.
    with pytest.raises(ValueError, match=r"one output, the logits \[batch, 10\]; it has \(None, 10\), \(None, 16\)"):
        models.build_model(spec("logits_and_embedding"), (8, 8, 1), 10, 0.0)
    # A Sequential model without an Input has no inputs until it is called: built on the images.
    model = models.build_model(spec("sequential_without_input"), (8, 8, 1), 10, 0.0)
    assert tuple(model.inputs[0].shape) == (None, 8, 8, 1) and tuple(model.outputs[0].shape) == (None, 10)
    # weight_decay is the built-in families': a builder's model is told it is not applied, once.
    with caplog.at_level("WARNING", logger="adanas.models"):
        models.build_model(spec("small_mlp") | {"arch": {"layers": 1, "units": 4}}, (8, 8, 1), 10, 5e-4)
        models.build_model(spec("small_mlp") | {"arch": {"layers": 1, "units": 4}}, (8, 8, 1), 10, 5e-4)
    assert sum("is not applied to example_builders:small_mlp" in r.message for r in caplog.records) == 1
