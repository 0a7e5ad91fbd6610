"""The ensemble as one Keras model: frozen members and their combination (uniform mean or
mixture weights). The evaluate step exports it; a distilling train step runs it as the live
teacher on each augmented batch. Only standard Keras layers: it loads without custom objects.
"""

from __future__ import annotations

import os

import numpy as np


def mixture_kernel(weights: np.ndarray, num_classes: int) -> np.ndarray:
    """Mixture weights as one [M*C, C] matrix acting on the members' concatenated logits."""
    w = np.asarray(weights, dtype=np.float32)
    eye = np.eye(num_classes, dtype=np.float32)
    if w.ndim == 1:
        blocks = w[:, None, None] * eye
    elif w.ndim == 2:
        blocks = w[:, :, None] * eye
    else:
        blocks = w
    return blocks.reshape(-1, num_classes)


def combined_model(member_paths: list[str | os.PathLike], input_shape, weights=None, bias=None,
                   name: str = "adanas_ensemble"):
    """Members (loaded from their model files, frozen) plus their combination.

    Without weights (or with uniform scalar weights and no bias) the combination is an Average
    layer; otherwise a frozen Dense layer over the concatenated member logits holds the mixture
    weights and bias.
    """
    import keras
    members = []
    for path in member_paths:
        member = keras.saving.load_model(path, compile=False)
        member.trainable = False
        members.append(member)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    outputs = [m(inputs) for m in members]
    n = len(outputs)
    uniform = weights is None or (np.ndim(weights) == 1 and np.allclose(weights, 1.0 / n)
                                  and (bias is None or not np.any(bias)))
    if uniform:
        logits = outputs[0] if n == 1 else keras.layers.Average(name="mean_logits")(outputs)
    else:
        c = outputs[0].shape[-1]
        joined = outputs[0] if n == 1 else keras.layers.Concatenate(name="member_logits")(outputs)
        mix = keras.layers.Dense(c, use_bias=bias is not None, trainable=False, name="mixture")
        logits = mix(joined)
        mix.set_weights([mixture_kernel(weights, c)] + ([np.asarray(bias, np.float32)] if bias is not None else []))
    return keras.Model(inputs, logits, name=name)
