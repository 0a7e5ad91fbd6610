"""Training one candidate (Keras 3): the body of each per-candidate pipeline task.

Writes into the candidate's Model artifact folder:
    model.keras                      the trained subnetwork (raw images in, logits out)
    logits_validation.npy, logits_test.npy   float32 [N, C], cached for selection and reports
    candidate.json                   the spec and its metrics
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from adanas import data, ensemble
from adanas.config import TrainingConfig

log = logging.getLogger(__name__)


def make_optimizer(cfg: TrainingConfig, total_steps: int):
    import keras
    lr: Any = cfg.initial_learning_rate
    if cfg.learning_rate_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(cfg.initial_learning_rate, total_steps, alpha=0.0)
    clip = {"global_clipnorm": cfg.clip_gradients} if cfg.clip_gradients > 0 else {}
    if cfg.optimizer == "momentum":
        return keras.optimizers.SGD(lr, momentum=cfg.momentum, **clip)
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(lr, **clip)
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(lr, **clip)
    if cfg.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(lr, momentum=cfg.momentum, **clip)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


def _progress_callback(name: str, epochs: int):
    """One log line per epoch, prefixed by the candidate: parallel tasks interleave."""
    import keras

    class Progress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            log.info("[%s] epoch %d/%d  loss %.4f  accuracy %.4f  %.1fs", name, epoch + 1, epochs,
                     logs.get("loss", float("nan")), logs.get("accuracy", float("nan")),
                     time.perf_counter() - self.t0)

    return Progress()


def train_candidate(candidate: dict[str, Any], cfg: TrainingConfig,
                    dataset_dir: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, Any]:
    """Trains `candidate` on the Dataset artifact; returns its metrics."""
    import keras

    from adanas import augment, models

    keras.utils.set_random_seed(candidate["seed"])
    meta = data.read_meta(dataset_dir)
    x, y = data.read_split(dataset_dir, "train")
    held_out = {s: data.read_split(dataset_dir, s) for s in ("validation", "test")}

    model = models.build_model(candidate, meta["image_shape"], meta["num_classes"], cfg.weight_decay)
    batch = min(cfg.batch_size, len(x))
    steps_per_epoch = max(1, len(x) // batch)
    if cfg.max_iteration_steps:
        steps_per_epoch = min(steps_per_epoch, cfg.max_iteration_steps)
        epochs = math.ceil(cfg.max_iteration_steps / steps_per_epoch)
    else:
        epochs = cfg.train_epochs
    total_steps = epochs * steps_per_epoch

    model.compile(
        optimizer=make_optimizer(cfg, total_steps),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True,
                                                  label_smoothing=cfg.label_smoothing),
        metrics=["accuracy"],
        # XLA compilation costs more than it saves for small CPU models.
        jit_compile=False,
    )
    ds = augment.training_dataset(x, y, meta["num_classes"], batch, meta["augmentation"],
                                  seed=candidate["seed"])
    log.info("[%s] training %s: %d params, %d epochs x %d steps of %d", candidate["name"],
             candidate["arch_str"], model.count_params(), epochs, steps_per_epoch, batch)
    t0 = time.perf_counter()
    history = model.fit(ds, epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=0, shuffle=False,
                        callbacks=[_progress_callback(candidate["name"], epochs)])
    train_seconds = time.perf_counter() - t0
    final_loss = float(history.history["loss"][-1])
    if not math.isfinite(final_loss):
        raise FloatingPointError(f"[{candidate['name']}] training diverged: loss {final_loss}")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    logits = {}
    for split, (xs, _) in held_out.items():
        logits[split] = np.asarray(model.predict(xs, batch_size=512, verbose=0), dtype=np.float32)
        np.save(out / f"logits_{split}.npy", logits[split])
    model.save(out / "model.keras")

    yv, yt = held_out["validation"][1], held_out["test"][1]
    metrics = {
        "params": int(model.count_params()),
        "train_loss": final_loss,
        "validation_loss": ensemble.cross_entropy(logits["validation"], yv),
        "validation_error": ensemble.error_rate(logits["validation"], yv),
        "test_error": ensemble.error_rate(logits["test"], yt),
        "train_seconds": train_seconds,
        "train_steps": total_steps,
        "images_per_second": total_steps * batch / train_seconds,
    }
    (out / "candidate.json").write_text(json.dumps({"spec": candidate, "metrics": metrics}, indent=2))
    log.info("[%s] done in %.1fs: validation error %.4f, test error %.4f", candidate["name"],
             train_seconds, metrics["validation_error"], metrics["test_error"])
    return metrics
