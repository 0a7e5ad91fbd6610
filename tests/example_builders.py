"""A user's own model builder and generator, referenced from configs by import path in tests."""

import keras


def small_mlp(spec, input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Rescaling(1.0 / 255)(inputs)
    x = keras.layers.Flatten()(x)
    for _ in range(spec["layers"]):
        x = keras.layers.Dense(spec["units"], activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))


def halving_widths(iteration, count, base, last):
    """Proposes `count` variants of the base, each half as wide as the one before."""
    return [dict(base, units=max(1, base["units"] // 2 ** i)) for i in range(count)]


NOT_CALLABLE = 3
