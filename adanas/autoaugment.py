"""AutoAugment's CIFAR-10 policy (Cubuk et al. 2019) and RandAugment (Cubuk et al. 2020), for the
tf.data training pipeline.

The image operations are written here with plain TF ops, on float images in 0..255, driven by
stateless seeds, so each image is augmented independently (in parallel across cores) and a run
with the same seed is reproducible. (Keras ships a RandAugment layer, but it draws from a
stateful seed generator: reproducible only when batches go through it one at a time.)

AutoAugment: each training image gets one of the 25 sub-policies at random; each of the
sub-policy's two operations fires with its probability at its magnitude (0..9, mapped to the
ranges of the paper, with a random sign where it has one). RandAugment: `num_ops` operations
drawn uniformly (with replacement) from its 14, each at the same magnitude, random sign.
"""

from __future__ import annotations

import math

import tensorflow as tf

# (operation, probability, magnitude 0..9 or None): the policy published for reduced CIFAR-10.
CIFAR10_POLICY = [
    (("Invert", 0.1, None), ("Contrast", 0.2, 6)),
    (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
    (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)),
    (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.5, None), ("Equalize", 0.9, None)),
    (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
    (("Color", 0.4, 3), ("Brightness", 0.6, 7)),
    (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
    (("Equalize", 0.6, None), ("Equalize", 0.5, None)),
    (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
    (("Color", 0.7, 7), ("TranslateX", 0.5, 8)),
    (("Equalize", 0.3, None), ("AutoContrast", 0.4, None)),
    (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)),
    (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
    (("Solarize", 0.5, 2), ("Invert", 0.0, None)),
    (("Equalize", 0.2, None), ("AutoContrast", 0.6, None)),
    (("Equalize", 0.2, None), ("Equalize", 0.6, None)),
    (("Color", 0.9, 9), ("Equalize", 0.6, None)),
    (("AutoContrast", 0.8, None), ("Solarize", 0.2, 8)),
    (("Brightness", 0.1, 3), ("Color", 0.7, 0)),
    (("Solarize", 0.4, 5), ("AutoContrast", 0.9, None)),
    (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.9, None), ("Solarize", 0.8, 3)),
    (("Equalize", 0.8, None), ("Invert", 0.1, None)),
    (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, None)),
]

GREY = 128.0  # fill for pixels that geometric ops move in


def _grey(image):
    g = tf.image.rgb_to_grayscale(image) if image.shape[-1] == 3 else image
    return tf.broadcast_to(g, tf.shape(image))


def _blend(a, b, factor):
    """a + factor * (b - a), clipped: factor 0 -> a, 1 -> b, > 1 extrapolates."""
    return tf.clip_by_value(a + factor * (b - a), 0.0, 255.0)


def _affine(image, transform):
    """Applies a 3x3 projective transform (8 numbers, output -> input coordinates)."""
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=tf.cast(transform, tf.float32)[None],
        output_shape=tf.shape(image)[:2], fill_value=GREY, interpolation="NEAREST",
        fill_mode="CONSTANT")
    return out[0]


def _rotate(image, degrees):
    h, w = tf.cast(tf.shape(image)[0], tf.float32), tf.cast(tf.shape(image)[1], tf.float32)
    a = degrees * math.pi / 180.0
    cos, sin = tf.cos(a), tf.sin(a)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    return _affine(image, [cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy, 0.0, 0.0])


