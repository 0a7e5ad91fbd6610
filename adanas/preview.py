"""The prepare step's preview: a few training images per class, as stored and under the recorded
augmentation policy, through the training input pipeline's own augmentation function
(adanas.augment.augment_fn), so a user sees what the policy does before paying for training."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from adanas import artifacts, augment, plots, report_html

MAX_CLASSES = 10
PER_CLASS = 2
DRAWS = 4
# Records read at most, from the start of the train split, looking for each shown class's first
# images: the preview never reads the split (classes not met by then are left out).
SCAN = 2048


def preview_rows(x: np.ndarray, y: np.ndarray, policy: dict, class_names: list[str],
                 max_classes: int = MAX_CLASSES, per_class: int = PER_CLASS, draws: int = DRAWS,
                 seed: int = 0) -> tuple[list[list[np.ndarray]], list[str]]:
    """Rows of [raw image, `draws` augmented versions] for the first `per_class` training images
    of each of the first `max_classes` classes, with their labels. Augmented images are
    deterministic in `seed` (stateless ops, as in training)."""
    aug = augment.augment_fn(policy, x.shape[1:])
    rows, labels = [], []
    for label in range(min(len(class_names), max_classes)):
        for k, i in enumerate(np.flatnonzero(y == label)[:per_class]):
            image = tf.constant(x[i], tf.float32)
            row = [x[i]]
            for d in range(draws):
                s = tf.constant([seed, int(i) * draws + d], tf.int64)
                row.append(np.clip(np.rint(aug(image, s).numpy()), 0, 255).astype(np.uint8))
            rows.append(row)
            labels.append(f"{class_names[label]}" + (f" #{k + 1}" if per_class > 1 else ""))
    return rows, labels


def write_preview(dataset_dir: str | os.PathLike, out_path: str | os.PathLike,
                  max_classes: int = MAX_CLASSES, per_class: int = PER_CLASS,
                  draws: int = DRAWS) -> Path:
    """Writes the preview page of a Dataset artifact to `out_path` (one self-contained HTML
    file)."""
    meta = artifacts.dataset_meta(dataset_dir)
    x, y = first_images(dataset_dir, meta, min(meta["num_classes"], max_classes), per_class)
    rows, labels = preview_rows(x, y, meta["augmentation"], meta["class_names"], max_classes,
                                per_class, draws)
    grid = plots.image_grid(rows, labels, ["stored"] + [f"augmented {d + 1}" for d in range(draws)])
    shown = min(meta["num_classes"], max_classes)
    return artifacts.write_page(out_path, report_html.render_preview(grid, meta, shown, per_class, draws))


def first_images(dataset_dir: str | os.PathLike, meta: dict, classes: int, per_class: int,
                 scan: int = SCAN) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the first `per_class` training images of each of classes 0..classes-1 among the
    split's first `scan` records, read in stored order until every class has them."""
    xs, ys = [], []
    have = np.zeros(classes, np.int64)
    records = artifacts.split_dataset(dataset_dir, "train", meta).take(scan)
    for image, label in records.as_numpy_iterator():
        if label < classes and have[label] < per_class:
            have[label] += 1
            xs.append(image)
            ys.append(int(label))
            if have.min() >= per_class:
                break
    return np.stack(xs), np.asarray(ys, np.int64)
