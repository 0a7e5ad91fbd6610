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


def fragile(spec, input_shape, num_classes):
    """Fails the way real candidates do: an exception while building, or a loss that blows up."""
    if spec.get("fault") == "error":
        raise RuntimeError("injected fault: this architecture cannot be built")
    model = small_mlp(spec, input_shape, num_classes)
    if spec.get("fault") == "nan":
        logits = keras.layers.Lambda(lambda z: z * 1e38)(model.output)   # overflows to inf/NaN
        return keras.Model(model.inputs, logits)
    if spec.get("fault") == "nan_at_inference":
        return keras.Model(model.inputs, NanAtInference()(model.output))
    return model


class NanAtInference(keras.layers.Layer):
    """Trains as the identity, predicts NaN: a finite training loss with broken logits."""

    def call(self, x, training=None):
        return x if training else x + float("nan")


def one_good_one_nan_one_broken(iteration, count, base, last):
    return [dict(base), dict(base, fault="nan"), dict(base, fault="error")]


def good_then_broken(iteration, count, base, last):
    return [dict(base)] if iteration == 0 else [dict(base, fault="error")]


@keras.saving.register_keras_serializable(package="example_builders")
class LearnedScale(keras.layers.Layer):
    """A custom layer (one trainable scalar), registered so that saved models using it load
    wherever this module has been imported."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

    def call(self, x):
        return x * self.scale


def with_custom_layer(spec, input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Rescaling(1.0 / 255)(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(spec["units"], activation="relu")(x)
    return keras.Model(inputs, LearnedScale()(keras.layers.Dense(num_classes)(x)))


def logits_and_embedding(spec, input_shape, num_classes):
    """Two outputs: not a model AdaNAS can train and serve (one output, the logits)."""
    inputs = keras.Input(input_shape)
    embedding = keras.layers.Dense(16)(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, [keras.layers.Dense(num_classes)(embedding), embedding])


def sequential_without_input(spec, input_shape, num_classes):
    """A Sequential model with no Input: built on the images' shape by AdaNAS."""
    return keras.Sequential([keras.layers.Rescaling(1 / 255.0), keras.layers.Flatten(),
                             keras.layers.Dense(num_classes)])
