import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from adanas import artifacts, config, data  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def tiny_config_dict(**search) -> dict:
    """A config that runs in seconds: a slice of digits, tiny CNNs, a few steps."""
    return {
        "name": "adanas-tiny",
        "seed": 1,
        "dataset": {"name": "digits", "max_examples_per_split": 120},
        "augmentation": {"flip": False, "pad_crop": 1, "cutout": 2},
        "search": {"family": "cnn", "architecture": {"num_layers": 1, "filters": 4},
                   "generator": "dynamic", "growth": {"depth": 1, "width": 2},
                   "candidates_per_iteration": 2, "boosting_iterations": 2, **search},
        "training": {"batch_size": 16, "train_epochs": None, "max_iteration_steps": 6},
    }


@pytest.fixture
def tiny_cfg() -> config.Config:
    return config.from_dict(tiny_config_dict())


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory) -> Path:
    """A Dataset artifact folder made by the real augment step, on a slice of digits."""
    out = tmp_path_factory.mktemp("dataset")
    cfg = config.from_dict(tiny_config_dict())
    data.prepare_step(cfg.dataset, cfg.augmentation, out)
    return out


def write_candidate(folder: Path, name: str, val_logits, test_logits, params=10, arch="cnn(1@4)",
                    train_logits=None, validation_loss=0.0, validation_error=0.0, layers=1):
    """A candidate artifact as the train step writes it, with a stand-in model file (selection
    only copies it)."""
    spec = {"name": name, "family": "cnn", "arch": {"num_layers": layers, "filters": 4},
            "arch_str": arch, "move": "base", "iteration": 0, "seed": 0}
    metrics = {"params": params, "validation_loss": validation_loss, "validation_error": validation_error,
               "test_error": 0.0, "train_seconds": 1.0}
    # Arrays (not nested lists, which write_candidate would take for a list of shards): one shard.
    logits = {s: None if v is None else np.asarray(v)
              for s, v in {"validation": val_logits, "test": test_logits, "train": train_logits}.items()}
    artifacts.write_candidate(folder, spec, metrics, logits)
    artifacts.candidate_model(folder).write_bytes(f"model {name}".encode())
    return folder


def write_dataset(folder: Path, y_val, y_test, y_train=None, shape=(2, 2, 1)) -> Path:
    """A Dataset artifact of blank images with the given labels."""
    ys = {"train": y_val if y_train is None else y_train, "validation": y_val, "test": y_test}
    x = {s: np.zeros((len(y), *shape), np.uint8) for s, y in ys.items()}
    artifacts.write_dataset(folder, x, {s: np.asarray(y) for s, y in ys.items()},
                            {"num_classes": int(max(max(y) for y in ys.values())) + 1,
                             "image_shape": list(shape), "splits": {s: len(y) for s, y in ys.items()}})
    return folder


class Killed(Exception):
    """What `killing_after_epoch` raises: a task killed mid-training, as a preemption would."""


def killing_after_epoch(train, monkeypatch, epochs: int) -> None:
    """Makes `train.train_candidate` die after `epochs` epochs, past their checkpoints;
    `monkeypatch.undo()` (or a new patch of train.fit_callbacks) lets the rerun resume."""
    import keras

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == epochs - 1:
                raise Killed()

    callbacks = train.fit_callbacks
    monkeypatch.setattr(train, "fit_callbacks", lambda *a, **k: callbacks(*a, **k) + [Kill()])
