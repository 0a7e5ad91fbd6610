"""On-the-fly augmentation: each op does what it says, deterministically."""

import pytest
import numpy as np
import tensorflow as tf

from adanas import augment

POLICY = {"policy": "basic", "flip": False, "pad_crop": 0, "cutout": 0, "randaugment_num_ops": 2,
          "randaugment_magnitude": 0.5}


def _apply(policy, image, seed=(1, 2)):
    return augment.augment_fn(policy, image.shape)(tf.constant(image), tf.constant(seed, tf.int64)).numpy()


def test_none_and_empty_policies_are_identity():
    image = np.random.default_rng(0).uniform(0, 255, (6, 6, 3)).astype(np.float32)
    np.testing.assert_array_equal(_apply({**POLICY, "policy": "none", "cutout": 3}, image), image)
    np.testing.assert_array_equal(_apply(POLICY, image), image)


def test_flip_is_a_mirror_or_nothing():
    image = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    outs = {_apply({**POLICY, "flip": True}, image, (s, 0)).tobytes() for s in range(20)}
    assert outs == {image.tobytes(), image[:, ::-1].tobytes()}


def test_pad_crop_shifts_content_within_padding():
    image = np.full((6, 6, 1), 200, np.float32)
    out = _apply({**POLICY, "pad_crop": 2}, image, (3, 4))
    assert out.shape == (6, 6, 1)
    # Zero padding only enters from at most 2 pixels at the edges.
    assert (out[2:4, 2:4] == 200).all()
    shifts = {_apply({**POLICY, "pad_crop": 2}, image, (s, 1)).sum() for s in range(20)}
    assert len(shifts) > 1


def test_cutout_fills_a_clipped_square():
    image = np.zeros((8, 8, 1), np.float32)
    for s in range(10):
        out = _apply({**POLICY, "cutout": 4}, image, (s, 9))
        filled = out[..., 0] == augment.CUTOUT_FILL
        assert 1 <= filled.sum() <= 16
        rows, cols = np.nonzero(filled)
        assert filled[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()


def test_training_dataset_is_deterministic():
    x = np.random.default_rng(0).integers(0, 255, (10, 6, 6, 1), dtype=np.uint8)
    y = np.arange(10) % 3
    policy = {**POLICY, "flip": True, "pad_crop": 1, "cutout": 2}
    a = [b[0].numpy() for b in augment.training_dataset(x, y, 3, 4, policy, seed=5).take(3)]
    b = [b[0].numpy() for b in augment.training_dataset(x, y, 3, 4, policy, seed=5).take(3)]
    c = [b[0].numpy() for b in augment.training_dataset(x, y, 3, 4, policy, seed=6).take(3)]
    np.testing.assert_array_equal(np.stack(a), np.stack(b))
    assert not np.array_equal(np.stack(a), np.stack(c))
    batch_x, batch_y = next(iter(augment.training_dataset(x, y, 3, 4, policy, seed=5)))
    assert batch_x.shape == (4, 6, 6, 1) and batch_y.shape == (4, 3)


def test_training_dataset_runs_without_autotuning():
    # As the streamed one (adanas.inputs): deleting an autotuned iterator can wait a minute.
    x, y = np.zeros((8, 4, 4, 1), np.uint8), np.arange(8) % 2
    for policy in ({**POLICY, "policy": "none"}, {**POLICY, "flip": True}):
        assert augment.training_dataset(x, y, 2, 4, policy, seed=0).options().autotune.enabled is False


def _rgb(seed=0, side=16):
    return np.random.default_rng(seed).uniform(0, 255, (side, side, 3)).astype(np.float32)


def test_autoaugment_operations_by_hand():
    from adanas.autoaugment import apply_op
    img = _rgb()
    run = lambda name, m=9, s=1.0: apply_op(tf.constant(img), name, m, s).numpy()  # noqa: E731
    np.testing.assert_allclose(run("Invert"), 255 - img)
    np.testing.assert_allclose(run("Solarize", 0), img)                     # threshold 256: nothing
    np.testing.assert_allclose(run("Solarize", 9), 255 - img)               # threshold 0: all
    np.testing.assert_allclose(run("Brightness", 9, -1.0), img * 0.1, rtol=1e-5)
    posterized = run("Posterize", 9)                                        # 4 bits kept
    assert (posterized.astype(int) % 16 == 0).all()
    auto = run("AutoContrast")
    assert auto.min() == pytest.approx(0, abs=1e-3) and auto.max() == pytest.approx(255, abs=1e-3)
    equalized = run("Equalize")
    assert equalized.shape == img.shape and 0 <= equalized.min() and equalized.max() <= 255
    # Translating by 10/32 of the side moves content and fills the gap with grey.
    moved = run("TranslateX", 9)
    assert (moved[:, -5:] == 128.0).all()
    # On a 16 x 48 image: 15 columns (10/32 of the width) and 5 rows (of the height).
    wide = tf.constant(np.random.default_rng(1).uniform(0, 255, (16, 48, 3)).astype(np.float32))
    across, down = (apply_op(wide, name, 9, 1.0).numpy() for name in ("TranslateX", "TranslateY"))
    assert (across[:, -15:] == 128.0).all() and (across[:, -16] != 128.0).any()
    assert (down[-5:] == 128.0).all() and (down[-6] != 128.0).any()
    np.testing.assert_allclose(run("Rotate", 0), img)                       # 0 degrees
    np.testing.assert_allclose(run("Sharpness", 9, -1.0)[0], img[0])        # border unchanged


def _first_batch(policy):
    """The first augmented batch of 8 random 16x16 RGB images, seed 1."""
    x = np.random.default_rng(0).integers(0, 255, (8, 16, 16, 3), dtype=np.uint8)
    return next(iter(augment.training_dataset(x, np.arange(8) % 2, 2, 8, policy, seed=1)))[0].numpy()


def test_autoaugment_policy_in_the_pipeline_is_deterministic():
    policy = {**POLICY, "policy": "autoaugment", "pad_crop": 2, "cutout": 4}
    a, b = _first_batch(policy), _first_batch(policy)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (8, 16, 16, 3) and 0 <= a.min() and a.max() <= 255
    assert not np.array_equal(a, _first_batch({**policy, "policy": "basic"}))


def test_randaugment_is_reproducible_and_changes_images():
    policy = {**POLICY, "policy": "randaugment", "randaugment_num_ops": 2, "randaugment_magnitude": 0.9}
    a, b = _first_batch(policy), _first_batch(policy)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (8, 16, 16, 3) and 0 <= a.min() and a.max() <= 255
    plain = _first_batch(POLICY)
    changed = [not np.array_equal(x, y) for x, y in zip(a, plain)]
    assert sum(changed) >= 4  # Identity can be drawn twice, rarely
    # Magnitude 0 leaves geometric and colour ops at identity (AutoContrast / Equalize remain).
    weak = _first_batch({**policy, "randaugment_magnitude": 0.0})
    assert np.abs(weak - plain).mean() < np.abs(a - plain).mean()


def test_randaugment_ops_each_run_on_one_image():
    import tensorflow as tf

    from adanas import autoaugment
    image = tf.constant(np.random.default_rng(0).uniform(0, 255, (16, 16, 3)), tf.float32)
    for name in autoaugment.RANDAUGMENT_OPS[1:]:
        out = autoaugment.apply_op(image, name, 4.5, 1.0).numpy()
        assert out.shape == (16, 16, 3) and np.isfinite(out).all() and 0 <= out.min() and out.max() <= 255, name
