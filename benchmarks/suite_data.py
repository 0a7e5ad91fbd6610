"""The quality suite's image sets: four, and one held out, none needing a network, each made by a
seeded script.

  digits     the embedded 8x8x1 digits (scikit-learn's 1,797 real images), through the data step
             with its fixed split: 1,258 train / 269 validation / 270 test.
  digits32   the same digits, same split, CIFAR-shaped: each 8x8 image upscaled (bilinear) to
             32x32 and painted as RGB: light ink (each channel 150-255) on a dark ground (0-100),
             random per image, as benchmarks/claims.py's CIFAR-shaped digits, plus a random
             brightness ramp and pixel noise. The class is the stroke shape; colour carries no
             information. (A first version let either colour be the lighter one: contrast
             inverted at random made it near chance for every system within 2 minutes.)
  textures   procedural 32x32 RGB textures that fill the whole image; 10 classes = 5 kinds
             (stripes, checkerboard, dot lattice, concentric rings, low-pass noise blobs) x 2
             scales (period 7-11 px or 3.2-4.8 px), each drawn at a random orientation, phase,
             ring centre, edge sharpness, two random colours, contrast, brightness ramp and
             noise. The class is a texture statistic (kind, frequency), invariant to position
             and orientation: no object to find.
  shapes     procedural 32x32 RGB objects in clutter; 10 classes = 5 shapes (circle, square,
             triangle, cross, star) x {filled, outline (2 px)}, one per image at a random
             position (partly cut at the border at times), size (radius 7-12 px), rotation and
             colour, over a low-frequency colour background with 4-8 distractor strokes and 2-5
             small blobs behind it and 1-2 strokes over it. The class is one local object's
             shape and fill, to be told from clutter; filled vs outline is a fine distinction.

Held out (not in the suite's targets): a check of whether the defaults tuned on the four carry
over to structure none of them has. Made after every default was set; its first run exposed
that the default towers (no hidden layer after the pooling) cannot learn a count, and it is the
evidence for `search.architecture.dense_units: 64` in digits.yaml (BENCHMARKS.md, "Held-out
set"), so since then it is no longer unseen data:

  counts     procedural 32x32 RGB dots to count; 10 classes = 1 to 10 dots (radius 1.5-2.3 px,
             each its own colour, well apart from the ground and from each other) over a
             low-frequency colour background with 3-6 thin distractor strokes, ramp and noise.
             The class is a global count: no single local feature tells it, and telling 9 from 10
             is a fine distinction. Dots stay 4 px plus their radius inside the border, so
             pad-and-crop by 4 px never cuts one; its augmentation has no cutout, which would
             hide dots and change the label.

  angles     (made 2026-11-30, late, after counts had become the dense layer's evidence, to be unseen
             again) procedural 32x32 RGB bars to tell apart by orientation; 10 classes = 0, 18,
             ..., 162 degrees, each +-4 degrees, so neighbours are 10 degrees apart at the
             least: one bar (7-12 px either side of a centre near the middle, 1.5-3 px wide, a
             colour well apart from the ground) over a low-frequency colour background with 2-5
             round distractor blobs, ramp and noise. The class is an orientation, a fine and
             global property of one object, and mirror images are other classes: no flip.

textures, shapes, counts and angles have 300 train / 60 validation / 60 test images per class (3,000 / 600 /
600), balanced, each split drawn from its own seeded stream, so a CPU search of a few minutes
learns something and the test split is 600 images (one image = 0.17 points of error).

Each set is written once per (name, seed) under bench-out/suite/<name>-s<seed>/: the generated
sets as an image folder images/<split>/<class>/<n>.png (the `folder` source of
`adanas.data`), and the Dataset artifact dataset/ that the data step makes of it, with the
set's augmentation policy. A search reads the set through `dataset_overrides()` (the config
keys that point its dataset section at the folder), so its own data step writes the same
artifact. suite.json records what was made; a changed VERSION or sizes remakes it.

    python benchmarks/suite_data.py --preview [--sets ...] [--seed 0]   # shape, classes, sizes
    python benchmarks/suite_data.py --grid out.png [--sets ...]         # a few images per class
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from adanas import artifacts, data  # noqa: E402
from adanas.config import AugmentationConfig, DatasetConfig  # noqa: E402

SUITE_DIR = ROOT / "bench-out" / "suite"
VERSION = 3                       # of the generators: part of the cache key
SIZE = 32
PER_CLASS = {"train": 300, "validation": 60, "test": 60}
SPLITS = ("train", "validation", "test")

Arrays = tuple[dict[str, np.ndarray], dict[str, np.ndarray]]


@dataclasses.dataclass(frozen=True)
class SuiteSet:
    name: str
    description: str
    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    augmentation: dict[str, Any]              # the AugmentationConfig fields that differ from default
    generate: Callable[[int], Arrays] | None  # seed -> (x, y) per split; None: the embedded digits
    held_out: bool = False                    # not in the suite (its targets and table)

    def augmentation_config(self) -> AugmentationConfig:
        return AugmentationConfig(**self.augmentation)


# --- digits32 --------------------------------------------------------------------------------------

def _rng(name: str, seed: int, split: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode()), SPLITS.index(split)])


def _two_colours(rng: np.random.Generator, apart: float) -> tuple[np.ndarray, np.ndarray]:
    while True:
        a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        if np.linalg.norm(a - b) >= apart:
            return a, b


def _ramp(rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """A linear brightness ramp in a random direction, [SIZE, SIZE, 1], zero mean."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / (SIZE - 1) - 0.5
    t = rng.uniform(0, 2 * math.pi)
    return (rng.uniform(0, amplitude) * 2 * (np.cos(t) * xx + np.sin(t) * yy))[..., None]


