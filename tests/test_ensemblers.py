"""The weighted ensembler: the AdaNet objective by hand, each mixture-weight type, the fit."""

import math

import keras
import numpy as np
import pytest

from adanas import artifacts, config, ensemble, ensemblers, evaluate
from conftest import tiny_config_dict

# Two members, two examples, two classes.
H = np.array([[[2.0, 0.0], [0.0, 1.0]],
              [[0.0, 1.0], [1.0, 0.0]]])
Y = np.array([0, 1])


def ce(f, y):
    return -math.log(math.exp(f[y]) / sum(math.exp(v) for v in f))


def test_objective_by_hand_with_lambda_and_beta():
    # F = 0.5 h1 + 0.25 h2: example 0 -> (1, 0.25), example 1 -> (0.25, 0.5)
    w = np.array([0.5, 0.25])
    loss = (ce([1.0, 0.25], 0) + ce([0.25, 0.5], 1)) / 2
    # r = sqrt(depth): depths 4 and 9 -> r = 2, 3. Penalty (lambda r_j + beta) |w_j|.
    lam, beta = 0.1, 0.01
    penalty = (lam * 2 + beta) * 0.5 + (lam * 3 + beta) * 0.25
    got = ensemblers.objective_value(H, Y, w, np.zeros(2), lam, beta, [2.0, 3.0])
    assert got == pytest.approx(loss + penalty)
    assert ensemblers.complexity("sqrt_depth", 9, 0) == 3.0
    assert ensemblers.complexity("log_params", 1, 1000) == pytest.approx(math.log(1000))


def test_each_weight_type_combines_by_hand():
    b = np.array([0.5, -0.5])
    vec = np.array([[1.0, 0.0], [0.0, 2.0]])        # member 1 keeps class 0, member 2 doubles class 1
    np.testing.assert_allclose(ensemblers.combine(H, vec, b), [[2.5, 1.5], [0.5, -0.5]])
    mat = np.array([[[0.0, 1.0], [1.0, 0.0]], np.eye(2)])  # member 1 swaps its classes
    np.testing.assert_allclose(ensemblers.combine(H, mat, np.zeros(2)), [[0.0, 3.0], [2.0, 0.0]])
    np.testing.assert_allclose(ensemblers.combine(H, np.array([0.5, 0.5]), np.zeros(2)), H.mean(0))


@pytest.mark.parametrize("weight_type", ensemblers.WEIGHT_TYPES)
def test_fit_improves_on_the_mean_and_reaches_a_stationary_point(weight_type):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    logits = rng.normal(size=(3, 200, 3)) + np.eye(3)[y][None] * np.array([0.5, 1.5, 0.2])[:, None, None]
    r = [1.0, 1.0, 1.0]
    start = ensemblers.objective_value(logits, y, ensemblers.uniform(3, 3, weight_type), np.zeros(3), 0.0, 0.01, r)
    mix = ensemblers.fit(logits, y, weight_type, 0.0, 0.01, r, use_bias=True, max_steps=2000, tol=1e-12)
    assert mix.objective < start
    assert mix.objective == pytest.approx(ensemblers.objective_value(logits, y, mix.weights, mix.bias, 0.0, 0.01, r))
    # Optimality: small moves of any single weight do not lower the objective.
    for idx in list(np.ndindex(mix.weights.shape))[:6]:
        for eps in (1e-3, -1e-3):
            w = mix.weights.copy()
            w[idx] += eps
            assert ensemblers.objective_value(logits, y, w, mix.bias, 0.0, 0.01, r) >= mix.objective - 1e-6


def test_l1_penalty_zeroes_a_useless_member():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    good = 3.0 * (np.eye(2)[y] - 0.5)
    noise = rng.normal(size=(300, 2))
    mix = ensemblers.fit(np.stack([good, noise]), y, "scalar", 0.0, 0.05, [1.0, 1.0])
    assert mix.weights[1] == 0.0 and mix.weights[0] > 0.5


def test_weighted_selection_and_export(tmp_path, digits_dir):
    """select_step with the weighted ensembler, then the exported Keras model applies the weights."""
    from adanas import generators, train
    cfg = config.from_dict(tiny_config_dict(ensembler="weighted", mixture_weight_type="vector",
                                            adanet_lambda=0.01, use_bias=True, return_best=False))
    specs = generators.propose(cfg.search, cfg.seed, 0, None)
    dirs = []
    for spec in specs:
        train.train_candidate(spec, cfg.training, digits_dir, tmp_path / spec["name"])
        dirs.append(str(tmp_path / spec["name"]))
    e0 = ensemble.select_step(cfg.search, 0, digits_dir, dirs[:1], None, tmp_path / "e0")
    e1 = ensemble.select_step(cfg.search, 1, digits_dir, dirs[1:], tmp_path / "e0", tmp_path / "e1")
    assert e1["ensemble"]["size"] == 2 and e1["ensemble"]["ensembler"] == "weighted"
    state = artifacts.ensemble_record(tmp_path / "e1")
    w, b = np.asarray(state["mixture"]["weights"]), np.asarray(state["mixture"]["bias"])
    assert w.shape == (2, 10) and b.shape == (10,)

    report = evaluate.evaluate_step(digits_dir, tmp_path / "e1", tmp_path / "model", tmp_path / "report")
    assert report["logit_drift"] < 1e-3
    model = keras.saving.load_model(artifacts.exported_model(tmp_path / "model"))
    assert model.get_layer("mixture").get_weights()[0].shape == (20, 10)
    assert [m["weight"] for m in report["members"]] == pytest.approx(list(w.mean(axis=1)))
    assert e0["ensemble"]["objective"] >= 0
