"""Config validation: every bad case fails before compute, naming the key path and what is allowed."""

import pytest

from adanas import config
from adanas.config import ConfigError
from conftest import ROOT, tiny_config_dict


def _error(data) -> ConfigError:
    with pytest.raises(ConfigError) as e:
        config.from_dict(data)
    return e.value


def test_shipped_configs_validate():
    for path in sorted((ROOT / "pipelines" / "configs").rglob("*.yaml")):
        cfg = config.load_config(path)
        assert cfg.search.boosting_iterations >= 1, path


def test_defaults_fill_missing_keys():
    cfg = config.from_dict({})
    assert cfg.training.initial_learning_rate == 0.025
    assert cfg.training.label_smoothing == 0.1
    assert cfg.training.weight_decay == 5e-4
    assert cfg.training.clip_gradients == 5.0
    assert cfg.search.generator == "dynamic"


@pytest.mark.parametrize("data, path, allowed", [
    ({"bogus": 1}, "bogus", "allowed keys: name, seed, image"),
    ({"training": {"learning_rate": 0.1}}, "training.learning_rate", "initial_learning_rate"),
    ({"search": {"growth": {"height": 2}}}, "search.growth.height", "depth, width"),
    ({"search": {"architecture": {"units": 3}}}, "search.architecture.units", "num_layers, filters"),
])
def test_unknown_keys(data, path, allowed):
    err = _error(data)
    assert err.path == path
    assert "unknown key" in str(err) and allowed in str(err)


@pytest.mark.parametrize("data, path, expected", [
    ({"seed": "zero"}, "seed", "expected an integer"),
    ({"training": {"batch_size": 32.5}}, "training.batch_size", "expected an integer"),
    ({"training": {"batch_size": True}}, "training.batch_size", "expected an integer"),
    ({"training": {"initial_learning_rate": "fast"}}, "training.initial_learning_rate", "expected a number"),
    ({"search": {"force_grow": "yes"}}, "search.force_grow", "expected true or false"),
    ({"search": {"architecture": [1, 2]}}, "search.architecture", "expected a mapping"),
    ({"dataset": "digits"}, "dataset", "expected a mapping"),
    ({"resources": {"train": {"cpu_limit": 4}}}, "resources.train.cpu_limit", "expected a string"),
])
def test_wrong_types(data, path, expected):
    err = _error(data)
    assert err.path == path and expected in str(err)


