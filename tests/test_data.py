"""Data loading: embedded digits, tfds (mocked), an image folder, and bad data."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from adanas import artifacts, data
from adanas.config import AugmentationConfig, DatasetConfig
from adanas.data import DataError


def _prepare(tmp_path, out="ds", **cfg):
    return data.prepare_step(DatasetConfig(**cfg), AugmentationConfig(policy="none"), tmp_path / out)


def test_digits_split_is_deterministic_and_complete(tmp_path):
    a = _prepare(tmp_path, out="a")
    b = _prepare(tmp_path, out="b")
    sizes = a["splits"]
    assert sum(sizes.values()) == 1797
    assert sizes["test"] == round(1797 * 0.15)
    assert a["fingerprint"] == b["fingerprint"]
    assert a["image_shape"] == [8, 8, 1] and a["num_classes"] == 10
    x, _ = artifacts.dataset_split(tmp_path / "a", "train")
    assert x.dtype == np.uint8 and x.max() == 255
    np.testing.assert_array_equal(x, artifacts.dataset_split(tmp_path / "b", "train")[0])


def test_prepare_writes_the_artifact(tmp_path):
    meta = data.prepare_step(DatasetConfig(max_examples_per_split=60),
                             AugmentationConfig(cutout=4, pad_crop=1), tmp_path)
    assert meta["splits"] == {"train": 60, "validation": 60, "test": 60}
    assert artifacts.dataset_meta(tmp_path)["augmentation"]["cutout"] == 4
    assert artifacts.dataset_meta(tmp_path)["checks"]["warnings"] == []
    x, y = artifacts.dataset_split(tmp_path, "validation")
    assert x.shape == (60, 8, 8, 1) and y.shape == (60,)


def test_a_cap_that_leaves_a_class_almost_empty(tmp_path):
    with pytest.raises(DataError, match=r"class\(es\) with fewer than .* '2' \(1\).*"
                                        r"raise dataset.max_examples_per_split, 50"):
        _prepare(tmp_path, max_examples_per_split=50)


def test_tfds_dataset_through_the_real_loader(tmp_path):
    with tfds.testing.mock_data(num_examples=40):
        # 30 random training labels over 10 classes: some class may well have a single one.
        meta = _prepare(tmp_path, name="cifar10", validation_fraction=0.25, min_examples_per_class=1)
    assert meta["num_classes"] == 10 and len(meta["class_names"]) == 10
    assert meta["image_shape"] == [32, 32, 3]
    assert meta["splits"] == {"train": 30, "validation": 10, "test": 40}
    assert meta["source"] == "tfds:cifar10"
    # tfds' mock gives the test split the train split's examples: the leakage check sees it.
    assert meta["checks"]["duplicates"]["across"]["test/train"]["count"] == 30


class AdanasTinyNoTest(tfds.core.GeneratorBasedBuilder):
    """A real tfds dataset made here (no network): a train and a validation split, no test split
    (as tf_flowers has no test and beans has a validation split)."""
    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict({"image": tfds.features.Image(shape=(6, 6, 3)),
                                                 "label": tfds.features.ClassLabel(num_classes=2)}),
            supervised_keys=("image", "label"))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(40, 0), "validation": self._generate_examples(10, 1)}

    def _generate_examples(self, n, seed):
        rng = np.random.default_rng(seed)
        for i in range(n):
            yield i, {"image": rng.integers(0, 256, (6, 6, 3), dtype=np.uint8), "label": i % 2}


def test_a_tfds_dataset_is_prepared_before_its_splits_are_read(tmp_path):
    # Unprepared, tfds knows no splits: the step prepared it first, then read the splits it has
    # (before 2026-12-01 it assumed train and test: 'Unknown split "test"').
    meta = _prepare(tmp_path, name="adanas_tiny_no_test", data_dir=str(tmp_path / "tfds"), download=True,
                    test_fraction=0.25)
    assert meta["splits"] == {"train": 30, "validation": 10, "test": 10}
    assert meta["source"] == "tfds:adanas_tiny_no_test"
    # Prepared now: a second run without download reads the very same data.
    again = _prepare(tmp_path, out="again", name="adanas_tiny_no_test", data_dir=str(tmp_path / "tfds"),
                     test_fraction=0.25)
    assert again["fingerprint"] == meta["fingerprint"]


def test_tfds_missing_data_without_download(tmp_path):
    with pytest.raises(DataError, match="download: true"):
        _prepare(tmp_path, name="cifar10", data_dir=str(tmp_path))


def _png(path, shape, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    tf.io.write_file(str(path), tf.io.encode_png(np.full(shape, value, dtype=np.uint8)))


def test_image_folder(tmp_path):
    for split, n in (("train", 6), ("test", 3)):
        for label, cls in enumerate(("cat", "dog")):
            for i in range(n):
                _png(tmp_path / "images" / split / cls / f"{i}.png", (5, 5, 3), 40 * label + i)
    meta = _prepare(tmp_path, name="folder", data_dir=str(tmp_path / "images"),
                    validation_fraction=0.5)
    assert meta["class_names"] == ["cat", "dog"]
    assert meta["splits"] == {"train": 6, "validation": 6, "test": 6}
    assert meta["image_shape"] == [5, 5, 3]
    x, y = artifacts.dataset_split(tmp_path / "ds", "test")
    # Each test image's pixel value says which file it came from: no image was altered.
    assert sorted(zip(y.tolist(), x[:, 0, 0, 0].tolist())) == [(c, 40 * c + i) for c in (0, 1) for i in range(3)]


def test_image_folder_with_inconsistent_shapes(tmp_path):
    _png(tmp_path / "train" / "a" / "0.png", (5, 5, 3))
    _png(tmp_path / "train" / "b" / "1.png", (6, 5, 3))
    with pytest.raises(DataError, match="inconsistent image shapes.*dataset.image_size"):
        _prepare(tmp_path, name="folder", data_dir=str(tmp_path))


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        _prepare(tmp_path, name="folder", data_dir=str(tmp_path / "nope"))


def test_a_carved_split_too_small_to_hold_anything(tmp_path):
    for i in range(4):
        _png(tmp_path / "images" / "train" / "ab"[i % 2] / f"{i}.png", (3, 3, 3), i)
    with pytest.raises(DataError, match="split 'validation' is empty"):
        _prepare(tmp_path, name="folder", data_dir=str(tmp_path / "images"), validation_fraction=0.1)


def test_augmentation_must_fit_the_images(tmp_path):
    with pytest.raises(DataError, match="cutout 16 is larger than the 8x8 images"):
        data.check_augmentation(AugmentationConfig(cutout=16, pad_crop=0), (8, 8, 1))
    with pytest.raises(DataError, match="pad_crop 8"):
        data.check_augmentation(AugmentationConfig(cutout=0, pad_crop=8), (8, 8, 1))
    data.check_augmentation(AugmentationConfig(policy="none", cutout=16), (8, 8, 1))
    # The prepare step checks it at the first image, before reading the rest.
    with pytest.raises(DataError, match="cutout 16 is larger"):
        data.prepare_step(DatasetConfig(), AugmentationConfig(cutout=16, pad_crop=0), tmp_path)
