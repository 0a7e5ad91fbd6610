"""Data loading: embedded digits, tfds (mocked), an image folder, and bad data."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from adanas import artifacts, data
from adanas.config import AugmentationConfig, DatasetConfig
from adanas.data import DataError


def test_digits_split_is_deterministic_and_complete():
    a = data.load(DatasetConfig())
    b = data.load(DatasetConfig())
    sizes = {k: len(v) for k, v in a.y.items()}
    assert sum(sizes.values()) == 1797
    assert sizes["test"] == round(1797 * 0.15)
    for split in data.SPLITS:
        np.testing.assert_array_equal(a.x[split], b.x[split])
        assert a.x[split].dtype == np.uint8 and a.x[split].shape[1:] == (8, 8, 1)
    assert a.x["train"].max() == 255 and a.num_classes == 10


def test_prepare_writes_the_artifact(tmp_path):
    meta = data.prepare_step(DatasetConfig(max_examples_per_split=50),
                             AugmentationConfig(cutout=4, pad_crop=1), tmp_path)
    assert meta["splits"] == {"train": 50, "validation": 50, "test": 50}
    assert artifacts.dataset_meta(tmp_path)["augmentation"]["cutout"] == 4
    x, y = artifacts.dataset_split(tmp_path, "validation")
    assert x.shape == (50, 8, 8, 1) and y.shape == (50,)


def test_tfds_dataset_through_the_real_loader():
    with tfds.testing.mock_data(num_examples=40):
        splits = data.load(DatasetConfig(name="cifar10", validation_fraction=0.25))
    assert splits.num_classes == 10 and len(splits.class_names) == 10
    assert splits.x["train"].shape[1:] == (32, 32, 3)
    assert len(splits.y["validation"]) == 10 and len(splits.y["train"]) == 30
    assert len(splits.y["test"]) == 40
    assert splits.source == "tfds:cifar10"


def test_tfds_missing_data_without_download(tmp_path):
    with pytest.raises(DataError, match="download: true"):
        data.load(DatasetConfig(name="cifar10", data_dir=str(tmp_path)))


def _png(path, shape, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    tf.io.write_file(str(path), tf.io.encode_png(np.full(shape, value, dtype=np.uint8)))


def test_image_folder(tmp_path):
    for split, n in (("train", 6), ("test", 3)):
        for label, cls in enumerate(("cat", "dog")):
            for i in range(n):
                _png(tmp_path / split / cls / f"{i}.png", (5, 5, 3), 40 * label + i)
    splits = data.load(DatasetConfig(name="folder", data_dir=str(tmp_path), validation_fraction=0.5))
    assert splits.class_names == ["cat", "dog"]
    assert {k: len(v) for k, v in splits.y.items()} == {"train": 6, "validation": 6, "test": 6}
    assert splits.x["test"].shape[1:] == (5, 5, 3)


def test_image_folder_with_inconsistent_shapes(tmp_path):
    _png(tmp_path / "train" / "a" / "0.png", (5, 5, 3))
    _png(tmp_path / "train" / "b" / "1.png", (6, 5, 3))
    with pytest.raises(DataError, match="inconsistent image shapes"):
        data.load(DatasetConfig(name="folder", data_dir=str(tmp_path)))


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        data.load(DatasetConfig(name="folder", data_dir=str(tmp_path / "nope")))


def _splits(**over):
    x = np.zeros((4, 3, 3, 1), np.uint8)
    y = np.array([0, 1, 0, 1])
    s = data.Splits({k: x for k in data.SPLITS}, {k: y for k in data.SPLITS}, 2, ["a", "b"], "test")
    for k, v in over.items():
        split, what = k.split("_")
        getattr(s, what)[split] = v
    return s


def test_bad_data_checks():
    data.check(_splits())
    with pytest.raises(DataError, match=r"labels outside \[0, 2\), e.g. example 2 has label 7"):
        data.check(_splits(test_y=np.array([0, 1, 7, 1])))
    with pytest.raises(DataError, match="labels outside"):
        data.check(_splits(train_y=np.array([0, -1, 0, 1])))
    with pytest.raises(DataError, match="'validation' is empty"):
        data.check(_splits(validation_x=np.zeros((0, 3, 3, 1), np.uint8), validation_y=np.zeros(0)))
    with pytest.raises(DataError, match="differs from the train split"):
        data.check(_splits(test_x=np.zeros((4, 4, 3, 1), np.uint8)))
    with pytest.raises(DataError, match="4 images but 3 labels"):
        data.check(_splits(train_y=np.array([0, 1, 0])))


def test_augmentation_must_fit_the_images():
    with pytest.raises(DataError, match="cutout 16 is larger than the 8x8 images"):
        data.check_augmentation(AugmentationConfig(cutout=16, pad_crop=0), (8, 8, 1))
    with pytest.raises(DataError, match="pad_crop 8"):
        data.check_augmentation(AugmentationConfig(cutout=0, pad_crop=8), (8, 8, 1))
    data.check_augmentation(AugmentationConfig(policy="none", cutout=16), (8, 8, 1))