def _equalize(image):
    def channel(c):
        c = tf.cast(c, tf.int32)
        hist = tf.math.bincount(tf.reshape(c, [-1]), minlength=256, maxlength=256)
        nonzero = tf.boolean_mask(hist, hist > 0)
        step = (tf.reduce_sum(nonzero) - nonzero[-1]) // 255
        lut = (tf.cumsum(hist) + step // 2) // tf.maximum(step, 1)
        lut = tf.clip_by_value(tf.concat([[0], lut[:-1]], 0), 0, 255)
        return tf.cast(tf.where(step == 0, c, tf.gather(lut, c)), tf.float32)

    return tf.stack([channel(image[..., i]) for i in range(image.shape[-1])], axis=-1)


def _autocontrast(image):
    lo = tf.reduce_min(image, axis=[0, 1], keepdims=True)
    hi = tf.reduce_max(image, axis=[0, 1], keepdims=True)
    scaled = (image - lo) * 255.0 / tf.maximum(hi - lo, 1e-3)
    return tf.where(hi > lo, scaled, image)


def _sharpness(image, factor):
    kernel = tf.constant([[1, 1, 1], [1, 5, 1], [1, 1, 1]], tf.float32) / 13.0
    c = image.shape[-1]
    kernel = tf.tile(kernel[:, :, None, None], [1, 1, c, 1])
    blurred = tf.nn.depthwise_conv2d(image[None], kernel, [1, 1, 1, 1], "VALID")[0]
    # The border keeps its pixels, as in PIL.
    blurred = tf.pad(blurred, [[1, 1], [1, 1], [0, 0]])
    mask = tf.pad(tf.ones_like(blurred[1:-1, 1:-1]), [[1, 1], [1, 1], [0, 0]])
    blurred = blurred * mask + image * (1 - mask)
    return _blend(blurred, image, factor)


def apply_op(image, name: str, magnitude, sign):
    """One operation at magnitude 0..9 (a float tensor) on one float image [H, W, C] of static
    size; sign is +1 or -1."""
    m = tf.cast(magnitude or 0, tf.float32) / 9.0
    height, width = int(image.shape[0]), int(image.shape[1])
    if name == "Invert":
        return 255.0 - image
    if name == "AutoContrast":
        return _autocontrast(image)
    if name == "Equalize":
        return _equalize(image)
    if name == "Rotate":
        return _rotate(image, sign * 30.0 * m)
    if name == "ShearX":
        return _affine(image, [1.0, sign * 0.3 * m, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    if name == "ShearY":
        return _affine(image, [1.0, 0.0, 0.0, sign * 0.3 * m, 1.0, 0.0, 0.0, 0.0])
    if name == "TranslateX":  # up to 10 pixels on 32 (the CIFAR setting), scaled to the width
        return _affine(image, [1.0, 0.0, sign * m * width * 10 / 32, 0.0, 1.0, 0.0, 0.0, 0.0])
    if name == "TranslateY":  # and to the height
        return _affine(image, [1.0, 0.0, 0.0, 0.0, 1.0, sign * m * height * 10 / 32, 0.0, 0.0])
    if name == "Posterize":  # keep 4..8 bits
        bits = tf.cast(8.0 - tf.round(4.0 * m), tf.int32)
        shift = 8 - bits
        return tf.cast(tf.bitwise.left_shift(tf.bitwise.right_shift(tf.cast(image, tf.int32), shift), shift), tf.float32)
    if name == "Solarize":  # invert above a threshold that falls from 256 to 0
        return tf.where(image < 256.0 * (1.0 - m), image, 255.0 - image)
    factor = 1.0 + sign * 0.9 * m  # enhancement factor in [0.1, 1.9]
    if name == "Color":
        return _blend(_grey(image), image, factor)
    if name == "Contrast":
        mean = tf.reduce_mean(_grey(image))
        return _blend(tf.fill(tf.shape(image), mean), image, factor)
    if name == "Brightness":
        return _blend(tf.zeros_like(image), image, factor)
    if name == "Sharpness":
        return _sharpness(image, factor)
    raise ValueError(f"unknown AutoAugment operation {name!r}")


def autoaugment(image, seed):
    """A random CIFAR-10 sub-policy applied to one float image [H, W, C] (0..255)."""
    seeds = tf.random.experimental.stateless_split(seed, 5)
    which = tf.random.stateless_uniform([], seeds[0], 0, len(CIFAR10_POLICY), dtype=tf.int32)

    def sub_policy(ops):
        def run():
            out = image
            for k, (name, prob, magnitude) in enumerate(ops):
                fire = tf.random.stateless_uniform([], seeds[1 + 2 * k]) < prob
                sign = tf.where(tf.random.stateless_uniform([], seeds[2 + 2 * k]) < 0.5, -1.0, 1.0)
                # Bind the loop variables now: tf.cond calls these lambdas immediately anyway.
                out = tf.cond(fire, lambda o=out, n=name, m=magnitude, s=sign: apply_op(o, n, m, s),
                              lambda o=out: o)
            return out
        return run

    return tf.switch_case(which, [sub_policy(ops) for ops in CIFAR10_POLICY])


# RandAugment's operations (the paper's list; Identity leaves the image as it is).
RANDAUGMENT_OPS = ("Identity", "AutoContrast", "Equalize", "Rotate", "Solarize", "Color",
                   "Posterize", "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY",
                   "TranslateX", "TranslateY")


def randaugment(image, seed, num_ops: int, magnitude: float):
    """`num_ops` random operations at `magnitude` (0..1 of each operation's range) on one float
    image [H, W, C] (0..255)."""
    m = magnitude * 9.0  # apply_op's 0..9 scale
    seeds = tf.random.experimental.stateless_split(seed, 2 * num_ops)
    for k in range(num_ops):
        which = tf.random.stateless_uniform([], seeds[2 * k], 0, len(RANDAUGMENT_OPS), dtype=tf.int32)
        sign = tf.where(tf.random.stateless_uniform([], seeds[2 * k + 1]) < 0.5, -1.0, 1.0)
        image = tf.switch_case(which, [
            lambda n=name, o=image, s=sign: o if n == "Identity" else apply_op(o, n, m, s)
            for name in RANDAUGMENT_OPS])
    return image
