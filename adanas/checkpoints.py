"""Per-epoch training checkpoints that a killed task resumes from exactly.

A checkpoint of epoch N is two files in the task's backup folder: `epoch-N.state.npz` (the
random-number state of the model's dropout and drop path, the epoch's training loss, and any
values the training asks to keep, such as a budgeted schedule's progress),
written first, then `epoch-N.weights.h5` (model and optimizer variables), which appears by one
atomic rename and so marks the checkpoint complete. A kill at any instant leaves the last
complete epoch to resume from. keras.callbacks.BackupAndRestore, used before, rewrites its
weights and then its epoch count in place: a kill between the two resumed epoch N+1's weights
as if they were epoch N's, and it does not keep the dropout / drop path seed state, so a
resumed training drew other masks than an unbroken one.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import numpy as np

_WEIGHTS = re.compile(r"epoch-(\d+)\.weights\.h5")


def _weights(folder: Path, epoch: int) -> Path:
    return folder / f"epoch-{epoch:05d}.weights.h5"


def _state(folder: Path, epoch: int) -> Path:
    return folder / f"epoch-{epoch:05d}.state.npz"


def latest(folder: str | os.PathLike) -> int:
    """Epochs the newest complete checkpoint in `folder` has finished; 0 without one."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    return max((int(m.group(1)) for p in folder.iterdir() if (m := _WEIGHTS.fullmatch(p.name))), default=0)


def _seed_states(model) -> list:
    """The model's variables that are not weights: its layers' SeedGenerator states."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def save(model, folder: str | os.PathLike, epoch: int, loss: float,
         extra: dict[str, float] | None = None) -> None:
    """Checkpoints `model` (compiled, trained `epoch` epochs) into `folder`, with the `extra`
    values (read back by `saved_extra`); older ones go."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    seeds = {f"seed_{i}": np.asarray(v.numpy()) for i, v in enumerate(_seed_states(model))}
    kept = {f"extra_{k}": np.float64(v) for k, v in (extra or {}).items()}
    partial = folder / "partial.state.npz"
    np.savez(partial, loss=np.float64(loss), **seeds, **kept)
    os.replace(partial, _state(folder, epoch))
    partial = folder / "partial.weights.h5"        # Keras wants the .weights.h5 suffix
    model.save_weights(partial, overwrite=True)
    os.replace(partial, _weights(folder, epoch))   # the commit
    for older in range(1, epoch):
        for path in (_weights(folder, older), _state(folder, older)):
            path.unlink(missing_ok=True)


def restore(model, folder: str | os.PathLike) -> tuple[int, float | None]:
    """Restores the newest complete checkpoint in `folder` into `model` (compiled, under the
    distribution scope it trains in): (epochs it had finished, its last training loss), or
    (0, None) without one."""
    folder = Path(folder)
    epoch = latest(folder)
    if not epoch:
        return 0, None
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)   # its variables must exist to load
    model.load_weights(_weights(folder, epoch))
    states = _seed_states(model)
    with np.load(_state(folder, epoch)) as saved:
        seeds = sum(k.startswith("seed_") for k in saved.files)
        if seeds != len(states):
            raise ValueError(f"checkpoint {_state(folder, epoch)} does not belong to this model: "
                             f"{seeds} random states saved, the model has {len(states)}")
        for i, v in enumerate(states):
            v.assign(saved[f"seed_{i}"])
        return epoch, float(saved["loss"])


def saved_extra(folder: str | os.PathLike) -> dict[str, float]:
    """The `extra` values of the newest complete checkpoint in `folder` ({} without one)."""
    epoch = latest(folder)
    if not epoch:
        return {}
    with np.load(_state(Path(folder), epoch)) as saved:
        return {k.removeprefix("extra_"): float(saved[k]) for k in saved.files if k.startswith("extra_")}


def remove(folder: str | os.PathLike) -> None:
    """Deletes a task's checkpoints: once it has written its outputs, not when training ends (a
    task killed while it predicts its logits or saves would otherwise train again from scratch)."""
    shutil.rmtree(folder, ignore_errors=True)


def callback(folder: str | os.PathLike, min_seconds: float = 0.0, extra=None):
    """A Keras callback that checkpoints at each epoch's end (skipping an epoch while the last
    save is under `min_seconds` old), with the values `extra()` returns. The task removes the
    folder (`remove`) once its outputs are written."""
    import keras

    class Checkpoint(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.last_save = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            if time.monotonic() - self.last_save >= min_seconds:
                save(self.model, folder, epoch + 1, float((logs or {}).get("loss", float("nan"))),
                     extra() if extra else None)
                self.last_save = time.monotonic()

    return Checkpoint()
