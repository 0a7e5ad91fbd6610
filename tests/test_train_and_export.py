"""Real Keras training of a candidate, and the exported ensemble."""

import keras
import numpy as np
import pytest

from adanas import artifacts, config, evaluate, generators, train
from conftest import tiny_config_dict


@pytest.fixture(scope="module")
def trained(digits_dir, tmp_path_factory):
    cfg = config.from_dict(tiny_config_dict())
    specs = generators.propose(cfg.search, cfg.seed, 0, None)
    out = []
    for spec in specs:
        folder = tmp_path_factory.mktemp(spec["name"])
        metrics = train.train_candidate(spec, cfg.training, digits_dir, folder)
        out.append((spec, folder, metrics))
    return cfg, out


def test_training_writes_model_logits_and_metrics(trained, digits_dir):
    cfg, cands = trained
    spec, folder, metrics = cands[0]
    n_val = artifacts.dataset_meta(digits_dir)["splits"]["validation"]
    info, logits = artifacts.read_candidate(folder)
    assert logits["validation"].full().shape == (n_val, 10)
    assert info["spec"] == spec and info["metrics"] == metrics
    assert metrics["train_steps"] == cfg.training.max_iteration_steps
    assert metrics["params"] > 0 and metrics["train_seconds"] > 0
    assert 0.0 <= metrics["test_error"] <= 1.0 and np.isfinite(metrics["validation_loss"])
    model = keras.saving.load_model(artifacts.candidate_model(folder))
    x, _ = artifacts.dataset_split(digits_dir, "validation")
    np.testing.assert_allclose(model.predict(x, verbose=0), logits["validation"].full(), atol=1e-4)


def test_one_training_step_changes_the_weights(digits_dir, tmp_path):
    cfg = config.from_dict(tiny_config_dict())
    spec = generators.propose(cfg.search, 0, 0, None)[0]
    from adanas import models
    keras.utils.set_random_seed(spec["seed"])
    before = models.build_model(spec, (8, 8, 1), 10, 0.0).get_weights()
    one = config.from_dict({**tiny_config_dict(), "training": {"max_iteration_steps": 1, "train_epochs": None}})
    train.train_candidate(spec, one.training, digits_dir, tmp_path)
    after = keras.saving.load_model(artifacts.candidate_model(tmp_path)).get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(before, after) if a.shape == b.shape)


def test_training_is_deterministic(trained, digits_dir, tmp_path):
    cfg, cands = trained
    spec, folder, metrics = cands[1]
    again = train.train_candidate(spec, cfg.training, digits_dir, tmp_path)
    assert again["validation_loss"] == metrics["validation_loss"]
    np.testing.assert_array_equal(artifacts.read_candidate(tmp_path)[1]["test"].full(),
                                  artifacts.read_candidate(folder)[1]["test"].full())


def test_exported_ensemble_predicts_the_mean_of_members(trained, digits_dir, tmp_path):
    _, cands = trained
    x, _ = artifacts.dataset_split(digits_dir, "test")
    evaluate.export_ensemble([artifacts.candidate_model(f) for _, f, _ in cands], (8, 8, 1),
                             tmp_path / "e.keras")
    model = keras.saving.load_model(tmp_path / "e.keras")
    want = np.mean([artifacts.read_candidate(f)[1]["test"].full() for _, f, _ in cands], axis=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, atol=1e-4)
    # Raw images of any numeric dtype work: the model scales them itself.
    np.testing.assert_allclose(model.predict(x.astype(np.float32), verbose=0), want, atol=1e-4)
