"""Datasets: loading (embedded digits, tfds by name, an image folder) and checks; the prepare
step writes them as the Dataset artifact (format: adanas.artifacts) that every candidate reads.

Images stay raw (0..255); every model scales them itself (see `adanas.models`), so train, eval
and the exported ensemble cannot disagree on scaling. Augmentation runs on the fly in each
candidate's input pipeline (fresh randomness every epoch) with the policy recorded here.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adanas import artifacts
from adanas.artifacts import SPLITS
from adanas.config import AugmentationConfig, ConfigError, DatasetConfig

log = logging.getLogger(__name__)

# Train/validation/test carving uses its own fixed seed: the held-out data must not change when
# the search seed does, or runs with different seeds would be scored on different test sets.
SPLIT_SEED = 20190314


class DataError(ValueError):
    """The data cannot be used as it is; the message says what is wrong and where."""


@dataclass
class Splits:
    x: dict[str, np.ndarray]   # split -> uint8 [N, H, W, C]
    y: dict[str, np.ndarray]   # split -> int64 [N]
    num_classes: int
    class_names: list[str]
    source: str


# --- sources -----------------------------------------------------------------------------------

def _carve(x: np.ndarray, y: np.ndarray, fraction: float, rng: np.random.Generator):
    """Splits off `fraction` of (x, y) at random; returns (rest, carved)."""
    order = rng.permutation(len(x))
    n = int(round(len(x) * fraction))
    cut, keep = order[:n], order[n:]
    return (x[keep], y[keep]), (x[cut], y[cut])


def load_digits(cfg: DatasetConfig) -> Splits:
    """scikit-learn's bundled 8x8 digits (1,797 real images): no network needed."""
    from sklearn.datasets import load_digits as _load
    bunch = _load()
    # Pixel values are 0..16; stretch them to 0..255 so every dataset has the same range.
    x = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    y = bunch.target.astype(np.int64)
    rng = np.random.default_rng(SPLIT_SEED)
    rest, test = _carve(x, y, cfg.test_fraction, rng)
    train, val = _carve(*rest, cfg.validation_fraction / (1.0 - cfg.test_fraction), rng)
    return Splits({"train": train[0], "validation": val[0], "test": test[0]},
                  {"train": train[1], "validation": val[1], "test": test[1]},
                  10, [str(i) for i in range(10)], "sklearn.datasets.load_digits")


