"""The sharded Dataset artifact and the streamed training input (adanas.artifacts, adanas.inputs)."""

import numpy as np
import pytest

from adanas import artifacts, inputs
from adanas.artifacts import SPLITS

POLICY = {"policy": "none", "flip": False, "pad_crop": 0, "cutout": 0}


def _arrays(sizes=(23, 7, 5), shape=(4, 3, 3), classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = {s: rng.integers(0, 256, (n, *shape), dtype=np.uint8) for s, n in zip(SPLITS, sizes)}
    y = {s: rng.integers(0, classes, len(v)) for s, v in x.items()}
    return x, y


@pytest.mark.parametrize("encoding", ["png", "raw"])
def test_shards_round_trip_pixels_labels_and_statistics(tmp_path, encoding):
    x, y = _arrays()
    meta = artifacts.write_dataset(tmp_path, x, y, {"num_classes": 3}, shard_size=5, encoding=encoding)
    assert [s["count"] for s in meta["shards"]["train"]] == [5, 5, 5, 5, 3]
    assert meta["splits"] == {"train": 23, "validation": 7, "test": 5}
    for split in SPLITS:
        got_x, got_y = artifacts.dataset_split(tmp_path, split)
        np.testing.assert_array_equal(got_x, x[split])
        np.testing.assert_array_equal(got_y, y[split])
        assert [len(p) for p in artifacts.dataset_labels(tmp_path, split)] == \
            [s["count"] for s in meta["shards"][split]]
    pixels = x["train"].reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(meta["pixel_stats"]["train"]["mean"], pixels.mean(0), atol=1e-3)
    np.testing.assert_allclose(meta["pixel_stats"]["train"]["std"], pixels.std(0), atol=1e-3)


def test_fingerprint_follows_content_not_sharding_or_encoding(tmp_path):
    x, y = _arrays()
    a = artifacts.write_dataset(tmp_path / "a", x, y, {}, shard_size=4)["fingerprint"]
    b = artifacts.write_dataset(tmp_path / "b", x, y, {}, shard_size=100, encoding="raw")["fingerprint"]
    y2 = {**y, "test": (y["test"] + 1) % 3}
    c = artifacts.write_dataset(tmp_path / "c", x, y2, {}, shard_size=4)["fingerprint"]
    assert a == b != c


def test_the_gfile_path_gs_takes_works_on_local_folders(tmp_path, monkeypatch):
    """gs:// goes through tf.io.gfile; forcing that path on a local folder tests it here."""
    monkeypatch.setattr(artifacts, "_FORCE_GFILE", True)
    x, y = _arrays()
    artifacts.write_dataset(tmp_path, x, y, {"num_classes": 3}, shard_size=6)
    assert artifacts.dataset_meta(tmp_path)["splits"]["train"] == 23
    np.testing.assert_array_equal(artifacts.dataset_split(tmp_path, "validation")[0], x["validation"])
    np.testing.assert_array_equal(artifacts.dataset_labels(tmp_path, "test").full(), y["test"])


def _stream_labels(folder, seed, steps, batch=4, buffer=1000, teacher=None):
    meta = artifacts.dataset_meta(folder)
    ds = inputs.training_stream(folder, meta, batch, POLICY, seed=seed, shuffle_buffer=buffer,
                                teacher=teacher)
    out = [(images.numpy(), target.numpy()) for images, target in ds.take(steps)]
    return np.concatenate([i for i, _ in out]), np.concatenate([t for _, t in out])


def test_training_stream_covers_every_shard_and_is_deterministic(tmp_path):
    x = {s: np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1) for s, n in zip(SPLITS, (40, 4, 4))}
    y = {s: np.arange(len(v)) % 2 for s, v in x.items()}
    artifacts.write_dataset(tmp_path, x, y, {"num_classes": 2}, shard_size=7)
    images, _ = _stream_labels(tmp_path, seed=3, steps=10)            # one epoch: 40 images
    assert sorted(images.ravel().astype(int)) == list(range(40))      # each example once
    again, _ = _stream_labels(tmp_path, seed=3, steps=10)
    other, _ = _stream_labels(tmp_path, seed=4, steps=10)
    np.testing.assert_array_equal(images, again)
    assert not np.array_equal(images, other)
    # A buffer smaller than the split still mixes examples of different shards.
    small, _ = _stream_labels(tmp_path, seed=3, steps=10, buffer=4)
    assert sorted(small.ravel().astype(int)) == list(range(40))
    assert len({int(v) // 7 for v in small.ravel()[:8]}) > 1


def test_training_stream_has_no_autotuning_thread_to_wait_for(tmp_path):
    # Deleting an iterator waits out tf.data's autotuning thread (up to a minute after a long
    # task; adanas.augment.finish): the stream a task reads for its whole training runs without it.
    x = {s: np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1) for s, n in zip(SPLITS, (8, 4, 4))}
    artifacts.write_dataset(tmp_path, x, {s: np.arange(len(v)) % 2 for s, v in x.items()},
                            {"num_classes": 2}, shard_size=4)
    ds = inputs.training_stream(tmp_path, artifacts.dataset_meta(tmp_path), 2, POLICY, seed=0,
                                shuffle_buffer=8)
    assert ds.options().autotune.enabled is False


def test_cached_teacher_rows_follow_their_records(tmp_path):
    n = 30
    x = {s: np.arange(k, dtype=np.uint8).reshape(k, 1, 1, 1) for s, k in zip(SPLITS, (n, 3, 3))}
    y = {s: np.zeros(len(v), np.int64) for s, v in x.items()}
    artifacts.write_dataset(tmp_path, x, y, {"num_classes": 2}, shard_size=8)
    # Teacher row of example i is (i, -i): after shuffling, each image must carry its own.
    rows = np.stack([np.arange(n), -np.arange(n)], axis=1).astype(np.float32)
    parts = []
    for k, s in enumerate(artifacts.dataset_meta(tmp_path)["shards"]["train"]):
        path = tmp_path / f"teacher-{k}.npy"
        start = sum(p["count"] for p in artifacts.dataset_meta(tmp_path)["shards"]["train"][:k])
        np.save(path, rows[start:start + s["count"]])
        parts.append(path)
    images, targets = _stream_labels(tmp_path, seed=0, steps=7, teacher=artifacts.Sharded(parts))
    np.testing.assert_array_equal(targets[:, 2], images.ravel())
    np.testing.assert_array_equal(targets[:, 3], -images.ravel())


def test_predict_shards_keeps_stored_order(tmp_path):
    import keras
    x, y = _arrays(shape=(2, 2, 1))
    artifacts.write_dataset(tmp_path, x, y, {"num_classes": 3}, shard_size=4)
    meta = artifacts.dataset_meta(tmp_path)
    model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    parts = list(inputs.predict_shards(model, tmp_path, "train", meta))
    assert [len(p) for p in parts] == [4, 4, 4, 4, 4, 3]
    np.testing.assert_allclose(np.concatenate(parts), model.predict(x["train"], verbose=0), atol=1e-5)


@pytest.mark.parametrize("policy", ["none", "basic"])
def test_a_stream_resumed_mid_training_continues_it_exactly(tmp_path, policy):
    """A resumed training's stream (adanas.train: `skip` = the examples its finished epochs
    consumed) starts at its epoch: each epoch's randomness is its own, so only that epoch's
    first examples are skipped, not every record before it."""
    x = {s: np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1) for s, n in zip(SPLITS, (30, 4, 4))}
    artifacts.write_dataset(tmp_path, x, {s: np.arange(len(v)) % 2 for s, v in x.items()},
                            {"num_classes": 2}, shard_size=7)
    meta = artifacts.dataset_meta(tmp_path)
    aug = {**POLICY, "policy": policy, "flip": policy != "none"}   # flips nothing on 1x1 images

    def batches(skip, steps):
        ds = inputs.training_stream(tmp_path, meta, 4, aug, seed=5, shuffle_buffer=8, skip=skip)
        return np.concatenate([images.numpy() for images, _ in ds.take(steps)]).ravel()

    unbroken = batches(0, 40)                   # 160 examples: 5 epochs and a third
    epochs = unbroken[:150].reshape(5, 30)
    assert all(sorted(e.astype(int)) == list(range(30)) for e in epochs)   # each example once
    assert len({tuple(e) for e in epochs}) == 5                           # in an order of its own
    # Resumed after 24 steps of 4 (3 epochs and 6 examples), and after exactly 4 epochs.
    np.testing.assert_array_equal(batches(96, 16), unbroken[96:])
    np.testing.assert_array_equal(batches(120, 10), unbroken[120:])


