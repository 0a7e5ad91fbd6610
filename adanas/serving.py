"""The servable export: a TensorFlow SavedModel with serving signatures, and its CPU latency.

TF Serving and Vertex AI's prebuilt TensorFlow prediction images load the folder as is (on
Vertex AI the Model's artifact URI is the folder; TF Serving wants it under a version number,
`MODEL_BASE/1/`). Two signatures, the same outputs:

    serving_default   images       uint8 [N, H, W, C]  raw pixels, as in the Dataset artifact
    serving_bytes     image_bytes  string [N]          encoded JPEG / PNG / GIF / BMP, decoded to
                                                       C channels and resized (bilinear,
                                                       antialiased) to H x W when they differ
    outputs           probabilities   float32 [N, K]   softmax(logits / T), T fitted on the
                                                       validation split (adanas.calibration)
                      class_names     string [N, K]    the Dataset's class names, one row each
                      top_class       int64 [N]        argmax of the probabilities
                      top_class_name  string [N]

Every output has the batch dimension first, as TF Serving's row ("instances") format needs.
A REST request to the bytes signature names it and wraps each image in {"b64": ...}; Vertex AI
wants binary inputs' names to end in `_bytes`:
    {"signature_name": "serving_bytes", "instances": [{"image_bytes": {"b64": "..."}}]}
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from adanas import metrics

DEFAULT_SIGNATURE = "serving_default"
BYTES_SIGNATURE = "serving_bytes"
OUTPUTS = ("probabilities", "class_names", "top_class", "top_class_name")
# The SavedModel's probabilities against softmax(keras logits / T) (float32 vs float64).
MAX_PROBABILITY_DRIFT = 1e-4


def export_saved_model(model, out_dir: str | os.PathLike, image_shape, class_names: list[str],
                       temperature: float = 1.0) -> Path:
    """Writes `model` (a Keras model: raw images in, logits out) as a SavedModel with the two
    signatures above; returns the folder."""
    import keras
    import tensorflow as tf

    h, w, c = (int(d) for d in image_shape)
    if len(class_names) != model.outputs[0].shape[-1]:
        raise ValueError(f"{len(class_names)} class names for a model of "
                         f"{model.outputs[0].shape[-1]} outputs")
    names = tf.constant([str(n) for n in class_names])
    inverse_t = tf.constant(1.0 / float(temperature), tf.float32)

    def predict(x):
        logits = tf.cast(model(x, training=False), tf.float32)
        probabilities = tf.nn.softmax(logits * inverse_t, axis=-1)
        top = tf.argmax(probabilities, axis=-1)
        return {"probabilities": probabilities,
                "class_names": tf.tile(names[None, :], [tf.shape(probabilities)[0], 1]),
                "top_class": top,
                "top_class_name": tf.gather(names, top)}

    def from_pixels(images):
        return predict(tf.cast(images, tf.float32))

    def decode(data):
        if c == 1:
            # TF decodes GIF and BMP to colour only (channels=1 is refused): those as RGB, then
            # grey, as its PNG and JPEG decoders convert colour images.
            colour_only = tf.logical_or(tf.equal(tf.strings.substr(data, 0, 3), b"GIF"),
                                        tf.equal(tf.strings.substr(data, 0, 2), b"BM"))
            image = tf.cond(colour_only,
                            lambda: tf.image.rgb_to_grayscale(
                                tf.io.decode_image(data, channels=3, expand_animations=False)),
                            lambda: tf.io.decode_image(data, channels=1, expand_animations=False))
        else:
            image = tf.io.decode_image(data, channels=c, expand_animations=False)
        image = tf.cast(image, tf.float32)
        size = tf.shape(image)[:2]
        same = tf.logical_and(tf.equal(size[0], h), tf.equal(size[1], w))
        # Exactly the stored pixels when the size matches (no resampling at all).
        image = tf.cond(same, lambda: image,
                        lambda: tf.image.resize(image, [h, w], method="bilinear", antialias=True))
        return tf.ensure_shape(image, [h, w, c])

    def from_bytes(image_bytes):
        pixels = tf.map_fn(decode, image_bytes, fn_output_signature=tf.TensorSpec([h, w, c], tf.float32))
        return predict(pixels)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(DEFAULT_SIGNATURE, from_pixels,
                         [tf.TensorSpec([None, h, w, c], tf.uint8, name="images")])
    archive.add_endpoint(BYTES_SIGNATURE, from_bytes,
                         [tf.TensorSpec([None], tf.string, name="image_bytes")])
    out = Path(out_dir)
    archive.write_out(str(out), verbose=False)
    return out


def serve(saved_model_dir: str | os.PathLike, images: np.ndarray, batch_size: int = 256) -> dict[str, np.ndarray]:
    """The default signature's outputs on uint8 images, loaded with plain tf.saved_model.load."""
    import tensorflow as tf
    fn = tf.saved_model.load(str(saved_model_dir)).signatures[DEFAULT_SIGNATURE]
    parts = [fn(images=tf.constant(images[i:i + batch_size], tf.uint8))
             for i in range(0, len(images), batch_size)]
    return {k: np.concatenate([p[k].numpy() for p in parts]) for k in OUTPUTS}


def probability_drift(saved_model_dir: str | os.PathLike, images: np.ndarray, logits: np.ndarray,
                      temperature: float) -> float:
    """Largest difference between the SavedModel's probabilities and softmax(logits / T) of
    the model it was exported from: what a served prediction would differ by."""
    want = np.exp(metrics.log_softmax(np.asarray(logits, np.float64) / temperature))
    return float(np.abs(serve(saved_model_dir, images)["probabilities"] - want).max())


def check_export(saved_model_dir: str | os.PathLike, images: np.ndarray, logits: np.ndarray,
                 temperature: float) -> float:
    """probability_drift, failing the step past MAX_PROBABILITY_DRIFT (a broken export must not
    reach a registry)."""
    drift = probability_drift(saved_model_dir, images, logits, temperature)
    if not drift <= MAX_PROBABILITY_DRIFT:
        raise RuntimeError(f"the SavedModel's probabilities differ from the Keras model's by "
                           f"{drift:.2e} (allowed {MAX_PROBABILITY_DRIFT:.0e})")
    return drift


def saved_model_bytes(saved_model_dir: str | os.PathLike) -> int:
    return sum(p.stat().st_size for p in Path(saved_model_dir).rglob("*") if p.is_file())


def cpu_latency(saved_model_dir: str | os.PathLike, images: np.ndarray,
                batch_sizes: tuple[int, ...] = (1, 64), min_seconds: float = 1.0,
                min_calls: int = 10) -> dict[str, float]:
    """Milliseconds per image of the default signature on the CPU, at each batch size:
    {"batch_1": ms, "batch_64": ms}. Each is the median over at least `min_calls` timed calls
    (and `min_seconds`), after 3 untimed ones; a batch is `images` repeated to its size."""
    import tensorflow as tf
    out = {}
    with tf.device("/CPU:0"):
        fn = tf.saved_model.load(str(saved_model_dir)).signatures[DEFAULT_SIGNATURE]
        for b in batch_sizes:
            x = tf.constant(np.resize(images, (b, *images.shape[1:])).astype(np.uint8))
            for _ in range(3):
                fn(images=x)["probabilities"].numpy()
            times: list[float] = []
            deadline = time.perf_counter() + min_seconds
            while len(times) < min_calls or time.perf_counter() < deadline:
                t0 = time.perf_counter()
                fn(images=x)["probabilities"].numpy()
                times.append(time.perf_counter() - t0)
            out[f"batch_{b}"] = 1000.0 * float(np.median(times)) / b
    return out
