"""The prepare step's data checks (bad files, modes, sizes, class counts, duplicates, labels),
its streaming (shards, carving) and the dataset config keys, on small generated data."""

import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from adanas import artifacts, config, data, preview
from adanas.config import AugmentationConfig, ConfigError, DatasetConfig
from adanas.data import DataError


def _image(path, pixels, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.asarray(pixels, np.uint8))
    (image.convert(mode) if mode else image).save(path)
    return path


def _folder(root, per_class=None, size=(5, 5), seed=0):
    """root/<split>/<class>/<i>.png of random (so all distinct) RGB pixels; per_class:
    {split: {class: count}}."""
    per_class = per_class or {"train": {"a": 4, "b": 4}, "validation": {"a": 2, "b": 2},
                              "test": {"a": 2, "b": 2}}
    rng = np.random.default_rng(seed)
    for split, classes in per_class.items():
        for cls, n in classes.items():
            for i in range(n):
                _image(root / split / cls / f"{i}.png", rng.integers(0, 256, (*size, 3)))
    return root


def _prepare(root, out, **cfg):
    return data.prepare_step(DatasetConfig(name="folder", data_dir=str(root), **cfg),
                             AugmentationConfig(policy="none"), out)


# --- files that cannot be decoded ---------------------------------------------------------------

