"""Datasets: sources (embedded digits, tfds by name, an image folder), the data checks, and the
prepare step that streams them, example by example, into the Dataset artifact (format:
adanas.artifacts) that every candidate reads.

No split is ever held in memory (the 1,797 embedded digits excepted): a source yields one
example at a time, a missing validation/test split is carved out of train by one seeded draw
per example, and the checks keep per-class counts and an 8-byte digest per image. An image
folder is listed (file names only) and shuffled once, with a fixed seed, so that its shards do
not come out sorted by class.

Images stay raw (0..255); every model scales them itself (see `adanas.models`), so train, eval
and the exported ensemble cannot disagree on scaling. Augmentation runs on the fly in each
candidate's input pipeline (fresh randomness every epoch) with the policy recorded here.

The checks' report is meta.json's `checks` (and the step's log): undecodable files, converted
and resized images, examples per class, class imbalance, exact duplicate images within a split
and across splits (leakage). What cannot be used fails the step with a DataError naming the
files, classes or examples at fault.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from adanas import artifacts
from adanas.artifacts import SPLITS
from adanas.config import GCS_MOUNT, AugmentationConfig, ConfigError, DatasetConfig

log = logging.getLogger(__name__)

# Train/validation/test carving uses its own fixed seed: the held-out data must not change when
# the search seed does, or runs with different seeds would be scored on different test sets.
SPLIT_SEED = 20190314

DIGITS_SHAPE, DIGITS_CLASSES = (8, 8, 1), 10
# What an image folder's files may be (PIL decodes them all; a 16-bit TIFF is refused by mode).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# PIL modes a folder image may have that convert to 8-bit RGB without losing range (16-bit and
# float modes would be clipped).
CONVERTIBLE_MODES = ("1", "L", "LA", "La", "P", "PA", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr",
                     "LAB", "HSV")
# Names a report or an error message lists at most.
EXAMPLES = 10
LOG_EVERY = 50_000


class DataError(ValueError):
    """The data cannot be used as it is; the message says what is wrong and where."""


# --- sources: each split a stream of examples ----------------------------------------------------

@dataclass
class Example:
    """One example as a source reads it."""
    index: int                      # its position in its source split
    label: int
    image: np.ndarray | None        # uint8 [H, W, C]; None: the file could not be decoded
    problem: str = ""               # why it could not
    converted_from: str = ""        # a folder image's own PIL mode, when converted to RGB


@dataclass
class Source:
    """A dataset as one stream of examples per split it has (each iterated once)."""
    name: str                                   # what meta.json records as `source`
    num_classes: int
    class_names: list[str]
    splits: dict[str, Iterable[Example]]        # in SPLITS order; train at least
    sizes: dict[str, int | None]                # examples each stream yields, where known
    describe: Callable[[str, int], str]         # (source split, index) -> where to find it
    notes: list[str] = dataclasses.field(default_factory=list)   # for the checks' warnings


def digits_source(cfg: DatasetConfig) -> Source:
    """scikit-learn's bundled 8x8 digits (1,797 real images, no network): small enough to carve
    in memory, with the split every earlier AdaNAS version used."""
    from sklearn.datasets import load_digits  # sklearn's import is slow: only for digits
    bunch = load_digits()
    # Pixel values are 0..16; stretch them to 0..255 so every dataset has the same range.
    x = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    y = bunch.target.astype(np.int64)
    rng = np.random.default_rng(SPLIT_SEED)
    rest, test = _carve(np.arange(len(y)), cfg.test_fraction, rng)
    train, val = _carve(rest, cfg.validation_fraction / (1.0 - cfg.test_fraction), rng)
    picked = {s: ids[:cfg.max_examples_per_split] for s, ids in
              (("train", train), ("validation", val), ("test", test))}

    def examples(ids: np.ndarray) -> Iterator[Example]:
        for i, j in enumerate(ids):
            yield Example(i, int(y[j]), x[j])

    return Source("sklearn.datasets.load_digits", DIGITS_CLASSES,
                  [str(i) for i in range(DIGITS_CLASSES)],
                  {s: examples(ids) for s, ids in picked.items()},
                  {s: len(ids) for s, ids in picked.items()},
                  lambda split, i: f"digits[{split}] example {i} (sklearn image {picked[split][i]})")


def _carve(ids: np.ndarray, fraction: float, rng: np.random.Generator):
    """Splits off `fraction` of `ids` at random; returns (rest, carved)."""
    order = rng.permutation(len(ids))
    n = int(round(len(ids) * fraction))
    return ids[order[n:]], ids[order[:n]]


def _label_info(info, name: str) -> tuple[int, list[str]]:
    label = info.features[info.supervised_keys[1]]
    num_classes = getattr(label, "num_classes", None)
    if not num_classes:
        raise DataError(f"{name}: the label feature is not a ClassLabel; only image "
                        f"classification datasets can be searched")
    return int(num_classes), list(label.names)


def tfds_source(cfg: DatasetConfig) -> Source:
    """Any tfds image classification dataset, through the real tfds code path, read example by
    example."""
    import tensorflow_datasets as tfds  # imports TensorFlow: only for tfds datasets
    builder = tfds.builder(cfg.name, data_dir=cfg.data_dir)
    info = builder.info
    keys = info.supervised_keys
    if not keys or len(keys) != 2 or "image" not in str(keys[0]):
        raise DataError(f"{cfg.name}: not an image classification dataset "
                        f"(supervised keys {keys}; need (image, label))")
    num_classes, names = _label_info(info, cfg.name)
    # info.splits is only known once the data is prepared: a dataset without a test split
    # (tf_flowers) failed, and one with a validation split (beans) had it carved from train on
    # its first run but not on later ones. So prepare first (a no-op once prepared).
    if cfg.download:
        builder.download_and_prepare()
        info = builder.info
    # Not prepared and not to be downloaded: loading says so (below); assume train and test.
    available = set(info.splits.keys()) or {"train", "test"}
    streams, sizes = {}, {}
    for split in SPLITS:
        if split not in available:
            continue
        try:
            ds = tfds.load(cfg.name, split=split, data_dir=cfg.data_dir, download=False,
                           as_supervised=True, shuffle_files=False)
        except AssertionError as e:  # tfds' way of saying the files are not there
            raise DataError(
                f"{cfg.name}: {e}. Set dataset.download: true to let tfds download it, or prepare "
                f"it into dataset.data_dir (a genuine archive in <data_dir>/downloads/manual "
                f"also works)") from None
        except ValueError as e:   # e.g. a split the prepared data does not have
            raise DataError(f"{cfg.name}[{split}]: tfds cannot load it: {e}") from None
        if cfg.max_examples_per_split:
            ds = ds.take(cfg.max_examples_per_split)
        count = int(ds.cardinality())
        sizes[split] = count if count >= 0 else None
        streams[split] = _tfds_examples(tfds.as_numpy(ds))
    return Source(f"tfds:{cfg.name}", num_classes, names, streams, sizes,
                  lambda split, i: f"{cfg.name}[{split}] example {i}")


def _tfds_examples(pairs: Iterable[tuple[np.ndarray, Any]]) -> Iterator[Example]:
    for i, (image, label) in enumerate(pairs):
        image = np.asarray(image)
        yield Example(i, int(label), image[..., None] if image.ndim == 2 else image)


def _own(path: Path) -> bool:
    """Whether a folder entry is the user's, not a tool's: hidden names (.ipynb_checkpoints,
    .DS_Store, macOS's ._ copies), __MACOSX, a NAS's @eaDir."""
    return not path.name.startswith((".", "__", "@"))


def subfolders(folder: Path) -> list[Path]:
    """The user's subfolders of an image folder dataset's folder (its splits, or a split's
    classes), sorted."""
    return sorted(d for d in folder.iterdir() if d.is_dir() and _own(d))


def image_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(the image files of a class folder, sorted; the other files it holds)."""
    files = sorted(f for f in folder.iterdir() if f.is_file() and _own(f))
    return ([f for f in files if f.suffix.lower() in IMAGE_SUFFIXES],
            [f for f in files if f.suffix.lower() not in IMAGE_SUFFIXES])


def folder_source(cfg: DatasetConfig) -> Source:
    """Images in data_dir/<split>/<class>/<file> (IMAGE_SUFFIXES), decoded one at a time with
    PIL (an undecodable file is named, not fatal here: the checks decide), turned upright by
    their EXIF orientation and converted to RGB. Classes are the class folders of all splits,
    sorted; hidden and tools' folders and files are left out, other files are counted in the
    checks' warnings. Each split's files are shuffled with a fixed seed (the file names are all
    it holds)."""
    given = cfg.data_dir or ""
    # Cloud Storage is read through Vertex AI's mount (adanas.config.check_data_dir).
    root = Path(GCS_MOUNT + given.removeprefix("gs://") if given.startswith("gs://") else given)
    if not root.is_dir():
        raise DataError(f"dataset.data_dir {given!r} is not a folder"
                        + (f" ({root}: gs:// folders are read through Vertex AI's {GCS_MOUNT} "
                           f"mount, which this machine does not have)" if given != str(root) else ""))
    folders = [d.name for d in subfolders(root)]
    for name in folders:
        if name not in SPLITS:
            log.warning("%s: ignoring folder %r (split folders: %s)", root, name, ", ".join(SPLITS))
    present = [s for s in SPLITS if s in folders]
    classes = sorted({c.name for s in present for c in subfolders(root / s)})
    if not classes:
        raise DataError(f"{root}: not a <split>/<class>/<image> folder: no class folders in "
                        f"{', '.join(present) or 'any split folder (train, validation, test)'}")
    files: dict[str, tuple[list[str], np.ndarray]] = {}
    ignored: Counter[str] = Counter()
    for split in present:
        names, labels = [], []
        for label, cls in enumerate(classes):
            folder = root / split / cls
            if folder.is_dir():
                found, other = image_files(folder)
                names += [f"{cls}/{f.name}" for f in found]
                labels += [label] * len(found)
                ignored.update(f.suffix.lower() or "(no suffix)" for f in other)
        if not names:
            log.warning("%s/%s: no %s images; the split is treated as missing", root, split,
                        "|".join(IMAGE_SUFFIXES))
            continue
        order = np.random.default_rng(SPLIT_SEED).permutation(len(names))[:cfg.max_examples_per_split]
        files[split] = ([names[i] for i in order], np.asarray(labels, np.int64)[order])
    notes = [f"ignored {sum(ignored.values())} file(s) that are not images by their suffix ("
             + ", ".join(f"{k}: {n}" for k, n in sorted(ignored.items()))
             + f"; images: {'|'.join(IMAGE_SUFFIXES)})"] if ignored else []
    return Source(f"folder:{root}", len(classes), classes,
                  {s: _folder_examples(root / s, *v) for s, v in files.items()},
                  {s: len(v[0]) for s, v in files.items()},
                  lambda split, i: str(root / split / files[split][0][i]), notes)


def _folder_examples(folder: Path, names: list[str], labels: np.ndarray) -> Iterator[Example]:
    for i, (name, label) in enumerate(zip(names, labels)):
        yield read_image(folder / name, i, int(label))


def read_image(path: Path, index: int = 0, label: int = 0) -> Example:
    """One image file as an RGB example; `image` None (and the reason) where PIL cannot decode
    it, a DataError where its mode cannot become 8-bit RGB."""
    try:
        with Image.open(path) as image:
            image.load()
            # A camera's photo is stored as the sensor read it, with the turn that makes it
            # upright in its EXIF orientation; a viewer applies it, and so does training (in
            # place: without a turn to make, no copy of the image).
            ImageOps.exif_transpose(image, in_place=True)
            mode = image.mode
            if mode != "RGB" and mode not in CONVERTIBLE_MODES:
                raise DataError(f"{path}: image mode {mode} (16-bit or float pixels) cannot be "
                                f"converted to 8-bit RGB without losing range; convert the file "
                                f"to 8-bit first")
            pixels = np.asarray(image if mode == "RGB" else image.convert("RGB"), np.uint8)
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - PIL raises OSError, SyntaxError, ValueError, ... on bad files
        return Example(index, label, None, problem=f"{type(e).__name__}: {e}")
    return Example(index, label, pixels, converted_from="" if mode == "RGB" else mode)


def open_source(cfg: DatasetConfig) -> Source:
    if cfg.name == "digits":
        source = digits_source(cfg)
    elif cfg.name == "folder":
        source = folder_source(cfg)
    else:
        source = tfds_source(cfg)
    if "train" not in source.splits:
        raise DataError(f"{source.name}: no 'train' split (found: {', '.join(source.splits) or 'none'})")
    if source.num_classes < 2:
        raise DataError(f"{source.name}: need at least 2 classes, got {source.num_classes}")
    return source


# --- carving validation/test out of train, streaming ----------------------------------------------

class Carver:
    """Assigns each example of a source's train split, in order, to train or to a split carved
    out of it, by one draw per example from an RNG seeded with SPLIT_SEED. Where the count is
    known, sequential selection sampling gives each carved split exactly round(n x fraction)
    examples, drawn uniformly (as shuffling and cutting would, without holding the split);
    unknown, each example falls in a carved split with its fraction's probability."""

    def __init__(self, total: int | None, fractions: dict[str, float]):
        self.rng = np.random.default_rng(SPLIT_SEED)
        self.fractions = fractions
        self.left: dict[str, int] | None = None
        if total is not None:
            self.left = {s: int(round(total * f)) for s, f in fractions.items()}
            self.left["train"] = total - sum(self.left.values())

    def __call__(self) -> str:
        u = self.rng.random()
        if self.left is None:
            edge = 0.0
            for split, fraction in self.fractions.items():
                edge += fraction
                if u < edge:
                    return split
            return "train"
        total = sum(self.left.values())
        if total <= 0:  # more examples than the source said: the rest train
            return "train"
        pick, edge = int(u * total), 0
        for split, n in self.left.items():
            edge += n
            if pick < edge:
                self.left[split] -= 1
                return split
        return "train"


def stream(source: Source, cfg: DatasetConfig) -> Iterator[tuple[str, str, Example]]:
    """(source split, split it is stored in, example) for every example of the source, with a
    missing validation/test carved out of train (validation_fraction and test_fraction of it)."""
    carved = {s: f for s, f in (("test", cfg.test_fraction),
                                ("validation", cfg.validation_fraction)) if s not in source.splits}
    for split, examples in source.splits.items():
        carve = Carver(source.sizes.get(split), carved) if split == "train" and carved else None
        for example in examples:
            yield split, carve() if carve else split, example


# --- the checks ----------------------------------------------------------------------------------

def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 [H, W, C] resized to `size` (height, width), bilinear, channel by channel where
    PIL has no mode for C channels."""
    height, width = size
    modes = {1: "L", 3: "RGB", 4: "RGBA"}
    if image.shape[-1] in modes:
        pixels = image[..., 0] if image.shape[-1] == 1 else image
        out = np.asarray(Image.fromarray(pixels, modes[image.shape[-1]])
                         .resize((width, height), Image.BILINEAR))
        return out.reshape(height, width, image.shape[-1])
    return np.stack([_resize(image[..., c:c + 1], size)[..., 0] for c in range(image.shape[-1])], -1)


def _digest(image: np.ndarray) -> int:
    return int.from_bytes(hashlib.blake2b(image.tobytes(), digest_size=8).digest(), "little")


def _some(names: list[str], count: int) -> str:
    more = f" and {count - len(names)} more" if count > len(names) else ""
    return ", ".join(names) + more


class DataChecks:
    """The checks that need every image, run as the examples stream past; `admit` returns the
    image to store (converted, resized) or None (skipped), or raises DataError; `finish` the
    report (meta.json's `checks`), or raises DataError. State: per-class counts per split and an
    8-byte digest plus an 8-byte reference per image (for duplicates), no images."""

    # An image's reference: its source split's position in SPLITS times this, plus its index.
    _REF = 1 << 40

    def __init__(self, cfg: DatasetConfig, source: Source):
        self.cfg, self.source = cfg, source
        self.size = tuple(cfg.image_size) if cfg.image_size else None
        self.shape: tuple[int, ...] | None = None
        self.first = ""
        self.bad: list[str] = []
        self.bad_count = 0
        self.converted: Counter[str] = Counter()
        self.converted_names: list[str] = []
        self.resized = 0
        self.counts = {s: np.zeros(source.num_classes, np.int64) for s in SPLITS}
        self.digests = {s: array("Q") for s in SPLITS}
        self.refs = {s: array("q") for s in SPLITS}

    def _where(self, ref: int) -> str:
        k, index = divmod(ref, self._REF)
        return self.source.describe(SPLITS[k], index)

    def admit(self, source_split: str, split: str, example: Example) -> np.ndarray | None:
        where = lambda: self.source.describe(source_split, example.index)  # noqa: E731
        if example.image is None:
            self.bad_count += 1
            if len(self.bad) < EXAMPLES:
                self.bad.append(f"{where()} ({example.problem})")
            if self.cfg.bad_images == "skip":
                log.warning("skipping %s: %s", where(), example.problem)
            return None
        n = self.source.num_classes
        if not 0 <= example.label < n:
            raise DataError(f"{where()}: label {example.label} is outside the class list "
                            f"(labels 0..{n - 1} of {n} classes)")
        image = example.image
        if image.dtype != np.uint8 or image.ndim != 3:
            raise DataError(f"{where()}: images must be uint8 [H, W, C] pixels, got "
                            f"{image.dtype} of shape {image.shape}")
        if example.converted_from:
            self.converted[example.converted_from] += 1
            if len(self.converted_names) < EXAMPLES:
                self.converted_names.append(f"{where()} ({example.converted_from})")
        if self.size and image.shape[:2] != self.size:
            image = _resize(image, self.size)
            self.resized += 1
        if self.shape is None:
            self.shape, self.first = image.shape, where()
        elif image.shape != self.shape:
            raise DataError(self._shape_error(where(), image.shape))
        self.counts[split][example.label] += 1
        self.digests[split].append(_digest(image))
        self.refs[split].append(SPLITS.index(source_split) * self._REF + example.index)
        return image

    def _shape_error(self, where: str, shape: tuple[int, ...]) -> str:
        h, w, c = shape
        if c != self.shape[2]:
            return (f"{where}: inconsistent image shapes: {c} channels, the first image "
                    f"({self.first}) has {self.shape[2]}; give every image the same channels")
        return (f"{where}: inconsistent image shapes: {h}x{w}, the first image ({self.first}) "
                f"is {self.shape[0]}x{self.shape[1]}; set dataset.image_size: [height, width] "
                f"to resize every image to one size")

    def finish(self) -> dict[str, Any]:
        """The report; raises DataError on what no candidate could learn from or be scored on
        (bad files under bad_images: fail, an empty split, too few examples of a class, leakage
        under duplicates: fail)."""
        cfg, warnings = self.cfg, list(self.source.notes)
        if self.bad_count and cfg.bad_images == "fail":
            raise DataError(f"{self.bad_count} image file(s) cannot be decoded: "
                            f"{_some(self.bad, self.bad_count)}; fix or remove them, or set "
                            f"dataset.bad_images: skip to leave them out")
        if self.bad_count:
            warnings.append(f"skipped {self.bad_count} undecodable image file(s): "
                            f"{_some(self.bad, self.bad_count)}")
        for split in SPLITS:
            if not len(self.digests[split]):
                raise DataError(f"{self.source.name}: split {split!r} is empty"
                                + (f" (max_examples_per_split {cfg.max_examples_per_split} or "
                                   f"its fraction of train too small?)" if split != "train" else ""))
        converted = sum(self.converted.values())
        if converted:
            modes = ", ".join(f"{m}: {k}" for m, k in sorted(self.converted.items()))
            warnings.append(f"converted {converted} image(s) to RGB ({modes}), e.g. "
                            f"{_some(self.converted_names[:3], converted)}")
        duplicates = self._duplicates(warnings)
        names = self.source.class_names
        train = self.counts["train"]
        few = np.flatnonzero(train < cfg.min_examples_per_class)
        if len(few):
            listed = [f"{names[i]!r} ({int(train[i])})" for i in few[:EXAMPLES]]
            raise DataError(f"{len(few)} class(es) with fewer than dataset.min_examples_per_class "
                            f"= {cfg.min_examples_per_class} training examples: "
                            f"{_some(listed, len(few))}; add images or remove the class"
                            + (f" (or raise dataset.max_examples_per_split, "
                               f"{cfg.max_examples_per_split})" if cfg.max_examples_per_split
                               else ""))
        for split in ("validation", "test"):
            # Selection (validation) or the reported error (test) would leave these classes out.
            absent = [f"{names[i]!r}" for i in np.flatnonzero(self.counts[split] == 0)]
            if absent:
                warnings.append(f"{len(absent)} class(es) have no {split} example, so the {split} "
                                f"error leaves them out: {_some(absent[:EXAMPLES], len(absent))}")
        largest, smallest = int(np.argmax(train)), int(np.argmin(train))
        ratio = float(train[largest] / train[smallest])
        if ratio > cfg.max_imbalance:
            warnings.append(f"class imbalance: {names[largest]!r} has {int(train[largest])} "
                            f"training examples, {names[smallest]!r} {int(train[smallest])} "
                            f"({ratio:.1f}x > dataset.max_imbalance {cfg.max_imbalance:g})")
        return {
            "warnings": warnings,
            "class_counts": {s: self.counts[s].tolist() for s in SPLITS},
            "imbalance": {"ratio": round(ratio, 2), "largest": names[largest],
                          "smallest": names[smallest], "threshold": cfg.max_imbalance},
            "bad_images": {"count": self.bad_count, "policy": cfg.bad_images, "examples": self.bad},
            "converted": {"count": converted, "modes": dict(self.converted),
                          "examples": self.converted_names},
            "resized": {"count": self.resized, "to": list(self.size) if self.size else None},
            "duplicates": duplicates,
        }

    def _duplicates(self, warnings: list[str]) -> dict[str, Any]:
        """Exact duplicates (equal pixel digests) within each split, and leakage: validation or
        test images equal to a train image, test images equal to a validation image."""
        d = {s: np.frombuffer(self.digests[s], np.uint64) for s in SPLITS}
        refs = {s: np.frombuffer(self.refs[s], np.int64) for s in SPLITS}
        within, across = {}, {}
        for split in SPLITS:
            order = np.argsort(d[split], kind="stable")
            same = np.flatnonzero(d[split][order][1:] == d[split][order][:-1])
            pairs = [f"{self._where(refs[split][order[i]])} = "
                     f"{self._where(refs[split][order[i + 1]])}" for i in same[:3]]
            within[split] = {"count": int(len(same)), "examples": pairs}
            if len(same):
                warnings.append(f"{len(same)} duplicate image(s) within {split}, e.g. {pairs[0]}")
        for later, earlier in (("validation", "train"), ("test", "train"), ("test", "validation")):
            hit = np.flatnonzero(np.isin(d[later], d[earlier]))
            pairs = [f"{self._where(refs[later][j])} = "
                     f"{self._where(refs[earlier][np.flatnonzero(d[earlier] == d[later][j])[0]])}"
                     for j in hit[:3]]
            across[f"{later}/{earlier}"] = {"count": int(len(hit)), "examples": pairs}
        leaks = {k: v for k, v in across.items() if v["count"]}
        if leaks:
            what = "; ".join(f"{v['count']} {k.split('/')[0]} image(s) also in {k.split('/')[1]}, "
                             f"e.g. {v['examples'][0]}" for k, v in leaks.items())
            if self.cfg.duplicates == "fail":
                raise DataError(f"images shared between splits (leakage): {what}; remove the "
                                f"copies, or set dataset.duplicates: warn")
            warnings.append(f"images shared between splits (leakage): {what}")
        return {"within": within, "across": across, "policy": self.cfg.duplicates}


def check_augmentation(aug: AugmentationConfig, image_shape: tuple[int, ...]) -> None:
    """The augmentation rules of AugmentationConfig.check_image_shape, on the loaded images
    (adanas.preflight already checked them where the shape was known without loading)."""
    try:
        aug.check_image_shape(image_shape)
    except ConfigError as e:
        raise DataError(str(e)) from None


# --- the shape of a dataset, without loading it ---------------------------------------------------

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
    shape (or its channels, with dataset.image_size); a folder's first training image (the
    prepare step converts every image to RGB) and its class folders."""
    size = tuple(cfg.image_size) if cfg.image_size else None
    if cfg.name == "digits":
        return Peek(size + DIGITS_SHAPE[2:] if size else DIGITS_SHAPE, DIGITS_CLASSES,
                    "the embedded digits")
    if cfg.name == "folder":
        return _peek_folder(Path(cfg.data_dir or ""), size)
    import tensorflow_datasets as tfds  # imports TensorFlow: only for tfds datasets
    try:
        info = tfds.builder(cfg.name, data_dir=cfg.data_dir).info
        keys = info.supervised_keys
        shape = tuple(info.features[keys[0]].shape)
        num_classes = int(info.features[keys[1]].num_classes)
    except Exception:  # noqa: BLE001 - not knowable without loading: the prepare step checks
        return None
    if size and len(shape) == 3 and isinstance(shape[2], int):
        shape = size + shape[2:]
    if len(shape) != 3 or not all(isinstance(d, int) for d in shape):
        return None
    return Peek(shape, num_classes, f"tfds {cfg.name} builder info")


def _peek_folder(root: Path, size: tuple[int, int] | None) -> Peek | None:
    train = root / "train"
    if not train.is_dir():
        return None
    classes = {d.name for split in root.iterdir() if split.is_dir() and split.name in SPLITS
               for d in subfolders(split)}
    if size:
        return Peek(size + (3,), len(classes), "dataset.image_size")
    first = next((f for d in subfolders(train) for f in image_files(d)[0]), None)
    if first is None:
        return None
    try:
        with Image.open(first) as image:
            width, height = ImageOps.exif_transpose(image).size
    except OSError:
        return None
    return Peek((height, width, 3), len(classes), f"its first image {first}")


# --- the prepare step ---------------------------------------------------------------------------

def prepare_step(dataset: DatasetConfig, augmentation: AugmentationConfig,
                 out_dir: str | os.PathLike,
                 preview_out: str | os.PathLike | None = None) -> dict[str, Any]:
    """Streams the dataset through the checks into the Dataset artifact (shards of
    dataset.shard_size examples), records the augmentation policy (applied on the fly by each
    training task) and the checks' report, and writes to `preview_out` an HTML page of a few
    training images per class, raw and augmented (adanas.preview). Returns its meta record."""
    source = open_source(dataset)
    checks = DataChecks(dataset, source)
    seen = 0
    with artifacts.DatasetWriter(out_dir, dataset.shard_size, dataset.encoding) as writer:
        for source_split, split, example in stream(source, dataset):
            image = checks.admit(source_split, split, example)
            if image is None:
                continue
            if writer.image_shape is None:
                # The first image fixes the shape: a policy that cannot fit fails now, not
                # after the whole dataset is read.
                check_augmentation(augmentation, image.shape)
            writer.add(split, image, example.label)
            seen += 1
            if seen % LOG_EVERY == 0:
                log.info("dataset %s: %d examples written", dataset.name, seen)
        report = checks.finish()
        meta = writer.close({
            "dataset": dataset.name,
            # What a continued search compares before any compute (adanas.continuation).
            "config": dataclasses.asdict(dataset),
            "source": source.name,
            "num_classes": source.num_classes,
            "class_names": source.class_names,
            "augmentation": dataclasses.asdict(augmentation),
            "checks": report,
        })
    log.info("dataset %s: %s images of shape %s, %d classes, %s shard(s) of up to %d",
             dataset.name, meta["splits"], meta["image_shape"], meta["num_classes"],
             {s: len(v) for s, v in meta["shards"].items()}, dataset.shard_size)
    for line in report["warnings"]:
        log.warning("data check: %s", line)
    if preview_out is not None:
        # TensorFlow (the training input pipeline's augmentation) and matplotlib: imported by
        # the step that draws the preview only, as train.py does for adanas.augment.
        from adanas import preview
        preview.write_preview(out_dir, preview_out)
    return meta


# --- whole arrays in memory (tests, benchmarks) ------------------------------------------------------

@dataclass
class Splits:
    x: dict[str, np.ndarray]   # split -> uint8 [N, H, W, C]
    y: dict[str, np.ndarray]   # split -> int64 [N]
    num_classes: int
    class_names: list[str]
    source: str


def write_splits(splits: Splits, augmentation: AugmentationConfig, out_dir: str | os.PathLike,
                 dataset_name: str, dataset_config: DatasetConfig | None = None) -> dict[str, Any]:
    """Writes whole in-memory splits (synthetic data of tests and benchmarks; no checks) and the
    policy as a Dataset artifact; returns its meta record. The prepare step streams instead."""
    meta = {
        "dataset": dataset_name,
        **({"config": dataclasses.asdict(dataset_config)} if dataset_config is not None else {}),
        "source": splits.source,
        "num_classes": splits.num_classes,
        "class_names": splits.class_names,
        "augmentation": dataclasses.asdict(augmentation),
    }
    return artifacts.write_dataset(out_dir, splits.x, splits.y, meta)
