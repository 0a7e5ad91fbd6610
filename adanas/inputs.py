"""Input pipelines that stream a Dataset artifact's shards (tf.data): the training stream of
every candidate and the student, and per-shard prediction for cached logits.

A task holds a shuffle buffer of serialized records (encoded: a few KB each), the batches in
flight and one shard's logits; never a whole split. Order is deterministic for a seed: the shard
order is reshuffled each epoch by a seeded shuffle, shards interleave in a fixed pattern, and
the record shuffle is seeded (as `augment.training_dataset` is for arrays in memory).
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import numpy as np
import tensorflow as tf

from adanas import artifacts, metrics
from adanas.augment import augment_fn, finish

# Shards read at once: enough to mix classes stored apart, few enough to keep reads sequential.
CYCLE_LENGTH = 4
PREDICT_BATCH = 512
# Epoch e of a stream seeded s draws its randomness from the seeds (s mod 2^29) x 3 x 2^32 + 3e
# (+0, +1, +2): distinct for every epoch below MAX_EPOCHS and seeds distinct mod 2^29, and below
# int64's limit (3 x 2^61).
SEED_SPAN, MAX_EPOCHS = 2**29, 2**32


def training_stream(dataset_dir: str | os.PathLike, meta: dict[str, Any], batch_size: int,
                    policy: dict[str, Any], seed: int, shuffle_buffer: int,
                    teacher: artifacts.Sharded | None = None, outputs: int = 1,
                    skip: int = 0) -> tf.data.Dataset:
    """Shuffled, augmented, batched, repeated training batches streamed from the train shards;
    `skip` examples of the stream left out at its start (a resumed training carries on where it
    was). Targets are one-hot labels, or [one-hot | cached teacher logits] with `teacher` (per
    train shard, aligned with the records); repeated per output for auxiliary heads."""
    shards = artifacts.dataset_shards(dataset_dir, "train", meta)
    files = tf.constant([s.records for s in shards])
    teacher_files = None if teacher is None else tf.constant([str(p) for p in teacher.parts])
    shape, encoding = tuple(meta["image_shape"]), meta.get("encoding", "png")
    num_classes = int(meta["num_classes"])

    def shard_records(k):
        records = tf.data.TFRecordDataset(files[k])
        if teacher_files is None:
            return records
        # The cached teacher of shard k: one [n_k, C] file, row i for record i.
        logits = tf.numpy_function(lambda path: np.load(path.decode()).astype(np.float32),
                                   [teacher_files[k]], tf.float32, stateful=False)
        logits = tf.reshape(logits, [-1, num_classes])
        return tf.data.Dataset.zip(records, tf.data.Dataset.from_tensor_slices(logits))

    augmenting = policy["policy"] != "none"

    def shuffled(k, block, base):
        # Block k of an epoch (its records, and teacher rows) in an order of its own, and, when
        # augmenting, each example's augmentation seed pair: (base + 2, its place in the epoch).
        # Stateless: tf.data's seeded shuffles take their seed through the global one, which a
        # per-epoch seed computed in the graph cannot pass when the global seed is 0. Whole
        # blocks, so that no per-example step is added to the stream.
        parts = block if isinstance(block, tuple) else (block,)
        n = tf.shape(parts[0], out_type=tf.int64)[0]
        index = tf.random.experimental.stateless_shuffle(tf.range(n), tf.stack([base + 1, k]))
        out = tuple(tf.gather(t, index) for t in parts)
        if augmenting:
            place = k * shuffle_buffer + tf.range(n)
            out += (tf.stack([tf.fill([n], base + 2), place], axis=1),)
        return out

    def epoch(e):
        # Epoch e: the shards in an order of its own, read CYCLE_LENGTH at a time, their
        # serialized records shuffled `shuffle_buffer` at a time (decoded after: the block holds
        # encoded bytes). All of it is a function of (seed, e), so a resumed training starts at
        # its epoch and skips only what that epoch had consumed: skipping the whole stream
        # re-read every record of the epochs before (hours, for a late epoch of a large dataset
        # on Cloud Storage).
        base = tf.constant((int(seed) % SEED_SPAN) * 3 * MAX_EPOCHS, tf.int64) + 3 * e
        order = tf.data.Dataset.from_tensor_slices(tf.random.experimental.stateless_shuffle(
            tf.range(len(shards), dtype=tf.int64), tf.stack([base, 0])))
        examples = order.interleave(shard_records, cycle_length=min(CYCLE_LENGTH, len(shards)),
                                    block_length=1, num_parallel_calls=tf.data.AUTOTUNE,
                                    deterministic=True)
        return (examples.batch(shuffle_buffer).enumerate()
                .map(lambda k, block: shuffled(k, block, base)).unbatch())

    # Whole epochs one after another: every example once per epoch.
    first, offset = divmod(int(skip), sum(s.count for s in shards))
    examples = tf.data.Dataset.range(first, MAX_EPOCHS).flat_map(epoch)
    if offset:
        examples = examples.skip(offset)

    def decode(record, *logits):
        image, label = artifacts.decode_record(record, shape, encoding)
        return (tf.cast(image, tf.float32), label, *logits)

    aug = augment_fn(policy, shape)
    if not augmenting:
        ds = examples.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        def decode_and_augment(record, *rest):
            image, label, *logits = decode(record, *rest[:-1])
            return (aug(image, rest[-1]), label, *logits)

        ds = examples.map(decode_and_augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return finish(ds.batch(batch_size, drop_remainder=True), num_classes, outputs)


def shard_images(dataset_dir: str | os.PathLike, shard: artifacts.Shard, meta: dict[str, Any],
                 batch_size: int = PREDICT_BATCH) -> tf.data.Dataset:
    """Batches of one shard's images (uint8 as stored), in stored order."""
    # A known length: Keras' predict then stops at the end instead of warning it ran out of data.
    images = (artifacts.records_dataset([shard.records], meta).map(lambda image, label: image)
              .apply(tf.data.experimental.assert_cardinality(shard.count)))
    return images.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def predict_shards(model, dataset_dir: str | os.PathLike, split: str,
                   meta: dict[str, Any]) -> Iterator[np.ndarray]:
    """float32 logits [n_k, C] of `model` (its first output), one array per shard of `split`,
    in the order its labels are stored."""
    for shard in artifacts.dataset_shards(dataset_dir, split, meta):
        out = model.predict(shard_images(dataset_dir, shard, meta), verbose=0)
        yield np.asarray(out[0] if isinstance(out, (list, tuple)) else out, np.float32)


def predict_and_score(model, dataset_dir: str | os.PathLike, split: str, meta: dict[str, Any],
                      score: metrics.Score) -> Iterator[np.ndarray]:
    """`predict_shards`, each shard's logits added to `score` against its labels on the way:
    logits cached and scored in one pass, one shard in memory."""
    for logits, labels in zip(predict_shards(model, dataset_dir, split, meta),
                              artifacts.dataset_labels(dataset_dir, split, meta)):
        score.add(logits, labels)
        yield logits


def first_images(dataset_dir: str | os.PathLike, split: str, count: int,
                 meta: dict[str, Any] | None = None) -> np.ndarray:
    """The first `count` images of a split (uint8): samples for latency, export checks and
    previews, read from the first records only."""
    meta = meta or artifacts.dataset_meta(dataset_dir)
    images = [image for image, _ in
              artifacts.split_dataset(dataset_dir, split, meta).take(count).as_numpy_iterator()]
    return np.stack(images).astype(np.uint8)
