"""The weighted ensembler: the AdaNet objective by hand, each mixture-weight type, the fit."""

import math

import keras
import numpy as np
import pytest

from adanas import artifacts, config, ensemble, ensemblers, evaluate, metrics
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
    got = ensemblers.objective_value([(H, Y)], w, np.zeros(2), lam, beta, [2.0, 3.0])
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
    start = ensemblers.objective_value([(logits, y)], ensemblers.uniform(3, 3, weight_type), np.zeros(3), 0.0, 0.01, r)
    mix = ensemblers.fit([(logits, y)], weight_type, 0.0, 0.01, r, use_bias=True, max_steps=2000, tol=1e-12)
    assert mix.objective < start
    assert mix.objective == pytest.approx(ensemblers.objective_value([(logits, y)], mix.weights, mix.bias, 0.0, 0.01, r))
    # Optimality: small moves of any single weight do not lower the objective.
    for idx in list(np.ndindex(mix.weights.shape))[:6]:
        for eps in (1e-3, -1e-3):
            w = mix.weights.copy()
            w[idx] += eps
            assert ensemblers.objective_value([(logits, y)], w, mix.bias, 0.0, 0.01, r) >= mix.objective - 1e-6


def test_l1_penalty_zeroes_a_useless_member():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    good = 3.0 * (np.eye(2)[y] - 0.5)
    noise = rng.normal(size=(300, 2))
    mix = ensemblers.fit([(np.stack([good, noise]), y)], "scalar", 0.0, 0.05, [1.0, 1.0])
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


def _shards(logits, y, ends=(37, 80, 81, 150)):
    """[(logits [M, n_k, C], labels [n_k])] cut at `ends` (uneven, one shard of one example)."""
    return list(zip(np.split(logits, ends, axis=1), np.split(y, ends)))


def _pool(seed=0, m=3, n=200, c=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    strength = np.array([0.5, 1.5, 0.2, 1.0, 0.8])[:m, None, None]
    return (rng.normal(size=(m, n, c)) + 2 * strength * np.eye(c)[y][None]).astype(np.float32), y


@pytest.mark.parametrize("weight_type", ensemblers.WEIGHT_TYPES)
def test_fit_over_several_shards_equals_the_whole_array_fit(weight_type):
    logits, y = _pool()
    args = (weight_type, 0.01, 0.001, [1.0, 2.0, 1.5])
    whole = ensemblers.fit([(logits, y)], *args, use_bias=True)
    sharded = ensemblers.fit(_shards(logits, y), *args, use_bias=True)
    np.testing.assert_allclose(sharded.weights, whole.weights, atol=1e-6)
    np.testing.assert_allclose(sharded.bias, whole.bias, atol=1e-6)
    assert sharded.objective == pytest.approx(whole.objective, abs=1e-9)
    assert sharded.loss == pytest.approx(whole.loss, abs=1e-9)
    w = ensemblers.uniform(3, 4, weight_type)
    assert ensemblers.objective_value(_shards(logits, y), w, np.zeros(4), 0.01, 0.001, [1, 2, 1]) == \
        pytest.approx(ensemblers.objective_value([(logits, y)], w, np.zeros(4), 0.01, 0.001, [1, 2, 1]))


def test_caruana_over_several_shards_equals_one():
    logits, y = _pool(1, m=5)
    whole = ensemblers.caruana([(logits, y)], rounds=8)
    sharded = ensemblers.caruana(_shards(logits, y), rounds=8)
    np.testing.assert_array_equal(sharded[0], whole[0])
    assert sharded[1] == pytest.approx(whole[1], abs=1e-12)
    budget = ([3, 4, 5, 6, 7], 10)
    assert list(ensemblers.caruana(_shards(logits, y), 8, budget)[0]) == \
        list(ensemblers.caruana([(logits, y)], 8, budget)[0])


@pytest.mark.parametrize("ensembler", ["mean", "weighted", "caruana"])
def test_select_and_returned_model_over_several_shards_equal_one(ensembler):
    logits, y = _pool(2, m=4)
    ends = [37, 80, 81, 150]
    search = config.from_dict(tiny_config_dict(ensembler=ensembler, force_grow=False,
                                               ensemble_strategies=["grow", "all", "solo"],
                                               mixture_weight_type="vector")).search

    def units(sharded):
        def unit(i):
            spec = {"name": f"u{i}", "family": "cnn", "arch": {"num_layers": 1 + i, "filters": 4}}
            parts = np.split(logits[i], ends) if sharded else [logits[i]]
            return ensemblers.Unit({"spec": spec, "metrics": {"params": 10}},
                                   {"validation": artifacts.Sharded(parts)})
        return [unit(i) for i in range(4)]

    def decide(sharded):
        labels = artifacts.Sharded(np.split(y, ends) if sharded else [y])
        u = units(sharded)
        d = ensemblers.make(search).select(u[:2], u[2:], u, labels)
        r = ensemblers.returned_model(search, d, u[3], labels)
        return d, r

    (d1, r1), (dn, rn) = decide(False), decide(True)
    assert dn.label == d1.label and [u.name for u in dn.members] == [u.name for u in d1.members]
    for (l1, m1), (ln, mn) in zip(d1.scored + r1.scored, dn.scored + rn.scored):
        assert ln == l1 and mn.objective == pytest.approx(m1.objective, abs=1e-6)
        np.testing.assert_allclose(mn.weights, m1.weights, atol=1e-6)
    assert rn.label == r1.label


# --- cross-fitting: fitted combinations are judged on examples that did not fit them --------------

def test_folds_alternate_examples_across_shards():
    shards = [(np.arange(5, dtype=np.float32).reshape(1, 5, 1), np.arange(5)),
              (np.arange(5, 8, dtype=np.float32).reshape(1, 3, 1), np.arange(5, 8))]
    assert [y.tolist() for _, y in ensemblers.Fold(shards, 0)] == [[0, 2, 4], [6]]
    assert [y.tolist() for _, y in ensemblers.Fold(shards, 1)] == [[1, 3], [5, 7]]


def test_out_of_fold_score_by_hand():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 12, 3))
    y = rng.integers(0, 3, 12)
    fitted = lambda part: ensemblers.fit(part, "scalar", 0.0, 0.0, [1.0, 1.0])  # noqa: E731
    even, odd = np.arange(12) % 2 == 0, np.arange(12) % 2 == 1
    w_even = ensemblers.fit([(logits[:, even], y[even])], "scalar", 0.0, 0.0, [1.0, 1.0])
    w_odd = ensemblers.fit([(logits[:, odd], y[odd])], "scalar", 0.0, 0.0, [1.0, 1.0])
    want = (6 * metrics.cross_entropy(w_even.combine(logits[:, odd]), y[odd])
            + 6 * metrics.cross_entropy(w_odd.combine(logits[:, even]), y[even])) / 12
    got = ensemblers.out_of_fold([(logits, y)], fitted)
    assert got.count == 12 and got.loss == pytest.approx(want, rel=1e-6)
    assert ensemblers.out_of_fold([(logits[:, :7], y[:7])], fitted) is None   # too few to split


