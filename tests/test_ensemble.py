"""Selection math against a hand-computed example, and the select step's artifact."""

import json
import math

import numpy as np
import pytest

from adanas import config, ensemble
from conftest import tiny_config_dict, write_candidate

Y = np.array([0, 1])
PREV = np.array([[[2.0, 0.0], [0.0, 2.0]]])          # one frozen member
CAND_A = np.array([[0.0, 0.0], [0.0, 3.0]])
CAND_B = np.array([[4.0, 0.0], [1.0, 0.0]])


def softplus(z):
    return math.log(1.0 + math.exp(z))


def test_cross_entropy_by_hand():
    # CE of logits (a, b) for label 0 is log(1 + e^(b - a)).
    assert ensemble.cross_entropy(np.array([[1.0, 0.0]]), np.array([0])) == pytest.approx(softplus(-1))
    assert ensemble.cross_entropy(PREV[0], Y) == pytest.approx(softplus(-2))
    assert ensemble.error_rate(np.array([[1.0, 0.0], [2.0, 1.0]]), Y) == 0.5


def _mean(objective_name="validation_loss"):
    return lambda stack, j: ensemble.mean_mixture(stack, Y, objective_name)


def _choose(previous, candidates, force_grow, objective_name="validation_loss"):
    winner, mixtures, prev = ensemble.choose(previous, candidates, force_grow, _mean(objective_name))
    return winner, [m.objective for m in mixtures], None if prev is None else prev.objective


def test_choose_by_hand():
    # Ensembles are uniform means of member logits:
    #   PREV + A = [[1, 0], [0, 2.5]]   -> (softplus(-1) + softplus(-2.5)) / 2 = 0.19608
    #   PREV + B = [[3, 0], [0.5, 1]]   -> (softplus(-3) + softplus(-0.5)) / 2 = 0.26133
    #   PREV alone                      ->  softplus(-2)                       = 0.12693
    want_a = (softplus(-1) + softplus(-2.5)) / 2
    want_b = (softplus(-3) + softplus(-0.5)) / 2
    winner, scores, prev = _choose(PREV, [CAND_A, CAND_B], True)
    assert winner == 0
    assert scores == pytest.approx([want_a, want_b])
    assert prev == pytest.approx(softplus(-2))
    # Without force_grow the previous ensemble competes, and here it wins.
    winner, _, _ = _choose(PREV, [CAND_A, CAND_B], False)
    assert winner == ensemble.KEEP_PREVIOUS
    # At the first iteration there is no previous ensemble: each candidate stands alone.
    winner, scores, prev = _choose(None, [CAND_B, CAND_A], False)
    assert prev is None and winner == 1
    assert scores == pytest.approx([(softplus(-4) + softplus(1)) / 2, (softplus(0) + softplus(-3)) / 2])


def test_choose_by_error_breaks_ties_to_the_first():
    winner, scores, _ = _choose(PREV, [CAND_B, CAND_A], True, "validation_error")
    assert scores == [0.0, 0.0] and winner == 0


def _dataset(tmp_path, y_val, y_test):
    d = tmp_path / "dataset"
    d.mkdir()
    for split, y in (("train", y_val), ("validation", y_val), ("test", y_test)):
        np.savez(d / f"{split}.npz", x=np.zeros((len(y), 2, 2, 1), np.uint8), y=np.asarray(y))
    return d


def test_select_step_grows_and_records_history(tmp_path):
    search = config.from_dict(tiny_config_dict()).search
    ds = _dataset(tmp_path, Y, np.array([1, 1]))
    c0 = write_candidate(tmp_path / "c0", "i0_c0", PREV[0], [[0, 1], [0, 1]], params=5)
    c1 = write_candidate(tmp_path / "c1", "i0_c1", -PREV[0], [[1, 0], [1, 0]], params=7)
    e0 = ensemble.select_step(search, 0, ds, [str(c0), str(c1)], ["uri0", "uri1"], None, tmp_path / "e0")
    assert e0["chosen"] == "i0_c0" and e0["ensemble"]["size"] == 1
    assert e0["ensemble"]["test_error"] == 0.0 and e0["ensemble"]["params"] == 5

    a = write_candidate(tmp_path / "a", "i1_c0", CAND_A, [[0, 5], [0, 5]], params=3)
    b = write_candidate(tmp_path / "b", "i1_c1", CAND_B, [[5, 0], [5, 0]], params=4)
    e1 = ensemble.select_step(search, 1, ds, [str(a), str(b)], ["uriA", "uriB"], tmp_path / "e0",
                              tmp_path / "e1")
    assert e1["chosen"] == "i1_c0" and e1["ensemble"]["size"] == 2 and e1["ensemble"]["params"] == 8
    assert e1["ensemble"]["validation_loss"] == pytest.approx((softplus(-1) + softplus(-2.5)) / 2)
    state = json.loads((tmp_path / "e1" / "ensemble.json").read_text())
    assert [m["uri"] for m in state["members"]] == ["uri0", "uriA"]
    assert [h["iteration"] for h in state["history"]] == [0, 1]
    logits = np.load(tmp_path / "e1" / "member_logits_validation.npy")
    np.testing.assert_allclose(logits, np.stack([PREV[0], CAND_A]))
    assert ensemble.last_chosen_spec(tmp_path / "e1")["name"] == "i1_c0"
    assert ensemble.last_chosen_spec(None) is None


def test_uri_to_path():
    assert ensemble.uri_to_path("gs://bucket/a/b") == "/gcs/bucket/a/b"
    assert ensemble.uri_to_path("minio://mlpipeline/x") == "/minio/mlpipeline/x"
    assert ensemble.uri_to_path("/tmp/local") == "/tmp/local"
