"""Training curves for TensorBoard (`training.tensorboard: true`).

Each candidate writes scalar summaries per epoch, in the layout Keras' TensorBoard callback uses,
under a folder named after the candidate:

    <log dir>/<candidate>/train/events.*        epoch_loss, epoch_accuracy, epoch_learning_rate
    <log dir>/<candidate>/validation/events.*   epoch_loss, epoch_accuracy, epoch_error

Log dirs: the train task's own `tensorboard` output artifact (on a pipeline, a folder under the
pipeline root: `tensorboard --logdir <run folder>` shows every candidate of a local run), and
also AIP_TENSORBOARD_LOG_DIR when Vertex AI sets it (a CustomJob with a Vertex AI TensorBoard
instance attached), where Vertex AI TensorBoard picks the events up as they are written.
Validation curves cost one prediction over the validation split per epoch, paid only when the
switch is on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from adanas import metrics

VERTEX_LOG_DIR_ENV = "AIP_TENSORBOARD_LOG_DIR"


def log_dirs(tensorboard_dir: str | os.PathLike | None, name: str) -> list[str]:
    """Where candidate `name` writes its curves: under the task's output folder and under
    AIP_TENSORBOARD_LOG_DIR when set (it may be a gs:// path: TensorFlow writes there itself)."""
    out = [] if tensorboard_dir is None else [str(Path(tensorboard_dir) / name)]
    vertex = os.environ.get(VERTEX_LOG_DIR_ENV)
    if vertex:
        out.append(vertex.rstrip("/") + "/" + name)
    return out


def callback(dirs: list[str], student, score_validation: Callable[[Any], metrics.Score]):
    """A Keras callback writing the curves above to every folder of `dirs`. `student` is the
    candidate's own model (logits first among its outputs), scored each epoch by
    `score_validation(student)` (the validation split, streamed by the caller)."""
    import keras
    import tensorflow as tf

    class Curves(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.writers = {(d, part): tf.summary.create_file_writer(f"{d}/{part}")
                            for d in dirs for part in ("train", "validation")}

        def _write(self, part: str, values: dict[str, float], epoch: int) -> None:
            for (_, which), writer in self.writers.items():
                if which == part:
                    with writer.as_default(step=epoch):
                        for tag, value in values.items():
                            tf.summary.scalar(tag, value)
                    writer.flush()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            train: dict[str, Any] = {"epoch_loss": logs.get("loss", float("nan"))}
            acc = next((v for k, v in logs.items() if k.endswith("accuracy")), None)
            if acc is not None:
                train["epoch_accuracy"] = acc
            lr = self.model.optimizer.learning_rate
            train["epoch_learning_rate"] = float(np.asarray(keras.ops.convert_to_numpy(lr)))
            self._write("train", train, epoch)
            score = score_validation(student)
            self._write("validation", {"epoch_loss": score.loss, "epoch_accuracy": 1.0 - score.error,
                                       "epoch_error": score.error}, epoch)

        def on_train_end(self, logs=None):
            for writer in self.writers.values():
                writer.close()

    return Curves()
