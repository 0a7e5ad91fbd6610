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


def _unit(name, logits):
    return ensemble.Unit({"spec": {"name": name}, "metrics": {"params": 1}}, {"validation": np.asarray(logits)})


def _decide(previous, candidates, force_grow, objective_name="validation_loss", strategies=("grow",)):
    search = config.from_dict(tiny_config_dict(force_grow=force_grow, objective=objective_name,
                                               ensemble_strategies=list(strategies))).search
    prev = [_unit(f"p{i}", p) for i, p in enumerate(previous)]
    new = [_unit(f"c{i}", c) for i, c in enumerate(candidates)]
    label, members, mixture, scored = ensemble.decide(ensemble.proposals(search, prev, new),
                                                      ensemble.scorer(search, Y))
    return label, [u.name for u in members], {lbl: mx.objective for lbl, mx in scored}


def test_grow_by_hand():
    # Ensembles are uniform means of member logits:
    #   PREV + A = [[1, 0], [0, 2.5]]   -> (softplus(-1) + softplus(-2.5)) / 2 = 0.19608
    #   PREV + B = [[3, 0], [0.5, 1]]   -> (softplus(-3) + softplus(-0.5)) / 2 = 0.26133
    #   PREV alone                      ->  softplus(-2)                       = 0.12693
    want_a = (softplus(-1) + softplus(-2.5)) / 2
    want_b = (softplus(-3) + softplus(-0.5)) / 2
    label, members, scores = _decide(PREV, [CAND_A, CAND_B], True)
    assert label == "grow c0" and members == ["p0", "c0"]
    assert scores == pytest.approx({"grow c0": want_a, "grow c1": want_b})
    # Without force_grow the previous ensemble competes, and here it wins.
    label, members, scores = _decide(PREV, [CAND_A, CAND_B], False)
    assert label == "previous" and members == ["p0"]
    assert scores["previous"] == pytest.approx(softplus(-2))
    # At the first iteration there is no previous ensemble: each candidate stands alone.
    label, members, scores = _decide([], [CAND_B, CAND_A], False)
    assert members == ["c1"]
    assert scores == pytest.approx({"grow c0": (softplus(-4) + softplus(1)) / 2,
                                    "grow c1": (softplus(0) + softplus(-3)) / 2})


def test_all_and_solo_strategies_by_hand():
    #   PREV + A + B = [[2, 0], [1/3, 5/3]] -> (softplus(-2) + softplus(-4/3)) / 2
    #   A alone      = [[0, 0], [0, 3]]     -> (softplus(0) + softplus(-3)) / 2
    #   B alone      = [[4, 0], [1, 0]]     -> (softplus(-4) + softplus(1)) / 2
    label, members, scores = _decide(PREV, [CAND_A, CAND_B], True, strategies=("all", "solo"))
    assert scores == pytest.approx({"all": (softplus(-2) + softplus(-4 / 3)) / 2,
                                    "solo c0": (softplus(0) + softplus(-3)) / 2,
                                    "solo c1": (softplus(-4) + softplus(1)) / 2})
    assert label == "all" and members == ["p0", "c0", "c1"]


def test_ties_go_to_the_first_option():
    label, _, scores = _decide(PREV, [CAND_B, CAND_A], True, "validation_error")
    assert list(scores.values()) == [0.0, 0.0] and label == "grow c0"


def test_caruana_by_hand():
    # Pool: a good model, a worse one, and one that is confidently wrong on example 1.
    y = np.array([0, 1])
    good = np.array([[2.0, 0.0], [0.0, 1.0]])
    weak = np.array([[0.5, 0.0], [0.0, 3.0]])
    wrong = np.array([[3.0, 0.0], [3.0, 0.0]])
    counts, loss = ensemble.caruana(np.stack([good, weak, wrong]), y, rounds=4)
    # Round 1: good alone, (softplus(-2) + softplus(-1)) / 2 = 0.2201, beats weak 0.2613, wrong 1.549.
    # Round 2: good + weak = [[1.25, 0], [0, 2]]: 0.1894.
    # Round 3: good again: (2 good + weak) / 3 = [[1.5, 0], [0, 5/3]]: 0.1872, the best so far.
    # Round 4: the best addition (weak) gives 0.1894, worse: the round-3 ensemble is kept.
    assert list(counts) == [2, 1, 0]
    assert loss == pytest.approx((softplus(-1.5) + softplus(-5 / 3)) / 2)


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