@pytest.mark.parametrize("data, path, expected", [
    ({"search": {"boosting_iterations": 0}}, "search.boosting_iterations", ">= 1"),
    ({"search": {"candidates_per_iteration": 0}}, "search.candidates_per_iteration", ">= 1"),
    ({"training": {"initial_learning_rate": -0.1}}, "training.initial_learning_rate", "> 0"),
    ({"training": {"momentum": 1.0}}, "training.momentum", "[0, 1)"),
    ({"training": {"label_smoothing": -0.1}}, "training.label_smoothing", "[0, 1)"),
    ({"training": {"max_iteration_steps": 10}}, "training.train_epochs", "exactly one"),
    ({"training": {"train_epochs": None}}, "training.train_epochs", "exactly one"),
    ({"training": {"optimizer": "lion"}}, "training.optimizer", "'momentum', 'sgd', 'adam', 'rmsprop'"),
    ({"search": {"generator": "random"}}, "search.generator", "allowed: simple, dynamic"),
    ({"search": {"family": "vit"}}, "search.family", "allowed: cnn, dnn"),
    ({"search": {"ensembler": "median"}}, "search.ensembler", "'mean', 'weighted'"),
    ({"search": {"adanet_lambda": -1.0}}, "search.adanet_lambda", ">= 0"),
    ({"search": {"adanet_beta": -0.1}}, "search.adanet_beta", ">= 0"),
    ({"search": {"mixture_weight_type": "tensor"}}, "search.mixture_weight_type", "'scalar', 'vector', 'matrix'"),
    ({"search": {"complexity": "depth"}}, "search.complexity", "'sqrt_depth', 'log_params', 'none'"),
    ({"search": {"ensembler": "weighted", "objective": "validation_error"}}, "search.objective",
     "validation_loss"),
    ({"search": {"architecture": {"filters": 0}}}, "search.architecture.filters", ">= 1"),
    ({"search": {"architecture": {"dropout": 1.5}}}, "search.architecture.dropout", "[0, 1)"),
    ({"dataset": {"name": "no_such_dataset"}}, "dataset.name", "cifar10"),
    ({"dataset": {"name": "folder"}}, "dataset.data_dir", "required"),
    ({"dataset": {"validation_fraction": 0.6, "test_fraction": 0.5}}, "dataset.test_fraction", "< 1"),
    ({"augmentation": {"cutout": -1}}, "augmentation.cutout", ">= 0"),
    ({"augmentation": {"policy": "autoaugment2"}}, "augmentation.policy", "'basic', 'autoaugment', 'randaugment', 'none'"),
    ({"augmentation": {"randaugment_magnitude": 2.0}}, "augmentation.randaugment_magnitude", "[0, 1]"),
    ({"resources": {"train": {"accelerator_type": "NVIDIA_GTX_1080", "accelerator_count": 1}}},
     "resources.train.accelerator_type", "NVIDIA_L4"),
    ({"resources": {"train": {"accelerator_type": "NVIDIA_L4"}}},
     "resources.train.accelerator_count", ">= 1"),
    ({"resources": {"train": {"accelerator_count": 2}}}, "resources.train.accelerator_count",
     "accelerator_type"),
    ({"resources": {"default": {"memory_limit": "lots"}}}, "resources.default.memory_limit", "16G"),
    ({"image": "gcr.io/p/adanas:latest"}, "image", "without a tag"),
    ({"name": "My Search"}, "name", "lowercase"),
])
def test_impossible_values(data, path, expected):
    err = _error(data)
    assert err.path == path, str(err)
    assert expected in str(err)


def test_yaml_file_errors_and_floats(tmp_path):
    good = tmp_path / "a.yaml"
    good.write_text("training:\n  weight_decay: 5e-4\n  initial_learning_rate: 1E-2\n")
    cfg = config.load_config(good)
    assert cfg.training.weight_decay == 5e-4 and cfg.training.initial_learning_rate == 0.01

    bad = tmp_path / "b.yaml"
    bad.write_text("training: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load_config(bad)
    with pytest.raises(ConfigError, match="cannot read config"):
        config.load_config(tmp_path / "missing.yaml")


def test_extends_and_overrides(tmp_path):
    (tmp_path / "base.yaml").write_text("name: base\nsearch:\n  boosting_iterations: 4\n"
                                        "  architecture: {num_layers: 3, filters: 8}\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\nname: child\n"
                                         "search:\n  architecture: {filters: 32}\n")
    cfg = config.load_config(tmp_path / "child.yaml", ["training.batch_size=8", "seed=3"])
    assert cfg.name == "child" and cfg.seed == 3 and cfg.training.batch_size == 8
    assert cfg.search.boosting_iterations == 4
    assert cfg.search.architecture == {"num_layers": 3, "filters": 32}
    with pytest.raises(ConfigError, match="training.batch_size: expected an integer"):
        config.load_config(tmp_path / "child.yaml", ["training.batch_size=big"])
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        config.load_config(tmp_path / "loop.yaml")


def test_sections_round_trip_through_json():
    cfg = config.from_dict(tiny_config_dict())
    for name in ("dataset", "augmentation", "search", "training"):
        assert config.section_from_json(name, config.section_json(cfg, name)) == getattr(cfg, name)
    assert cfg.image_uri().startswith("adanas:") and not cfg.image_uri().endswith("latest")
