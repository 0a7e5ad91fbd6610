"""On-the-fly augmentation for the training input pipeline (tf.data).

Random numbers come from stateless ops keyed by a per-example seed drawn from a seeded stream,
so a run with the same seed sees exactly the same augmented images, epoch after epoch.
Images stay in 0..255 here; the model scales them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

# Cutout fills with mid-grey, which the model's [-1, 1] scaling maps to 0 (as in the original,
# which cut out after scaling).
CUTOUT_FILL = 127.5


def _cutout(image: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
    h, w = tf.shape(image)[0], tf.shape(image)[1]
    # The centre may lie anywhere, so patches near the border are clipped (DeVries & Taylor).
    cy = tf.random.stateless_uniform([], seed, 0, h, dtype=tf.int32)
    cx = tf.random.stateless_uniform([], seed + 1, 0, w, dtype=tf.int32)
    rows = tf.range(h)[:, None]
    cols = tf.range(w)[None, :]
    inside = ((rows >= cy - size // 2) & (rows < cy - size // 2 + size)
              & (cols >= cx - size // 2) & (cols < cx - size // 2 + size))
    return tf.where(inside[..., None], tf.cast(CUTOUT_FILL, image.dtype), image)


def augment_fn(policy: dict[str, Any], image_shape) -> Any:
    """Returns f(image float32 [H, W, C], seed int64 [2]) -> augmented image, per the policy.

    Order: flip, pad-and-crop, AutoAugment or RandAugment (policy `autoaugment` /
    `randaugment`), cutout.
    """
    h, w, c = image_shape
    if policy["policy"] == "none":
        return lambda image, seed: image

    def f(image, seed):
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4)
        if policy["flip"]:
            image = tf.image.stateless_random_flip_left_right(image, seeds[0])
        if policy["pad_crop"]:
            p = policy["pad_crop"]
            image = tf.pad(image, [[p, p], [p, p], [0, 0]])
            image = tf.image.stateless_random_crop(image, [h, w, c], seeds[1])
        if policy["policy"] == "autoaugment":
            from adanas.autoaugment import autoaugment
            image = autoaugment(image, seeds[3])
        elif policy["policy"] == "randaugment":
            from adanas.autoaugment import randaugment
            image = randaugment(image, seeds[3], policy["randaugment_num_ops"],
                                policy["randaugment_magnitude"])
        if policy["cutout"]:
            image = _cutout(image, policy["cutout"], seeds[2])
        return image

    return f


def training_dataset(x, y, num_classes: int, batch_size: int, policy: dict[str, Any],
                     seed: int, teacher=None, outputs: int = 1, skip: int = 0) -> tf.data.Dataset:
    """Shuffled, augmented, batched, repeated training data; `skip` examples of the stream left
    out at its start (a training resumed from a checkpoint carries on where it was).

    Targets are one-hot labels, or [one-hot | teacher logits] ([N, 2C]) when `teacher` (cached
    logits of the un-augmented example, one row per training example) is given; repeated per
    output for models with an auxiliary head.
    """
    columns = (x, y) if teacher is None else (x, y, np.asarray(teacher, np.float32))
    examples = tf.data.Dataset.from_tensor_slices(columns)
    examples = examples.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).repeat()
    if skip:
        examples = examples.skip(skip)
    if policy["policy"] == "none":
        # Nothing per example: batch first, so the input pipeline costs next to nothing.
        ds = examples.batch(batch_size, drop_remainder=True)
        ds = ds.map(lambda *ex: (tf.cast(ex[0], tf.float32), *ex[1:]))
    else:
        aug = augment_fn(policy, x.shape[1:])
        seeds = tf.data.Dataset.random(seed=seed).batch(2)
        if skip:
            seeds = seeds.skip(skip)
        ds = tf.data.Dataset.zip(examples, seeds).map(
            lambda ex, s: (aug(tf.cast(ex[0], tf.float32), s), *ex[1:]),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.batch(batch_size, drop_remainder=True)

    return finish(ds, num_classes, outputs)


def finish(ds: tf.data.Dataset, num_classes: int, outputs: int) -> tf.data.Dataset:
    """The common end of both training pipelines (this one, in memory, and
    adanas.inputs.training_stream, streamed): targets, prefetch, and no autotuning thread. That
    thread sleeps up to a minute between optimizations and deleting the iterator waits it out,
    so a task that trained for more than a minute lost up to a minute more at its end (measured:
    52.2 s to delete the iterator after 90 s of reading, 0.35 s without it), and on 2 cores it
    competes with training. AUTOTUNE then means tf.data's default parallelism (the cores it may
    use) and a prefetch buffer that still grows when the model finds it empty."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.map(targets_fn(num_classes, outputs)).prefetch(tf.data.AUTOTUNE).with_options(options)


def targets_fn(num_classes: int, outputs: int):
    """Batches (images, labels[, teacher logits]) -> (images, targets): one-hot labels, or
    [one-hot | teacher logits], once per model output (auxiliary heads). Whole batches: one op
    each."""
    def targets(images, labels, *logits):
        target = tf.one_hot(labels, num_classes, dtype=tf.float32)
        if logits:
            target = tf.concat([target, logits[0]], axis=-1)
        return images, (target if outputs == 1 else (target,) * outputs)

    return targets