def _to_numpy(ds, what: str, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow_datasets as tfds
    if limit:
        ds = ds.take(limit)
    xs, ys, shape = [], [], None
    for i, (image, label) in enumerate(tfds.as_numpy(ds)):
        image = np.asarray(image)
        if image.ndim == 2:
            image = image[..., None]
        if shape is None:
            shape = image.shape
        elif image.shape != shape:
            raise DataError(f"{what}: inconsistent image shapes: example 0 is {shape}, example {i} "
                            f"is {image.shape}; resize the images to one shape first")
        xs.append(image)
        ys.append(int(label))
    if not xs:
        raise DataError(f"{what}: the split is empty")
    x = np.stack(xs)
    if x.dtype != np.uint8:
        raise DataError(f"{what}: images must be uint8 pixels, got {x.dtype}")
    return x, np.asarray(ys, dtype=np.int64)


def _assemble(found: dict[str, tuple[np.ndarray, np.ndarray]], cfg: DatasetConfig,
              num_classes: int, class_names: list[str], source: str) -> Splits:
    """Fills the missing validation/test split by carving it out of train."""
    if "train" not in found:
        raise DataError(f"{source}: no 'train' split (found: {', '.join(found) or 'none'})")
    rng = np.random.default_rng(SPLIT_SEED)
    train = found["train"]
    if "test" not in found:
        train, found["test"] = _carve(*train, cfg.test_fraction, rng)
    if "validation" not in found:
        train, found["validation"] = _carve(*train, cfg.validation_fraction, rng)
    found["train"] = train
    return Splits({k: found[k][0] for k in SPLITS}, {k: found[k][1] for k in SPLITS},
                  num_classes, class_names, source)


def _label_info(info, name: str) -> tuple[int, list[str]]:
    label = info.features[info.supervised_keys[1]]
    num_classes = getattr(label, "num_classes", None)
    if not num_classes:
        raise DataError(f"{name}: the label feature is not a ClassLabel; only image "
                        f"classification datasets can be searched")
    return int(num_classes), list(label.names)


def load_tfds(cfg: DatasetConfig) -> Splits:
    """Any tfds image classification dataset, through the real tfds code path."""
    import tensorflow_datasets as tfds
    builder = tfds.builder(cfg.name, data_dir=cfg.data_dir)
    info = builder.info
    keys = info.supervised_keys
    if not keys or len(keys) != 2 or "image" not in str(keys[0]):
        raise DataError(f"{cfg.name}: not an image classification dataset "
                        f"(supervised keys {keys}; need (image, label))")
    num_classes, names = _label_info(info, cfg.name)
    # info.splits is only known once the data is prepared; assume the usual train/test otherwise.
    available = set(info.splits.keys()) or {"train", "test"}
    found = {}
    for split in SPLITS:
        if split not in available:
            continue
        try:
            ds = tfds.load(cfg.name, split=split, data_dir=cfg.data_dir, download=cfg.download,
                           as_supervised=True, shuffle_files=False)
        except AssertionError as e:  # tfds' way of saying the files are not there
            raise DataError(
                f"{cfg.name}: {e}. Set dataset.download: true to let tfds download it, or prepare "
                f"it into dataset.data_dir (a genuine archive in <data_dir>/downloads/manual "
                f"also works)") from None
        found[split] = _to_numpy(ds, f"{cfg.name}[{split}]", cfg.max_examples_per_split)
    return _assemble(found, cfg, num_classes, names, f"tfds:{cfg.name}")


def load_folder(cfg: DatasetConfig) -> Splits:
    """Images in data_dir/<split>/<class>/*.png|jpg, read with tfds.ImageFolder (no network)."""
    import tensorflow_datasets as tfds
    root = Path(cfg.data_dir or "")
    if not root.is_dir():
        raise DataError(f"dataset.data_dir {str(root)!r} is not a folder")
    try:
        builder = tfds.ImageFolder(str(root))
    except Exception as e:  # tfds raises bare ValueError/KeyError for odd layouts
        raise DataError(f"{root}: not a <split>/<class>/<image> folder: {e}") from None
    num_classes, names = _label_info(builder.info, str(root))
    found = {}
    for split in builder.info.splits.keys():
        if split not in SPLITS:
            log.warning("%s: ignoring split folder %r (allowed: %s)", root, split, ", ".join(SPLITS))
            continue
        ds = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False)
        found[split] = _to_numpy(ds, f"{root}/{split}", cfg.max_examples_per_split)
    return _assemble(found, cfg, num_classes, names, f"folder:{root}")


def load(cfg: DatasetConfig) -> Splits:
    if cfg.name == "digits":
        splits = load_digits(cfg)
        if cfg.max_examples_per_split:
            splits.x = {k: v[:cfg.max_examples_per_split] for k, v in splits.x.items()}
            splits.y = {k: v[:cfg.max_examples_per_split] for k, v in splits.y.items()}
    elif cfg.name == "folder":
        splits = load_folder(cfg)
    else:
        splits = load_tfds(cfg)
    check(splits)
    return splits


# --- checks ------------------------------------------------------------------------------------

def check(splits: Splits) -> None:
    """Raises DataError on data no candidate could learn from or be scored on."""
    shape = None
    for split in SPLITS:
        x, y = splits.x.get(split), splits.y.get(split)
        if x is None or len(x) == 0:
            raise DataError(f"split {split!r} is empty")
        if x.ndim != 4:
            raise DataError(f"split {split!r}: images must be [N, H, W, C], got shape {x.shape}")
        if len(x) != len(y):
            raise DataError(f"split {split!r}: {len(x)} images but {len(y)} labels")
        if shape is None:
            shape = x.shape[1:]
        elif x.shape[1:] != shape:
            raise DataError(f"split {split!r}: image shape {x.shape[1:]} differs from the "
                            f"train split's {shape}")
        bad = (y < 0) | (y >= splits.num_classes)
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"split {split!r}: {int(bad.sum())} labels outside [0, "
                            f"{splits.num_classes}), e.g. example {i} has label {int(y[i])}")
    if splits.num_classes < 2:
        raise DataError(f"need at least 2 classes, got {splits.num_classes}")


