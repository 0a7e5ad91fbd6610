"""Checks that need the dataset's image shape, at validate time (adanas.preflight), and user
code importable from the working directory."""

import numpy as np
import pytest

from adanas import config, data, preflight
from pipelines import cli

NASNET = {"family": "nasnet", "architecture": {"cells_per_stack": 1, "penultimate_filters": 24}}


def _check(d: dict):
    return preflight.check(config.from_dict(d))


@pytest.mark.parametrize("cfg, path, message", [
    # The all-defaults config: digits (8x8) with the original's cutout of 16.
    ({}, "augmentation.cutout", "cutout 16 is larger than the 8x8 images; use at most 8"),
    ({"augmentation": {"cutout": 4, "pad_crop": 8}}, "augmentation.pad_crop", "smaller than the image side 8"),
    ({"augmentation": {"cutout": 4}, "search": {**NASNET, "architecture": {
        **NASNET["architecture"], "num_reduction_layers": 4}}},
     "search.architecture.num_reduction_layers", "reduction 4 would halve a 1x1 feature map; use at most 3"),
    ({"augmentation": {"cutout": 4}, "search": {**NASNET, "architecture": {
        **NASNET["architecture"], "use_aux_head": True}}},
     "search.architecture.use_aux_head", "5x5 windows of the 2x2 feature map"),
    ({"augmentation": {"cutout": 4}, "search": {"max_ensemble_params": 1000}},
     "search.max_ensemble_params", "1,000 is smaller than every first candidate: cnn(2@16) 2,682, cnn(3@16) 7,514"),
])
def test_digits_shape_rules_fail_at_validate_time_with_the_key_path(cfg, path, message):
    with pytest.raises(config.ConfigError) as e:
        _check(cfg)
    assert e.value.path == path and message in str(e.value)
    assert "dataset digits" in str(e.value)


def test_what_fits_passes_and_says_what_it_saw():
    seen = _check({"augmentation": {"cutout": 8, "pad_crop": 7},
                   "search": {**NASNET, "architecture": {**NASNET["architecture"], "num_reduction_layers": 3}}})
    assert (seen.image_shape, seen.num_classes) == ((8, 8, 1), 10)
    assert _check({"search": {"max_ensemble_params": 3000}, "augmentation": {"policy": "none"}}) is not None


def test_the_prepare_step_applies_the_same_rule():
    with pytest.raises(data.DataError, match="augmentation.cutout: cutout 16 is larger than the 8x8"):
        data.check_augmentation(config.AugmentationConfig(), (8, 8, 1))


def test_tfds_shape_from_builder_info_without_any_data(tmp_path):
    # mnist is not prepared in this empty data_dir and nothing is downloaded: tfds knows its shape.
    base = {"dataset": {"name": "mnist", "data_dir": str(tmp_path)}}
    seen = _check({**base, "augmentation": {"cutout": 16}})
    assert (seen.image_shape, seen.num_classes) == ((28, 28, 1), 10)
    with pytest.raises(config.ConfigError, match="use at most 28") as e:
        _check({**base, "augmentation": {"cutout": 29}})
    assert e.value.path == "augmentation.cutout" and not any(tmp_path.iterdir())


def _folder(root, size=(6, 10), mode="L"):
    from PIL import Image
    for split in ("train", "test"):
        for label in ("cat", "dog"):
            (root / split / label).mkdir(parents=True)
            for i in range(3):
                Image.fromarray(np.full(size, 40 * i, np.uint8)).convert(mode).save(
                    root / split / label / f"{i}.png")
    return root


def test_folder_shape_from_its_first_image_matches_what_loading_gives(tmp_path):
    root = _folder(tmp_path / "images")
    cfg = {"dataset": {"name": "folder", "data_dir": str(root)}, "augmentation": {"cutout": 4}}
    seen = _check(cfg)
    # The prepare step converts every image, grey ones too, to RGB.
    parsed = config.from_dict(cfg)
    loaded = data.prepare_step(parsed.dataset, parsed.augmentation, tmp_path / "dataset")
    assert seen.image_shape == tuple(loaded["image_shape"]) == (6, 10, 3)
    assert seen.num_classes == loaded["num_classes"] == 2
    with pytest.raises(config.ConfigError, match="pad_crop 6 must be smaller than the image side 6"):
        _check({**cfg, "augmentation": {"cutout": 4, "pad_crop": 6}})


def test_unknown_shape_is_left_to_the_prepare_step(tmp_path):
    assert _check({"dataset": {"name": "folder", "data_dir": str(tmp_path)}}) is None


def test_cli_validate_runs_the_checks(tmp_path, capsys):
    empty = tmp_path / "empty.yaml"
    empty.write_text("{}\n")
    assert cli.main(["validate", "--config", str(empty)]) == 2
    assert "adanas: config error: augmentation.cutout: cutout 16 is larger" in capsys.readouterr().err
    assert cli.main(["validate", "--config", str(empty), "--set", "augmentation.cutout=4"]) == 0
    assert "OK for the vertex target (dataset digits: 8x8x1 images, 10 classes)" in capsys.readouterr().out


def test_cli_imports_user_builders_from_the_working_directory(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_models.py").write_text(
        "import keras\n"
        "def tiny(spec, input_shape, num_classes):\n"
        "    inputs = keras.Input(shape=input_shape)\n"
        "    return keras.Model(inputs, keras.layers.Dense(num_classes)(keras.layers.Flatten()(inputs)))\n")
    (tmp_path / "search.yaml").write_text(
        "augmentation: {cutout: 4}\n"
        "search: {family: keras, builder: 'my_models:tiny', generator: simple, max_ensemble_params: 100}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", str(tmp_path))])
    assert cli.main(["validate", "--config", "search.yaml"]) == 2
    # Imported from the working directory and built on 8x8x1 digits: 64 * 10 + 10 parameters.
    assert "100 is smaller than every first candidate: tiny 650, tiny 650" in capsys.readouterr().err