def _spoil(root):
    """A truncated PNG and a file of garbage among the training images."""
    good = (root / "train" / "a" / "0.png").read_bytes()
    (root / "train" / "a" / "truncated.png").write_bytes(good[:len(good) // 2])
    (root / "train" / "b" / "garbage.png").write_bytes(b"this is not an image")


def test_undecodable_files_fail_by_name(tmp_path):
    root = _folder(tmp_path / "images")
    _spoil(root)
    with pytest.raises(DataError, match="2 image file.* cannot be decoded") as e:
        _prepare(root, tmp_path / "ds")
    assert "truncated.png" in str(e.value) and "garbage.png" in str(e.value)
    assert "dataset.bad_images: skip" in str(e.value)


def test_undecodable_files_skipped_and_counted(tmp_path, caplog):
    root = _folder(tmp_path / "images")
    _spoil(root)
    meta = _prepare(root, tmp_path / "ds", bad_images="skip")
    bad = meta["checks"]["bad_images"]
    assert bad["count"] == 2 and bad["policy"] == "skip"
    assert sorted(n.split(" ")[0].rsplit("/", 2)[-1] for n in bad["examples"]) == ["garbage.png", "truncated.png"]
    assert meta["splits"]["train"] == 8
    assert any("skipped 2 undecodable" in w for w in meta["checks"]["warnings"])
    assert "garbage.png" in caplog.text
    # meta.json on disk holds the same report.
    assert json.loads((tmp_path / "ds" / "meta.json").read_text())["checks"] == meta["checks"]


# --- modes and sizes ----------------------------------------------------------------------------

def test_a_grayscale_and_an_rgba_file_among_rgb_are_converted_and_counted(tmp_path):
    root = _folder(tmp_path / "images")
    _image(root / "train" / "a" / "grey.png", np.full((5, 5), 77), mode="L")
    _image(root / "train" / "b" / "alpha.png", np.full((5, 5, 4), 200))
    meta = _prepare(root, tmp_path / "ds")
    converted = meta["checks"]["converted"]
    assert converted["count"] == 2 and converted["modes"] == {"L": 1, "RGBA": 1}
    assert meta["image_shape"] == [5, 5, 3] and meta["splits"]["train"] == 10
    x, _ = artifacts.dataset_split(tmp_path / "ds", "train")
    assert any((img == 77).all() for img in x)     # grey 77 -> RGB (77, 77, 77)


def test_a_16_bit_file_cannot_be_converted(tmp_path):
    root = _folder(tmp_path / "images")
    Image.fromarray(np.full((5, 5), 40000, np.uint16)).save(root / "train" / "a" / "deep.png")
    with pytest.raises(DataError, match="deep.png: image mode I.* cannot be converted to 8-bit RGB"):
        _prepare(root, tmp_path / "ds")


def test_image_size_resizes_every_image(tmp_path):
    root = _folder(tmp_path / "images")
    _image(root / "train" / "a" / "big.png", np.full((9, 7, 3), 10))
    meta = _prepare(root, tmp_path / "ds", image_size=[4, 6])
    assert meta["image_shape"] == [4, 6, 3]
    assert meta["checks"]["resized"] == {"count": 17, "to": [4, 6]}
    x, _ = artifacts.dataset_split(tmp_path / "ds", "train")
    assert any((img == 10).all() for img in x)     # a flat image stays flat under bilinear


def test_mixed_sizes_without_image_size_fail_naming_the_file(tmp_path):
    root = _folder(tmp_path / "images")
    _image(root / "test" / "b" / "odd.png", np.zeros((6, 5, 3)))
    with pytest.raises(DataError, match=r"odd.png: inconsistent image shapes: 6x5, the first "
                                        r"image .* is 5x5; set dataset.image_size"):
        _prepare(root, tmp_path / "ds")


def test_image_size_resizes_digits_too(tmp_path):
    meta = data.prepare_step(DatasetConfig(max_examples_per_split=60, image_size=[12, 10]),
                             AugmentationConfig(policy="none"), tmp_path)
    assert meta["image_shape"] == [12, 10, 1]
    assert data.peek(DatasetConfig(image_size=[12, 10])).image_shape == (12, 10, 1)


# --- classes ------------------------------------------------------------------------------------

def test_too_few_examples_of_a_class(tmp_path):
    root = _folder(tmp_path / "images", {"train": {"a": 4, "lonely": 1, "b": 4},
                                         "validation": {"a": 1, "b": 1}, "test": {"a": 1, "b": 1}})
    with pytest.raises(DataError, match=r"1 class\(es\) with fewer than dataset.min_examples_per_class "
                                        r"= 2 training examples: 'lonely' \(1\)"):
        _prepare(root, tmp_path / "ds")
    meta = _prepare(root, tmp_path / "ds", min_examples_per_class=1)
    assert meta["checks"]["class_counts"]["train"] == [4, 4, 1]


def test_strong_class_imbalance_is_a_warning(tmp_path):
    root = _folder(tmp_path / "images", {"train": {"many": 24, "few": 2},
                                         "validation": {"many": 1, "few": 1}, "test": {"many": 1, "few": 1}})
    meta = _prepare(root, tmp_path / "ds")
    assert meta["checks"]["imbalance"]["ratio"] == 12.0
    assert any("class imbalance: 'many' has 24 training examples, 'few' 2 (12.0x > "
               "dataset.max_imbalance 10)" in w for w in meta["checks"]["warnings"])
    assert not _prepare(root, tmp_path / "ds2", max_imbalance=20)["checks"]["warnings"]


def _tfds_with_labels(labels):
    """tfds' mock of cifar10 with these labels (and distinct images)."""
    def as_dataset(self, split, *args, **kwargs):
        rng = np.random.default_rng(0 if split == "train" else 1)
        images = rng.integers(0, 256, (len(labels), 32, 32, 3), dtype=np.uint8)
        return tf.data.Dataset.from_tensor_slices(
            {"image": images, "label": np.asarray(labels, np.int64), "id": ["x"] * len(labels)})
    return tfds.testing.mock_data(as_dataset_fn=as_dataset)


def test_a_label_outside_the_class_list_fails_naming_split_and_example(tmp_path):
    with _tfds_with_labels([0, 1, 2, 3, 12, 5]):
        with pytest.raises(DataError, match=r"cifar10\[train\] example 4: label 12 is outside "
                                            r"the class list \(labels 0..9 of 10 classes\)"):
            data.prepare_step(DatasetConfig(name="cifar10"), AugmentationConfig(policy="none"), tmp_path)


def test_tfds_labels_in_range_pass(tmp_path):
    with _tfds_with_labels([i % 10 for i in range(40)]):
        meta = data.prepare_step(DatasetConfig(name="cifar10", validation_fraction=0.25,
                                               min_examples_per_class=1),
                                 AugmentationConfig(policy="none"), tmp_path)
    assert meta["splits"] == {"train": 30, "validation": 10, "test": 40}
    assert meta["checks"]["duplicates"]["across"]["test/train"]["count"] == 0


# --- duplicates ---------------------------------------------------------------------------------

def test_duplicates_within_and_across_splits(tmp_path):
    root = _folder(tmp_path / "images")
    copy = lambda a, b: (root / b).write_bytes((root / a).read_bytes())  # noqa: E731
    copy("train/a/0.png", "train/b/copy.png")            # within train
    copy("train/a/1.png", "test/a/leak.png")             # test <- train
    copy("validation/b/0.png", "test/b/leak2.png")       # test <- validation
    meta = _prepare(root, tmp_path / "ds")
    dup = meta["checks"]["duplicates"]
    assert dup["within"]["train"]["count"] == 1
    assert {p.rsplit("/", 2)[-2] + "/" + p.rsplit("/", 1)[-1]
            for p in dup["within"]["train"]["examples"][0].split(" = ")} == {"a/0.png", "b/copy.png"}
    assert dup["across"]["test/train"]["count"] == 1
    assert "leak.png" in dup["across"]["test/train"]["examples"][0]
    assert dup["across"]["test/validation"]["count"] == 1
    assert dup["across"]["validation/train"]["count"] == 0
    warnings = " ".join(meta["checks"]["warnings"])
    assert "1 duplicate image(s) within train" in warnings and "leakage" in warnings
    with pytest.raises(DataError, match=r"images shared between splits \(leakage\): 1 test image"):
        _prepare(root, tmp_path / "ds2", duplicates="fail")


# --- streaming: shards, carving, determinism, preview ---------------------------------------------

def test_shard_size_splits_each_split_into_shards(tmp_path):
    meta = data.prepare_step(DatasetConfig(max_examples_per_split=60, shard_size=16, encoding="raw"),
                             AugmentationConfig(policy="none"), tmp_path / "small")
    assert [s["count"] for s in meta["shards"]["train"]] == [16, 16, 16, 12]
    assert meta["encoding"] == "raw"
    whole = data.prepare_step(DatasetConfig(max_examples_per_split=60),
                              AugmentationConfig(policy="none"), tmp_path / "whole")
    assert len(whole["shards"]["train"]) == 1
    # The same examples in the same order, whatever the shards and the encoding.
    assert meta["fingerprint"] == whole["fingerprint"]
    for split in data.SPLITS:
        for a, b in zip(artifacts.dataset_split(tmp_path / "small", split),
                        artifacts.dataset_split(tmp_path / "whole", split)):
            np.testing.assert_array_equal(a, b)
    assert len(artifacts.dataset_labels(tmp_path / "small", "test")) == 4


def test_same_config_same_fingerprint(tmp_path):
    root = _folder(tmp_path / "images", {"train": {"a": 10, "b": 10}, "test": {"a": 2, "b": 2}})
    a = _prepare(root, tmp_path / "a")
    b = _prepare(root, tmp_path / "b")
    assert a["fingerprint"] == b["fingerprint"] and a["splits"] == b["splits"]
    assert a["splits"] == {"train": 17, "validation": 3, "test": 4}   # round(20 x 0.15) carved
    c = _prepare(root, tmp_path / "c", validation_fraction=0.3)
    assert c["fingerprint"] != a["fingerprint"]


def test_folder_examples_are_stored_shuffled_not_by_class(tmp_path):
    root = _folder(tmp_path / "images", {"train": {"a": 10, "b": 10}, "validation": {"a": 2, "b": 2},
                                         "test": {"a": 2, "b": 2}})
    _prepare(root, tmp_path / "ds")
    y = artifacts.dataset_labels(tmp_path / "ds", "train").full()
    assert sorted(y.tolist()) == [0] * 10 + [1] * 10 and y.tolist() != sorted(y.tolist())


def test_carver_exact_with_a_count_and_by_fraction_without():
    carve = data.Carver(1000, {"test": 0.1, "validation": 0.2})
    got = [carve() for _ in range(1000)]
    assert (got.count("test"), got.count("validation"), got.count("train")) == (100, 200, 700)
    again = data.Carver(1000, {"test": 0.1, "validation": 0.2})
    assert [again() for _ in range(1000)] == got
    blind = data.Carver(None, {"validation": 0.25})
    share = [blind() for _ in range(4000)].count("validation") / 4000
    assert 0.22 < share < 0.28


def test_preview_reads_only_the_first_records(tmp_path, digits_dir):
    meta = artifacts.dataset_meta(digits_dir)
    x, y = preview.first_images(digits_dir, meta, classes=3, per_class=2)
    assert x.shape == (6, 8, 8, 1) and sorted(y.tolist()) == [0, 0, 1, 1, 2, 2]
    # Within `scan` records only: a class not met among them is left out.
    x, y = preview.first_images(digits_dir, meta, classes=10, per_class=2, scan=3)
    assert len(y) <= 3


# --- config -------------------------------------------------------------------------------------

@pytest.mark.parametrize("section, path, message", [
    ({"image_size": [0, 4]}, "dataset.image_size", "[height, width] of positive integers"),
    ({"image_size": [4]}, "dataset.image_size", "[height, width]"),
    ({"image_size": 32}, "dataset.image_size", "expected a list"),
    ({"shard_size": 0}, "dataset.shard_size", "must be >= 1"),
    ({"encoding": "jpeg"}, "dataset.encoding", "allowed values: 'png', 'raw'"),
    ({"bad_images": "ignore"}, "dataset.bad_images", "allowed values: 'fail', 'skip'"),
    ({"duplicates": "ignore"}, "dataset.duplicates", "allowed values: 'warn', 'fail'"),
    ({"min_examples_per_class": 0}, "dataset.min_examples_per_class", "must be >= 1"),
    ({"max_imbalance": 0.5}, "dataset.max_imbalance", "must be >= 1"),
])
def test_dataset_config_errors(section, path, message):
    with pytest.raises(ConfigError, match=f"^{path}: .*") as e:
        config.from_dict({"dataset": section})
    assert message in str(e.value)


def test_dataset_config_defaults():
    ds = config.from_dict({}).dataset
    assert (ds.shard_size, ds.encoding, ds.image_size, ds.bad_images, ds.duplicates,
            ds.min_examples_per_class, ds.max_imbalance) == (4096, "png", None, "fail", "warn", 2, 10.0)
    assert config.from_dict({"dataset": {"image_size": [32, 32]}}).dataset.image_size == [32, 32]


def test_a_folder_takes_every_image_format_leaves_tools_files_out_and_counts_the_rest(tmp_path):
    root = _folder(tmp_path / "images")
    rng = np.random.default_rng(7)
    for suffix in ("webp", "bmp", "gif", "tiff"):   # PIL reads them all: none may be dropped
        _image(root / "train" / "a" / f"more.{suffix}", rng.integers(0, 256, (5, 5, 3)))
    # What notebooks, macOS and NAS boxes leave behind is neither a class nor an image.
    _image(root / "train" / ".ipynb_checkpoints" / "0.png", rng.integers(0, 256, (5, 5, 3)))
    _image(root / "train" / "@eaDir" / "0.png", rng.integers(0, 256, (5, 5, 3)))
    (root / "train" / "a" / "._0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (root / "train" / "b" / ".DS_Store").write_bytes(b"\x00")
    (root / "train" / "b" / "labels.csv").write_text("file,label\n")
    (root / "train" / "b" / "notes.txt").write_text("x\n")
    meta = _prepare(root, tmp_path / "ds")
    assert meta["class_names"] == ["a", "b"]
    assert meta["checks"]["class_counts"]["train"] == [8, 4]
    assert meta["checks"]["bad_images"]["count"] == 0
    assert "ignored 2 file(s) that are not images by their suffix (.csv: 1, .txt: 1;" \
        in " ".join(meta["checks"]["warnings"])
    # The cost estimate counts the training images the same way.
    from adanas import cost
    assert cost._training_examples(config.from_dict({"dataset": {"name": "folder", "data_dir": str(root)}}))[0] == 12


def test_a_photo_is_turned_upright_by_its_exif_orientation(tmp_path):
    # As the sensor stored it: 4 rows x 8 columns, left half dark; EXIF 6 says turn it 90
    # degrees clockwise to view it, so upright it is 8 rows x 4 columns, top half dark.
    pixels = np.full((4, 8, 3), 250, np.uint8)
    pixels[:, :4] = 0
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "photo.png"
    Image.fromarray(pixels).save(path, exif=exif)
    upright = data.read_image(path).image
    assert upright.shape == (8, 4, 3)
    assert upright[:4].max() == 0 and upright[4:].min() == 250


def test_a_class_missing_from_validation_or_test_is_warned_of(tmp_path):
    root = _folder(tmp_path / "images", {"train": {"a": 4, "b": 4, "c": 4},
                                         "validation": {"a": 2, "b": 2}, "test": {"a": 2, "b": 2, "c": 2}})
    warnings = " ".join(_prepare(root, tmp_path / "ds")["checks"]["warnings"])
    assert "1 class(es) have no validation example, so the validation error leaves them out: 'c'" in warnings
    assert "no test example" not in warnings


def test_a_gs_folder_is_read_through_the_vertex_mount(tmp_path, monkeypatch):
    with pytest.raises(DataError, match=r"'gs://b/images' is not a folder \(/gcs/b/images: gs:// folders"):
        _prepare("gs://b/images", tmp_path / "ds")
    root = _folder(tmp_path / "gcs" / "b" / "images")
    monkeypatch.setattr(data, "GCS_MOUNT", str(tmp_path / "gcs") + "/")   # as Vertex AI mounts it
    assert _prepare("gs://b/images", tmp_path / "ds")["splits"]["train"] == 8
