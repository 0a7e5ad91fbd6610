import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from adanas import config, data  # noqa: E402

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
    data.prepare(cfg.dataset, cfg.augmentation, out)
    return out


def write_candidate(folder: Path, name: str, val_logits, test_logits, params=10, arch="cnn(1@4)"):
    """A candidate artifact as the train step writes it (without model.keras)."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "logits_validation.npy", np.asarray(val_logits, dtype=np.float32))
    np.save(folder / "logits_test.npy", np.asarray(test_logits, dtype=np.float32))
    spec = {"name": name, "family": "cnn", "arch": {"num_layers": 1, "filters": 4},
            "arch_str": arch, "move": "base", "iteration": 0, "seed": 0}
    metrics = {"params": params, "validation_loss": 0.0, "validation_error": 0.0,
               "test_error": 0.0, "train_seconds": 1.0}
    (folder / "candidate.json").write_text(json.dumps({"spec": spec, "metrics": metrics}))
    return folder
