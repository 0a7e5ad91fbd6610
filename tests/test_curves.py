"""TensorBoard curves (training.tensorboard): written per candidate, read back the way a local
`tensorboard --logdir` reads them, and into AIP_TENSORBOARD_LOG_DIR when Vertex AI sets it."""

import dataclasses

import numpy as np
from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer
from tensorboard.util import tensor_util

from adanas import config, train
from conftest import tiny_config_dict


def _scalars(logdir) -> dict[str, dict[str, list[float]]]:
    """{run: {tag: values by step}} of the scalars dashboard, as the TensorBoard server sees it."""
    mux = EventMultiplexer()
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    out = {}
    for run, tags in mux.PluginRunToTagToContent("scalars").items():
        out[run] = {tag: [float(tensor_util.make_ndarray(e.tensor_proto))
                          for e in sorted(mux.Tensors(run, tag), key=lambda e: e.step)]
                    for tag in tags}
    return out


def test_each_candidate_writes_its_curves_where_tensorboard_reads_them(digits_dir, tmp_path, monkeypatch):
    vertex = tmp_path / "vertex-logs"
    monkeypatch.setenv("AIP_TENSORBOARD_LOG_DIR", str(vertex))
    cfg = config.from_dict(tiny_config_dict())
    training = dataclasses.replace(cfg.training, max_iteration_steps=None, train_epochs=3, tensorboard=True)
    spec = {"name": "i0_c0", "family": "cnn", "arch": {"num_layers": 1, "filters": 4},
            "arch_str": "cnn(1@4)", "move": "base", "iteration": 0, "seed": 3}
    metrics = train.train_step(spec, training, digits_dir, tmp_path / "model",
                               tensorboard_dir=tmp_path / "tensorboard")
    assert metrics["epochs"] == metrics["epochs_done"] == 3

    for logdir in (tmp_path / "tensorboard", vertex):
        runs = _scalars(logdir)
        assert set(runs) == {"i0_c0/train", "i0_c0/validation"}
        train_curves, val_curves = runs["i0_c0/train"], runs["i0_c0/validation"]
        assert set(train_curves) == {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}
        assert set(val_curves) == {"epoch_loss", "epoch_accuracy", "epoch_error"}
        assert all(len(v) == 3 for v in [*train_curves.values(), *val_curves.values()])
        # Cosine decay from the initial rate: lower at every epoch's end.
        lr = train_curves["epoch_learning_rate"]
        assert lr[0] < training.initial_learning_rate and lr[0] > lr[1] > lr[2]
        # The last epoch's validation numbers are the candidate's own.
        assert np.isclose(val_curves["epoch_error"][-1], metrics["validation_error"])
        assert np.isclose(val_curves["epoch_loss"][-1], metrics["validation_loss"], rtol=1e-4)


def test_off_by_default_with_an_empty_output(digits_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("AIP_TENSORBOARD_LOG_DIR", raising=False)
    cfg = config.from_dict(tiny_config_dict())
    assert cfg.training.tensorboard is False
    spec = {"name": "i0_c0", "family": "cnn", "arch": {"num_layers": 1, "filters": 4},
            "arch_str": "cnn(1@4)", "move": "base", "iteration": 0, "seed": 3}
    train.train_step(spec, cfg.training, digits_dir, tmp_path / "model", tensorboard_dir=tmp_path / "tb")
    assert (tmp_path / "tb").is_dir() and not any((tmp_path / "tb").iterdir())
