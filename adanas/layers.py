"""Layers every model family shares (Keras imported on use: the light steps never need it)."""

from __future__ import annotations


def image_inputs(input_shape: tuple[int, ...]):
    """(raw image input, the same scaled to [-1, 1]): every model takes raw pixels (0..255, any
    dtype) and scales them itself, so training, evaluation and the exported ensemble agree."""
    import keras
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    return inputs, keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale")(inputs)