def _good_and_noise():
    rng = np.random.default_rng(1)
    n, c = 40, 3
    y = rng.integers(0, c, n)
    good = 1.5 * np.eye(c)[y] + rng.normal(0, 1.0, (n, c))
    noise = rng.normal(0, 3.0, (n, c))

    def unit(name, logits):
        spec = {"name": name, "family": "cnn", "arch": {"num_layers": 1, "filters": 4}}
        return ensemblers.Unit({"spec": spec, "metrics": {"params": 10,
                                                          "validation_loss": metrics.cross_entropy(logits, y)}},
                               {"validation": artifacts.Sharded([logits.astype(np.float32)])})

    return unit("good", good), unit("noise", noise), artifacts.Sharded([y]), metrics.cross_entropy(good, y)


def test_a_matrix_mixture_that_fits_noise_is_not_returned():
    """In sample, C x C weights on a pure-noise member fit the validation labels and beat the
    good member alone; out of fold they do not, so the good member alone is returned."""
    a, b, labels, good_loss = _good_and_noise()
    search = config.from_dict(tiny_config_dict(ensembler="weighted", mixture_weight_type="matrix",
                                               use_bias=True, adanet_beta=0.0)).search
    decision = ensemblers.make(search).select([a], [b], [a, b], labels)
    in_sample = ensemblers.score(ensemblers.stack([a, b], "validation", labels), decision.mixture)
    assert in_sample.loss < good_loss                                 # the fit flatters itself
    assert decision.mixture.held_out.loss > in_sample.loss + 0.1     # out of fold it does not
    returned = ensemblers.returned_model(search, decision, a, labels)
    assert returned.label == "best single good"


def test_adanet_beta_null_picks_a_penalty_by_cross_fitting():
    a, b, labels, _ = _good_and_noise()
    scores = {}
    for beta in ensemblers.AUTO_BETAS["matrix"]:
        search = config.from_dict(tiny_config_dict(ensembler="weighted", mixture_weight_type="matrix",
                                                   adanet_beta=beta)).search
        scores[beta] = ensemblers.make(search).select([a], [b], [a, b], labels).mixture.held_out.loss
    auto = config.from_dict(tiny_config_dict(ensembler="weighted", mixture_weight_type="matrix")).search
    chosen = ensemblers.make(auto).select([a], [b], [a, b], labels).mixture
    assert chosen.beta == min(scores, key=scores.get) and chosen.beta > 0
    assert chosen.held_out.loss == pytest.approx(min(scores.values()))
    scalar = config.from_dict(tiny_config_dict(ensembler="weighted")).search
    assert ensemblers.make(scalar).select([a], [b], [a, b], labels).mixture.beta == 0.0