def test_a_resumed_stream_opens_no_shard_of_the_epochs_before_it(tmp_path, monkeypatch):
    # Shards are opened (with their cached teacher logits: one np.load each) as a stream reads
    # them: what a resumed stream opens before its first batch is what it reads to get there.
    x = {s: np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1) for s, n in zip(SPLITS, (30, 4, 4))}
    artifacts.write_dataset(tmp_path, x, {s: np.zeros(len(v), np.int64) for s, v in x.items()},
                            {"num_classes": 2}, shard_size=6)          # 5 shards an epoch
    parts = []
    for k, shard in enumerate(artifacts.dataset_meta(tmp_path)["shards"]["train"]):
        parts.append(tmp_path / f"teacher-{k}.npy")
        np.save(parts[-1], np.zeros((shard["count"], 2), np.float32))
    opened, load = [], np.load
    monkeypatch.setattr(np, "load", lambda *a, **k: opened.append(1) or load(*a, **k))
    ds = inputs.training_stream(tmp_path, artifacts.dataset_meta(tmp_path), 2, POLICY, seed=0,
                                shuffle_buffer=4, teacher=artifacts.Sharded(parts), skip=30 * 20 + 2)
    next(iter(ds))
    # 20 epochs in: the 100 shards of epochs 0-19 stay closed (a few of the next epoch may be
    # opened ahead by prefetching).
    assert 1 <= len(opened) <= 10
