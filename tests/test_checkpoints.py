"""Per-epoch checkpoints (adanas.checkpoints): a kill at any instant leaves a complete one, and a
restored model carries on with the random state (dropout, drop path masks) it was saved with."""

import numpy as np
import pytest

from adanas import checkpoints


def _model(seed=3):
    import keras

    from adanas.nasnet import ScheduledDropPath
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,))
    x = keras.layers.Dense(8)(inputs)
    x = keras.layers.Dropout(0.5)(x)
    x = ScheduledDropPath(0.5)(keras.layers.Reshape((2, 2, 2))(x))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(x)))
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    return model


X = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
Y = np.random.default_rng(1).normal(size=(16, 3)).astype(np.float32)


def _train_and_draw(model):
    """One more epoch of training, then two outputs in training mode (dropout masks drawn)."""
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    return [np.asarray(model(X, training=True)) for _ in range(2)]


def test_a_restored_model_continues_as_the_saved_one_would_random_masks_included(tmp_path):
    saved = _model()
    _train_and_draw(saved)
    checkpoints.save(saved, tmp_path, epoch=1, loss=0.25)
    after_save = _train_and_draw(saved)

    restored = _model()
    assert checkpoints.restore(restored, tmp_path) == (1, 0.25)
    for a, b in zip(_train_and_draw(restored), after_save):
        np.testing.assert_array_equal(a, b)
    # Without the saved random state the masks differ (what the test above guards against).
    fresh = _model()
    fresh.set_weights(restored.get_weights())
    assert not np.array_equal(np.asarray(fresh(X, training=True)), np.asarray(restored(X, training=True)))


def test_only_complete_checkpoints_count_and_older_ones_go(tmp_path):
    model = _model()
    _train_and_draw(model)
    assert checkpoints.latest(tmp_path / "none") == 0
    assert checkpoints.restore(_model(), tmp_path / "none") == (0, None)
    checkpoints.save(model, tmp_path, epoch=1, loss=1.0)
    checkpoints.save(model, tmp_path, epoch=2, loss=0.5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-00002.state.npz", "epoch-00002.weights.h5"]
    # Killed while saving epoch 3: its state written, its weights not yet renamed into place.
    (tmp_path / "epoch-00003.state.npz").write_bytes((tmp_path / "epoch-00002.state.npz").read_bytes())
    (tmp_path / "partial.weights.h5").write_bytes(b"half a file")
    assert checkpoints.latest(tmp_path) == 2
    assert checkpoints.restore(_model(), tmp_path) == (2, 0.5)


def test_a_checkpoint_of_another_model_is_refused(tmp_path):
    import keras
    model = _model()
    _train_and_draw(model)
    checkpoints.save(model, tmp_path, epoch=1, loss=1.0)
    inputs = keras.Input((6,))
    other = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Dense(8)(inputs)))
    other.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    with pytest.raises(ValueError, match="does not belong to this model"):
        checkpoints.restore(other, tmp_path)