def _finish(rng: np.random.Generator, image: np.ndarray, noise: tuple[float, float]) -> np.ndarray:
    image = image + _ramp(rng, 25.0) + rng.normal(0, rng.uniform(*noise), image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def _generate(name: str, seed: int, classes: tuple[str, ...],
              one: Callable[[np.random.Generator, int], np.ndarray]) -> Arrays:
    """Each split: its own seeded stream, balanced labels in a random order, then one image per
    label drawn by `one(rng, label)` from that stream."""
    xs, ys = {}, {}
    for split in SPLITS:
        rng = _rng(name, seed, split)
        labels = rng.permutation(np.repeat(np.arange(len(classes)), PER_CLASS[split]))
        xs[split] = np.stack([one(rng, int(label)) for label in labels])
        ys[split] = labels.astype(np.int64)
    return xs, ys


def digits32(seed: int) -> Arrays:
    source = data.digits_source(DatasetConfig(name="digits"))
    xs, ys = {}, {}
    for split in SPLITS:
        rng = _rng("digits32", seed, split)
        images, labels = [], []
        for example in source.splits[split]:
            small = Image.fromarray(example.image[..., 0], "L")
            mask = np.asarray(small.resize((SIZE, SIZE), Image.BILINEAR), np.float64)[..., None] / 255.0
            # Light ink on a dark ground, as benchmarks/claims.py's CIFAR-shaped digits: colour
            # carries nothing, and the polarity stays (an inverted digit is another task).
            fg, bg = rng.uniform(150, 255, 3), rng.uniform(0, 100, 3)
            images.append(_finish(rng, bg * (1 - mask) + fg * mask, (2.0, 10.0)))
            labels.append(example.label)
        xs[split], ys[split] = np.stack(images), np.asarray(labels, np.int64)
    return xs, ys


# --- textures --------------------------------------------------------------------------------------

TEXTURE_KINDS = ("stripes", "checker", "dots", "rings", "blobs")
TEXTURE_SCALES = {"coarse": (7.0, 11.0), "fine": (3.2, 4.8)}   # period in pixels
TEXTURE_CLASSES = tuple(f"{k}-{s}" for k in TEXTURE_KINDS for s in TEXTURE_SCALES)


def _texture_field(rng: np.random.Generator, kind: str, period: float) -> np.ndarray:
    """A pattern in about [-1, 1], [SIZE, SIZE]."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    t = rng.uniform(0, math.pi)
    u = xx * math.cos(t) + yy * math.sin(t)
    w = -xx * math.sin(t) + yy * math.cos(t)
    phase = rng.uniform(0, 2 * math.pi, 2)
    k = 2 * math.pi / period
    if kind == "stripes":
        return np.sin(k * u + phase[0])
    if kind == "checker":
        return np.sin(k * u + phase[0]) * np.sin(k * w + phase[1]) * 2.0
    if kind == "dots":
        # distance to the nearest point of a square lattice of spacing `period`
        du = (u + phase[0] / k) % period - period / 2
        dw = (w + phase[1] / k) % period - period / 2
        radius = rng.uniform(0.22, 0.34) * period
        return np.tanh((radius - np.hypot(du, dw)) * 1.5)
    if kind == "rings":
        cy, cx = rng.uniform(4, SIZE - 4, 2)
        return np.sin(k * np.hypot(xx - cx, yy - cy) + phase[0])
    if kind == "blobs":
        # low-pass noise: a random grid of about SIZE / period cells per side, upsampled
        cells = max(2, int(round(SIZE / period)))
        grid = rng.normal(0, 1, (cells + 1, cells + 1)).astype(np.float32)
        field = np.asarray(Image.fromarray(grid, "F").resize((SIZE, SIZE), Image.BICUBIC), np.float64)
        return field / (field.std() + 1e-6)
    raise ValueError(kind)


def textures(seed: int) -> Arrays:
    scales = list(TEXTURE_SCALES.values())

    def one(rng: np.random.Generator, label: int) -> np.ndarray:
        kind = TEXTURE_KINDS[label // len(scales)]
        period = rng.uniform(*scales[label % len(scales)])
        v = np.tanh(rng.uniform(1.0, 4.0) * _texture_field(rng, kind, period))
        v = v / (np.abs(v).max() + 1e-6)
        a, b = _two_colours(rng, 90.0)
        contrast = rng.uniform(0.5, 1.0)
        image = (a + b) / 2 + (v[..., None] * contrast) * (a - b) / 2
        return _finish(rng, image, (2.0, 12.0))

    return _generate("textures", seed, TEXTURE_CLASSES, one)


# --- shapes ----------------------------------------------------------------------------------------

SHAPE_KINDS = ("circle", "square", "triangle", "cross", "star")
SHAPE_FILLS = ("filled", "outline")
SHAPE_CLASSES = tuple(f"{k}-{f}" for k in SHAPE_KINDS for f in SHAPE_FILLS)
SUPER = 4   # drawn at 4x and reduced: anti-aliased edges


def _polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if kind == "square":
        pts = [(r * 0.85, a) for a in np.arange(4) * math.pi / 2 + math.pi / 4]
    elif kind == "triangle":
        pts = [(r, a) for a in np.arange(3) * 2 * math.pi / 3]
    elif kind == "cross":   # a plus sign as one 12-gon, arms a third of the span wide
        h, s = r, r / 3
        xy = [(s, h), (s, s), (h, s), (h, -s), (s, -s), (s, -h), (-s, -h), (-s, -s), (-h, -s),
              (-h, s), (-s, s), (-s, h)]
        pts = [(math.hypot(x, y), math.atan2(y, x)) for x, y in xy]
    elif kind == "star":
        pts = [(r if i % 2 == 0 else r * 0.42, i * math.pi / 5) for i in range(10)]
    else:
        raise ValueError(kind)
    return [(cx + d * math.cos(a + angle), cy + d * math.sin(a + angle)) for d, a in pts]


def _colour(rng: np.random.Generator, away_from: np.ndarray, apart: float) -> tuple[int, ...]:
    while True:
        c = rng.uniform(0, 255, 3)
        if np.linalg.norm(c - away_from) >= apart:
            return tuple(int(v) for v in c)


def _stroke(draw: ImageDraw.ImageDraw, rng: np.random.Generator, colour, width: int | None = None) -> None:
    n = SIZE * SUPER
    x0, y0 = rng.uniform(-0.1 * n, 1.1 * n, 2)
    length, t = rng.uniform(0.2 * n, 0.7 * n), rng.uniform(0, 2 * math.pi)
    bend = rng.uniform(-0.3, 0.3) * length
    mid = (x0 + math.cos(t) * length / 2 - math.sin(t) * bend, y0 + math.sin(t) * length / 2 + math.cos(t) * bend)
    end = (x0 + math.cos(t) * length, y0 + math.sin(t) * length)
    draw.line([(x0, y0), mid, end], fill=colour, width=(width or int(rng.integers(1, 3))) * SUPER, joint="curve")


def _background(rng: np.random.Generator, spread: float):
    """A low-frequency colour background at SUPER x SIZE: 3x3 colours within `spread` of one base
    colour, smoothly interpolated. (image, its mean colour, a drawing context on it)."""
    n = SIZE * SUPER
    base = rng.uniform(40, 215, 3)
    grid = np.clip(base + rng.uniform(-spread, spread, (3, 3, 3)), 0, 255).astype(np.uint8)
    back = Image.fromarray(grid, "RGB").resize((n, n), Image.BICUBIC)
    return back, np.asarray(back, np.float64).reshape(-1, 3).mean(0), ImageDraw.Draw(back)


def shapes(seed: int) -> Arrays:
    n = SIZE * SUPER

    def one(rng: np.random.Generator, label: int) -> np.ndarray:
        kind, fill = SHAPE_KINDS[label // 2], SHAPE_FILLS[label % 2]
        back, mean, draw = _background(rng, 40.0)
        for _ in range(rng.integers(3, 7)):
            _stroke(draw, rng, _colour(rng, mean, 0.0))
        for _ in range(rng.integers(1, 4)):
            bx, by = rng.uniform(0, n, 2)
            br = rng.uniform(1.5, 3.0) * SUPER
            draw.ellipse([bx - br, by - br * rng.uniform(0.5, 1), bx + br, by + br], fill=_colour(rng, mean, 0.0))
        r = rng.uniform(8.0, 13.0)
        cx, cy = rng.uniform(0.8 * r, SIZE - 0.8 * r, 2)
        colour = _colour(rng, mean, 150.0)
        angle = rng.uniform(0, 2 * math.pi)
        width = int(2.5 * SUPER)
        if kind == "circle":
            box = [(cx - r) * SUPER, (cy - r) * SUPER, (cx + r) * SUPER, (cy + r) * SUPER]
            if fill == "filled":
                draw.ellipse(box, fill=colour)
            else:
                draw.ellipse(box, outline=colour, width=width)
        else:
            pts = [(x * SUPER, y * SUPER) for x, y in _polygon(kind, cx, cy, r, angle)]
            if fill == "filled":
                draw.polygon(pts, fill=colour)
            else:
                draw.line(pts + pts[:1], fill=colour, width=width, joint="curve")
        for _ in range(rng.integers(0, 2)):
            _stroke(draw, rng, _colour(rng, mean, 0.0), width=1)
        small = np.asarray(back.resize((SIZE, SIZE), Image.BOX), np.float64)
        return (np.clip(np.round(small + rng.normal(0, rng.uniform(2.0, 8.0), small.shape)), 0, 255)
                .astype(np.uint8))

    return _generate("shapes", seed, SHAPE_CLASSES, one)


# --- counts (held out) -----------------------------------------------------------------------------

COUNT_CLASSES = tuple(str(k) for k in range(1, 11))
DOT_RADIUS = (1.5, 2.3)
DOT_MARGIN = 4.0    # the suite's pad-and-crop: a dot this far inside the border is never cut


def _dot_centres(rng: np.random.Generator, count: int, radii: np.ndarray) -> list[tuple[float, float]]:
    """`count` centres, each `DOT_MARGIN` + its radius inside the border, at least 1.5 px of gap
    between dots; sequential placement, restarted when it jams."""
    while True:
        placed: list[tuple[float, float]] = []
        for r in radii:
            lo, hi = DOT_MARGIN + r + 0.5, SIZE - DOT_MARGIN - r - 0.5
            for _ in range(200):
                c = rng.uniform(lo, hi, 2)
                if all(math.hypot(c[0] - x, c[1] - y) >= r + q + 1.5
                       for (x, y), q in zip(placed, radii)):
                    placed.append((float(c[0]), float(c[1])))
                    break
            else:
                break
        if len(placed) == count:
            return placed


def counts(seed: int) -> Arrays:
    def one(rng: np.random.Generator, label: int) -> np.ndarray:
        back, mean, draw = _background(rng, 35.0)
        for _ in range(rng.integers(3, 7)):
            _stroke(draw, rng, _colour(rng, mean, 60.0), width=1)
        radii = rng.uniform(*DOT_RADIUS, label + 1)
        for (cx, cy), r in zip(_dot_centres(rng, label + 1, radii), radii):
            draw.ellipse([(cx - r) * SUPER, (cy - r) * SUPER, (cx + r) * SUPER, (cy + r) * SUPER],
                         fill=_colour(rng, mean, 140.0))
        small = np.asarray(back.resize((SIZE, SIZE), Image.BOX), np.float64)
        return _finish(rng, small, (2.0, 8.0))

    return _generate("counts", seed, COUNT_CLASSES, one)


# --- angles (held out) -----------------------------------------------------------------------------

ANGLE_CLASSES = tuple(f"{k * 18:03d}deg" for k in range(10))
ANGLE_JITTER = 4.0   # degrees either side of the class's angle: 10 degrees between neighbours


def angles(seed: int) -> Arrays:
    def one(rng: np.random.Generator, label: int) -> np.ndarray:
        back, mean, draw = _background(rng, 40.0)
        for _ in range(rng.integers(2, 6)):   # round distractors: no orientation of their own
            bx, by = rng.uniform(0, SIZE, 2) * SUPER
            br = rng.uniform(1.5, 3.5) * SUPER
            draw.ellipse([bx - br, by - br, bx + br, by + br], fill=_colour(rng, mean, 60.0))
        t = math.radians(label * 18.0 + rng.uniform(-ANGLE_JITTER, ANGLE_JITTER))
        half = rng.uniform(7.0, 12.0)
        cx, cy = rng.uniform(SIZE / 2 - 7, SIZE / 2 + 7, 2)
        dx, dy = math.cos(t) * half, -math.sin(t) * half   # angles counted anticlockwise
        draw.line([((cx - dx) * SUPER, (cy - dy) * SUPER), ((cx + dx) * SUPER, (cy + dy) * SUPER)],
                  fill=_colour(rng, mean, 120.0), width=int(rng.uniform(1.5, 3.0) * SUPER))
        small = np.asarray(back.resize((SIZE, SIZE), Image.BOX), np.float64)
        return _finish(rng, small, (2.0, 8.0))

    return _generate("angles", seed, ANGLE_CLASSES, one)


# --- the registry ----------------------------------------------------------------------------------

# Augmentation: the digits keep digits.yaml's own (no flip, 1 px pad-and-crop, cutout 2 on 8x8);
# digits32 scales it to 32x32 (no flip, 4 px, cutout 8); textures and shapes are mirror-invariant
# (flip on), with CIFAR's 4 px pad-and-crop and a cutout of 8 (CIFAR's 16 would hide half an
# image, often the whole object); counts is too, with no cutout (it would hide dots); angles has no
# flip (a mirror image is another angle: 18 -> 162 degrees).
SETS: dict[str, SuiteSet] = {s.name: s for s in (
    SuiteSet("digits", "embedded 8x8 digits (real images)", (8, 8, 1), tuple(str(i) for i in range(10)),
             {"policy": "basic", "flip": False, "pad_crop": 1, "cutout": 2}, None),
    SuiteSet("digits32", "the digits upscaled to 32x32 RGB, light ink on dark, random colours, ramp, noise", (SIZE, SIZE, 3),
             tuple(str(i) for i in range(10)),
             {"policy": "basic", "flip": False, "pad_crop": 4, "cutout": 8}, digits32),
    SuiteSet("textures", "procedural textures: 5 kinds x 2 scales, random orientation/colour",
             (SIZE, SIZE, 3), TEXTURE_CLASSES, {"policy": "basic", "flip": True, "pad_crop": 4, "cutout": 8},
             textures),
    SuiteSet("shapes", "procedural shapes in clutter: 5 shapes x filled/outline", (SIZE, SIZE, 3),
             SHAPE_CLASSES, {"policy": "basic", "flip": True, "pad_crop": 4, "cutout": 8}, shapes),
    SuiteSet("counts", "procedural dots to count (held out): 1-10 dots in clutter", (SIZE, SIZE, 3),
             COUNT_CLASSES, {"policy": "basic", "flip": True, "pad_crop": 4, "cutout": 0}, counts,
             held_out=True),
    SuiteSet("angles", "procedural bars to tell apart by orientation (held out): 10 angles 18 deg apart",
             (SIZE, SIZE, 3), ANGLE_CLASSES, {"policy": "basic", "flip": False, "pad_crop": 4, "cutout": 8},
             angles, held_out=True),
)}
# The four sets the targets are judged on and defaults are tuned on; the rest are held out.
SUITE = [name for name, s in SETS.items() if not s.held_out]


def folder(name: str, out_dir: Path = SUITE_DIR, seed: int = 0) -> Path:
    return Path(out_dir) / f"{name}-s{seed}"


def _stamp(name: str, seed: int) -> dict[str, Any]:
    s = SETS[name]
    return {"name": name, "seed": seed, "version": VERSION, "per_class": PER_CLASS,
            "augmentation": s.augmentation, "classes": list(s.class_names)}


def dataset_config(name: str, out_dir: Path = SUITE_DIR, seed: int = 0) -> DatasetConfig:
    if SETS[name].generate is None:
        return DatasetConfig(name="digits")
    return DatasetConfig(name="folder", data_dir=str(folder(name, out_dir, seed) / "images"))


def dataset_overrides(name: str, out_dir: Path = SUITE_DIR, seed: int = 0) -> list[str]:
    """Config overrides (`section.key=value`) that point a search at the set (after make())."""
    cfg = dataset_config(name, out_dir, seed)
    out = [f"dataset.name={cfg.name}"]
    if cfg.data_dir:
        out.append(f"dataset.data_dir={json.dumps(cfg.data_dir)}")
    out += [f"augmentation.{k}={json.dumps(v)}" for k, v in SETS[name].augmentation.items()]
    return out


def _write_images(root: Path, x: dict[str, np.ndarray], y: dict[str, np.ndarray], classes) -> None:
    for split in SPLITS:
        for c in range(len(classes)):
            (root / split / f"{c:02d}-{classes[c]}").mkdir(parents=True, exist_ok=True)
        for i, (image, label) in enumerate(zip(x[split], y[split])):
            Image.fromarray(image, "RGB").save(root / split / f"{label:02d}-{classes[label]}" / f"{i:05d}.png",
                                               compress_level=1)


def make(name: str, out_dir: Path = SUITE_DIR, seed: int = 0) -> Path:
    """Makes the set (once per name, seed and VERSION) and returns its Dataset artifact folder."""
    if name not in SETS:
        raise KeyError(f"unknown set {name!r}; sets: {', '.join(SETS)}")
    s, here = SETS[name], folder(name, out_dir, seed)
    stamp_file = here / "suite.json"
    if stamp_file.exists() and json.loads(stamp_file.read_text()) == _stamp(name, seed):
        return here / "dataset"
    if here.exists():
        shutil.rmtree(here)
    here.mkdir(parents=True)
    if s.generate is not None:
        x, y = s.generate(seed)
        _write_images(here / "images", x, y, s.class_names)
    data.prepare_step(dataset_config(name, out_dir, seed), s.augmentation_config(), here / "dataset")
    stamp_file.write_text(json.dumps(_stamp(name, seed), indent=2))
    return here / "dataset"


def preview(names: list[str], out_dir: Path, seed: int) -> None:
    for name in names:
        ds = make(name, out_dir, seed)
        meta = artifacts.dataset_meta(ds)
        print(f"{name:9s} shape {tuple(meta['image_shape'])}, {meta['num_classes']} classes, "
              f"splits {meta['splits']}  ({SETS[name].description}); classes: {', '.join(meta['class_names'])}; "
              f"augmentation {SETS[name].augmentation}; {ds}")


def grid(names: list[str], out_dir: Path, seed: int, path: Path, per_class: int = 8) -> None:
    """A PNG of `per_class` training images per class, one row per class, sets side by side."""
    blocks = []
    for name in names:
        x, y = artifacts.dataset_split(make(name, out_dir, seed), "train")
        if x.shape[-1] == 1:
            x = np.repeat(x, 3, -1)
        if x.shape[1] != SIZE:
            x = np.stack([np.asarray(Image.fromarray(i).resize((SIZE, SIZE), Image.NEAREST)) for i in x])
        rows = [np.concatenate(list(x[np.flatnonzero(y == c)[:per_class]]), 1) for c in range(int(y.max()) + 1)]
        blocks.append(np.pad(np.concatenate(rows, 0), ((0, 0), (0, 8), (0, 0)), constant_values=255))
    Image.fromarray(np.concatenate(blocks, 1)).resize((sum(b.shape[1] for b in blocks) * 2, blocks[0].shape[0] * 2),
                                                      Image.NEAREST).save(path)
    print(f"wrote {path}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=SUITE_DIR)
    p.add_argument("--preview", action="store_true", help="make the sets; print shape, classes, split sizes")
    p.add_argument("--grid", type=Path, help="write a PNG of a few training images per class")
    args = p.parse_args()
    if args.grid:
        grid(args.sets, args.out, args.seed, args.grid)
    if args.preview or not args.grid:
        preview(args.sets, args.out, args.seed)


if __name__ == "__main__":
    main()