def check_augmentation(aug: AugmentationConfig, image_shape: tuple[int, ...]) -> None:
    """The augmentation rules of AugmentationConfig.check_image_shape, on the loaded images
    (adanas.preflight already checked them where the shape was known without loading)."""
    try:
        aug.check_image_shape(image_shape)
    except ConfigError as e:
        raise DataError(str(e)) from None


# --- the shape of a dataset, without loading it ---------------------------------------------------

DIGITS_SHAPE, DIGITS_CLASSES = (8, 8, 1), 10
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass
class Peek:
    """What is known of a dataset before loading it."""
    image_shape: tuple[int, int, int]
    num_classes: int
    how: str


def peek(cfg: DatasetConfig) -> Peek | None:
    """The image shape and class count of `cfg`'s dataset without loading it, or None where it
    cannot be known so: digits is 8x8x1 with 10 classes; a tfds dataset's builder info (from its
    code, or its prepared metadata in data_dir; no download) when its image feature has a fixed
    shape; a folder's first training image (tfds.ImageFolder decodes every image to 3
    channels) and its class folders."""
    if cfg.name == "digits":
        return Peek(DIGITS_SHAPE, DIGITS_CLASSES, "the embedded digits")
    if cfg.name == "folder":
        return _peek_folder(Path(cfg.data_dir or ""))
    import tensorflow_datasets as tfds
    try:
        info = tfds.builder(cfg.name, data_dir=cfg.data_dir).info
        keys = info.supervised_keys
        shape = tuple(info.features[keys[0]].shape)
        num_classes = int(info.features[keys[1]].num_classes)
    except Exception:  # noqa: BLE001 - not knowable without loading: the prepare step checks
        return None
    if len(shape) != 3 or not all(isinstance(d, int) for d in shape):
        return None
    return Peek(shape, num_classes, f"tfds {cfg.name} builder info")


def _peek_folder(root: Path) -> Peek | None:
    from PIL import Image
    train = root / "train"
    if not train.is_dir():
        return None
    classes = {d.name for split in root.iterdir() if split.is_dir() for d in split.iterdir() if d.is_dir()}
    first = next((f for d in sorted(p for p in train.iterdir() if p.is_dir())
                  for f in sorted(d.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES), None)
    if first is None:
        return None
    try:
        with Image.open(first) as image:
            width, height = image.size
    except OSError:
        return None
    return Peek((height, width, 3), len(classes), f"its first image {first}")


def write_splits(splits: Splits, augmentation: AugmentationConfig, out_dir: str | os.PathLike,
                 dataset_name: str, dataset_config: DatasetConfig | None = None) -> dict[str, Any]:
    """Writes checked splits and the policy as a Dataset artifact; returns its meta record."""
    meta = {
        "dataset": dataset_name,
        # What a continued search compares before any compute (adanas.continuation).
        **({"config": dataclasses.asdict(dataset_config)} if dataset_config is not None else {}),
        "source": splits.source,
        "num_classes": splits.num_classes,
        "class_names": splits.class_names,
        "image_shape": list(splits.x["train"].shape[1:]),
        "splits": {k: int(len(splits.y[k])) for k in SPLITS},
        "augmentation": dataclasses.asdict(augmentation),
    }
    artifacts.write_dataset(out_dir, splits.x, splits.y, meta)
    return meta


# --- the prepare step ---------------------------------------------------------------------------

def prepare_step(dataset: DatasetConfig, augmentation: AugmentationConfig,
                 out_dir: str | os.PathLike,
                 preview_out: str | os.PathLike | None = None) -> dict[str, Any]:
    """Loads and checks the data, records the augmentation policy (applied on the fly by each
    training task), writes the Dataset artifact and, to `preview_out`, an HTML page of a few
    training images per class, raw and augmented (adanas.preview). Returns its meta record."""
    splits = load(dataset)
    check_augmentation(augmentation, splits.x["train"].shape[1:])
    meta = write_splits(splits, augmentation, out_dir, dataset.name, dataset)
    log.info("dataset %s: %s images of shape %s, %d classes", dataset.name, meta["splits"],
             meta["image_shape"], meta["num_classes"])
    if preview_out is not None:
        # TensorFlow (the training input pipeline's augmentation) and matplotlib: imported by
        # the step that draws the preview only, as train.py does for adanas.augment.
        from adanas import preview
        preview.write_preview(out_dir, preview_out)
    return meta
