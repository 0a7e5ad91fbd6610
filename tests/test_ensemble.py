"""Selection math against a hand-computed example, and the select step's artifact."""

import json
import math

import numpy as np
import pytest

from adanas import artifacts, budget, config, ensemble, ensemblers, generators, metrics
from conftest import tiny_config_dict, write_candidate, write_dataset

Y = np.array([0, 1])
PREV = np.array([[[2.0, 0.0], [0.0, 2.0]]])          # one frozen member
CAND_A = np.array([[0.0, 0.0], [0.0, 3.0]])
CAND_B = np.array([[4.0, 0.0], [1.0, 0.0]])


def softplus(z):
    return math.log(1.0 + math.exp(z))


def test_cross_entropy_by_hand():
    # CE of logits (a, b) for label 0 is log(1 + e^(b - a)).
    assert metrics.cross_entropy(np.array([[1.0, 0.0]]), np.array([0])) == pytest.approx(softplus(-1))
    assert metrics.cross_entropy(PREV[0], Y) == pytest.approx(softplus(-2))
    assert metrics.error_rate(np.array([[1.0, 0.0], [2.0, 1.0]]), Y) == 0.5


def _unit(name, logits):
    return ensemblers.Unit({"spec": {"name": name}, "metrics": {"params": 1}}, {"validation": np.asarray(logits)})


def _decide(previous, candidates, force_grow, objective_name="validation_loss", strategies=("grow",)):
    search = config.from_dict(tiny_config_dict(force_grow=force_grow, objective=objective_name,
                                               ensemble_strategies=list(strategies))).search
    prev = [_unit(f"p{i}", p) for i, p in enumerate(previous)]
    new = [_unit(f"c{i}", c) for i, c in enumerate(candidates)]
    d = ensemblers.make(search).select(prev, new, [], Y)
    return d.label, [u.name for u in d.members], {lbl: mx.objective for lbl, mx in d.scored}


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
    counts, loss = ensemblers.caruana([(np.stack([good, weak, wrong]), y)], rounds=4)
    # Round 1: good alone, (softplus(-2) + softplus(-1)) / 2 = 0.2201, beats weak 0.2613, wrong 1.549.
    # Round 2: good + weak = [[1.25, 0], [0, 2]]: 0.1894.
    # Round 3: good again: (2 good + weak) / 3 = [[1.5, 0], [0, 5/3]]: 0.1872, the best so far.
    # Round 4: the best addition (weak) gives 0.1894, worse: the round-3 ensemble is kept.
    assert list(counts) == [2, 1, 0]
    assert loss == pytest.approx((softplus(-1.5) + softplus(-5 / 3)) / 2)


def _dataset(tmp_path, y_val, y_test):
    return write_dataset(tmp_path / "dataset", y_val, y_test)


def test_select_step_grows_and_records_history(tmp_path):
    search = config.from_dict(tiny_config_dict()).search
    ds = _dataset(tmp_path, Y, np.array([1, 1]))
    c0 = write_candidate(tmp_path / "c0", "i0_c0", PREV[0], [[0, 1], [0, 1]], params=5)
    c1 = write_candidate(tmp_path / "c1", "i0_c1", -PREV[0], [[1, 0], [1, 0]], params=7)
    e0 = ensemble.select_step(search, 0, ds, [c0, c1], None, tmp_path / "e0")
    assert e0["chosen"] == "i0_c0" and e0["ensemble"]["size"] == 1
    assert e0["ensemble"]["test_error"] == 0.0 and e0["ensemble"]["params"] == 5

    a = write_candidate(tmp_path / "a", "i1_c0", CAND_A, [[0, 5], [0, 5]], params=3)
    b = write_candidate(tmp_path / "b", "i1_c1", CAND_B, [[5, 0], [5, 0]], params=4)
    e1 = ensemble.select_step(search, 1, ds, [a, b], tmp_path / "e0", tmp_path / "e1")
    assert e1["chosen"] == "i1_c0" and e1["ensemble"]["size"] == 2 and e1["ensemble"]["params"] == 8
    assert e1["ensemble"]["validation_loss"] == pytest.approx((softplus(-1) + softplus(-2.5)) / 2)
    state = artifacts.ensemble_record(tmp_path / "e1")
    assert [m["spec"]["name"] for m in state["members"]] == ["i0_c0", "i1_c0"]
    assert [h["iteration"] for h in state["history"]] == [0, 1]
    logits = artifacts.ensemble_logits(tmp_path / "e1")["validation"].full()
    np.testing.assert_allclose(logits, np.stack([PREV[0], CAND_A]))
    # The ensemble carries its members' models: the candidates' folders are not needed later.
    for name in ("i0_c0", "i1_c0"):
        assert artifacts.ensemble_model(tmp_path / "e1", name).read_bytes() == f"model {name}".encode()
    assert sorted(p.name for p in (tmp_path / "e1" / "models").iterdir()) == ["i0_c0.keras", "i1_c0.keras"]
    assert artifacts.ensemble_record(None) == {"members": [], "history": []}


def test_caruana_over_two_iterations_marks_only_new_members_and_carries_the_pool(tmp_path):
    # Iteration 0 picks g0 (g1 is useless); iteration 1 adds n0, which is better still, and keeps g0.
    search = config.from_dict(tiny_config_dict(ensembler="caruana", caruana_rounds=6)).search
    y = np.array([0, 1, 0, 1])
    ds = write_dataset(tmp_path / "dataset", y, y, y_train=y)
    good = 2.0 * (np.eye(2)[y] - 0.5)
    bad = -good
    g0 = write_candidate(tmp_path / "g0", "i0_c0", good, good, params=5, train_logits=good)
    g1 = write_candidate(tmp_path / "g1", "i0_c1", bad, bad, params=6, train_logits=bad)
    e0 = ensemble.select_step(search, 0, ds, [g0, g1], None, tmp_path / "e0")
    assert e0["chosen"] == "i0_c0"
    n0 = write_candidate(tmp_path / "n0", "i1_c0", 1.5 * good, good, params=7, train_logits=3 * good)
    e1 = ensemble.select_step(search, 1, ds, [n0], tmp_path / "e0", tmp_path / "e1")
    record = artifacts.ensemble_record(tmp_path / "e1")
    members = [m["spec"]["name"] for m in record["members"]]
    assert "i1_c0" in members
    # Only the member this iteration added is reported as chosen (i0_c0 was chosen before).
    assert e1["chosen"] == "i1_c0"
    # The born-again teacher is the newly added member's training logits.
    np.testing.assert_allclose(artifacts.ensemble_teacher(tmp_path / "e1", "born_again").full(), 3 * good)
    # The pool's models travel with the ensemble: a later iteration may pick any of them.
    assert sorted(p.stem for p in (tmp_path / "e1" / "models").iterdir()) == ["i0_c0", "i0_c1", "i1_c0"]
    assert [u["spec"]["name"] for u in record["pool"]] == ["i0_c0", "i0_c1", "i1_c0"]


@pytest.mark.parametrize("strategies", [["all"], ["solo"], ["grow", "all", "solo"]])
def test_the_parameter_budget_holds_for_every_strategy(tmp_path, strategies):
    # Previous member 5 params; new A 3, B 4; budget 9: grow A (8) fits, grow B (9) fits,
    # all (12) does not, solo A/B fit.
    search = config.from_dict(tiny_config_dict(ensemble_strategies=strategies,
                                               max_ensemble_params=9)).search
    prev = [ensemblers.Unit({"spec": {"name": "p0"}, "metrics": {"params": 5}}, {"validation": PREV[0]})]
    new = [ensemblers.Unit({"spec": {"name": n}, "metrics": {"params": p}}, {"validation": c})
           for n, p, c in (("a", 3, CAND_A), ("b", 4, CAND_B))]
    if strategies == ["all"]:
        with pytest.raises(ValueError, match="no candidate ensemble fits search.max_ensemble_params 9"):
            ensemblers.make(search).select(prev, new, [], Y)
        return
    d = ensemblers.make(search).select(prev, new, [], Y)
    assert ensemblers.params_of(d.members) <= 9
    assert all(lbl != "all" for lbl, _ in d.scored)
    # What the generator proposes follows the same rule: under `all` alone nothing new fits
    # beside the previous member when the two together exceed the budget.
    assert ensemblers.fits_some_strategy(search, used=5, params=4)
    assert ensemblers.fits_some_strategy(search, used=5, params=5) == ("solo" in strategies)


def test_caruana_keeps_to_the_parameter_budget():
    y = np.array([0, 1])
    good = np.array([[2.0, 0.0], [0.0, 1.0]])
    weak = np.array([[0.5, 0.0], [0.0, 3.0]])
    # Unbudgeted, good + weak is the best mix (test_caruana_by_hand); with room for one model
    # only, caruana keeps to `good`.
    counts, _ = ensemblers.caruana([(np.stack([good, weak]), y)], rounds=4, budget=([5, 5], 9))
    assert list(counts > 0) == [True, False]
    with pytest.raises(ValueError, match="no pool model fits"):
        ensemblers.caruana([(np.stack([good, weak]), y)], rounds=4, budget=([10, 10], 9))


def test_artifacts_refuse_another_kind_or_version(tmp_path):
    c = write_candidate(tmp_path / "c", "i0_c0", PREV[0], PREV[0])
    with pytest.raises(artifacts.ArtifactError, match="not an AdaNAS ensemble artifact"):
        artifacts.ensemble_record(c)
    record = json.loads((c / artifacts.CANDIDATE_RECORD).read_text())
    record["format"]["version"] = artifacts.FORMAT_VERSION + 1
    (c / artifacts.CANDIDATE_RECORD).write_text(json.dumps(record))
    with pytest.raises(artifacts.ArtifactError, match=f"format version {artifacts.FORMAT_VERSION + 1}, "
                       f"this AdaNAS reads version {artifacts.FORMAT_VERSION}"):
        artifacts.read_candidate(c)
    (c / artifacts.CANDIDATE_RECORD).write_text(json.dumps({"spec": {}}))
    with pytest.raises(artifacts.ArtifactError, match="expected an adanas.candidate artifact, found no format stamp"):
        artifacts.read_candidate(c)


def test_the_search_returns_no_worse_than_its_best_single_subnetwork(tmp_path):
    # Iteration 0 can only offer a weak tower; iteration 1 a strong one. force_grow makes the
    # ensemble [weak, strong], whose uniform mean is worse than the strong tower alone: the
    # search returns the strong tower, and says why.
    search = config.from_dict(tiny_config_dict()).search
    y = np.array([0, 1, 0, 1])
    ds = write_dataset(tmp_path / "dataset", y, y)
    onehot = np.eye(2)[y] - 0.5
    weak, strong = -0.5 * onehot, 4.0 * onehot
    w = write_candidate(tmp_path / "w", "i0_c0", weak, weak, validation_loss=metrics.cross_entropy(weak, y))
    e0 = ensemble.select_step(search, 0, ds, [w], None, tmp_path / "e0")
    assert e0["returned"]["members"] == ["i0_c0"]
    s = write_candidate(tmp_path / "s", "i1_c0", strong, strong, validation_loss=metrics.cross_entropy(strong, y))
    e1 = ensemble.select_step(search, 1, ds, [s], tmp_path / "e0", tmp_path / "e1")
    assert e1["ensemble"]["size"] == 2                       # the AdaNet ensemble grew ...
    assert e1["returned"]["members"] == ["i1_c0"]            # ... but what is returned is better
    options = {o["label"]: o["validation_objective"] for o in e1["returned"]["options"]}
    assert options["ensemble"] > options["best single i1_c0"]
    record = artifacts.ensemble_record(tmp_path / "e1")
    assert [m["spec"]["name"] for m in record["returned"]["members"]] == ["i1_c0"]
    assert record["best_single"]["spec"]["name"] == "i1_c0"
    np.testing.assert_allclose(artifacts.ensemble_logits(tmp_path / "e1", "returned")["test"].full()[0], strong)
    assert artifacts.ensemble_model(tmp_path / "e1", "i1_c0").exists()


def test_a_complementary_ensemble_is_returned_whole(tmp_path):
    # Each tower is right on half of the examples and unsure on the rest: their mean beats both.
    search = config.from_dict(tiny_config_dict()).search
    y = np.array([0, 1, 0, 1])
    ds = write_dataset(tmp_path / "dataset", y, y)
    onehot = 3.0 * (np.eye(2)[y] - 0.5)
    a = onehot * np.array([[1.0], [1.0], [0.1], [0.1]])
    b = onehot * np.array([[0.1], [0.1], [1.0], [1.0]])
    ensemble.select_step(search, 0, ds, [write_candidate(tmp_path / "a", "i0_c0", a, a)], None, tmp_path / "e0")
    e1 = ensemble.select_step(search, 1, ds, [write_candidate(tmp_path / "b", "i1_c0", b, b)],
                              tmp_path / "e0", tmp_path / "e1")
    assert e1["returned"]["label"] == "ensemble" and e1["returned"]["members"] == ["i0_c0", "i1_c0"]


# --- several shards per split: the same selection as with one -----------------------------------

def _sharded_dataset(folder, ys, shard_size):
    x = {s: np.zeros((len(y), 2, 2, 1), np.uint8) for s, y in ys.items()}
    artifacts.write_dataset(folder, x, ys, {"num_classes": 3, "image_shape": [2, 2, 1]},
                            shard_size=shard_size, encoding="raw")
    return folder


def _split_like(dataset, split, logits):
    """`logits` [N, C] cut as the dataset's `split` is sharded."""
    ends = np.cumsum([s.count for s in artifacts.dataset_shards(dataset, split)])[:-1]
    return np.split(logits, ends)


def _search_twice(tmp_path, shard_size, ensembler, **search):
    """Two select steps over made-up candidates on a dataset cut into shards of `shard_size`:
    (history entries, ensemble records, member logits, teachers) of the second."""
    rng = np.random.default_rng(3)
    ys = {"train": rng.integers(0, 3, 11), "validation": rng.integers(0, 3, 10),
          "test": rng.integers(0, 3, 7)}
    root = tmp_path / f"shards{shard_size}"
    ds = _sharded_dataset(root / "dataset", ys, shard_size)
    cfg = config.from_dict(tiny_config_dict(ensembler=ensembler, force_grow=True, **search))

    def candidate(name, strength, params):
        logits = {s: (rng.normal(size=(len(y), 3)) + strength * np.eye(3)[y]).astype(np.float32)
                  for s, y in ys.items()}
        folder = root / name
        artifacts.write_candidate(folder, {"name": name, "family": "cnn", "arch_str": "cnn(1@4)",
                                           "move": "base", "arch": {"num_layers": 1, "filters": 4}},
                                  {"params": params, "validation_loss": 1.0 / strength,
                                   "validation_error": 0.0, "test_error": 0.0},
                                  {s: _split_like(ds, s, a) for s, a in logits.items()})
        artifacts.candidate_model(folder).write_bytes(name.encode())
        return folder

    first = [candidate("i0_c0", 1.0, 5), candidate("i0_c1", 2.0, 6)]
    entries = [ensemble.select_step(cfg.search, 0, ds, first, None, root / "e0")]
    second = [candidate("i1_c0", 1.5, 7), candidate("i1_c1", 0.5, 8)]
    entries.append(ensemble.select_step(cfg.search, 1, ds, second, root / "e0", root / "e1"))
    e1 = root / "e1"
    groups = ["member", "returned", "best_single"] + (["pool"] if ensembler == "caruana" else [])
    logits = {(g, s): a.full() for g in groups for s, a in artifacts.ensemble_logits(e1, g).items()}
    teachers = {m: artifacts.ensemble_teacher(e1, m).full() for m in ("adaptive", "born_again")}
    shards = len(artifacts.ensemble_logits(e1)["validation"])
    return entries, artifacts.ensemble_record(e1), logits, teachers, shards


def _assert_same(a, b, path=""):
    """Equal structures; floats to 1e-6."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        # L-BFGS-B stops within its tolerance: a few parts in 10^7 between shardings.
        assert b == pytest.approx(a, rel=1e-6, abs=1e-6), path
    else:
        assert a == b, path


@pytest.mark.parametrize("ensembler, search", [
    ("mean", {}), ("mean", {"ensemble_strategies": ["grow", "all", "solo"]}),
    ("weighted", {"mixture_weight_type": "scalar", "adanet_lambda": 0.01}),
    ("weighted", {"mixture_weight_type": "vector", "use_bias": True}),
    ("weighted", {"mixture_weight_type": "matrix", "adanet_beta": 0.001}),
    ("caruana", {"caruana_rounds": 5})])
def test_select_step_over_several_shards_decides_as_over_one(tmp_path, ensembler, search):
    one = _search_twice(tmp_path, 1000, ensembler, **search)
    many = _search_twice(tmp_path, 3, ensembler, **search)
    assert (one[4], many[4]) == (1, 4)        # validation: 10 examples in shards of 3
    _assert_same(one[0], many[0])              # decisions and every history number
    for key in ("members", "mixture", "returned", "best_single", "teacher_member"):
        _assert_same(one[1][key], many[1][key], key)
    assert one[2].keys() == many[2].keys()
    for key in one[2]:
        np.testing.assert_allclose(many[2][key], one[2][key], err_msg=str(key))
    for mode in one[3]:
        np.testing.assert_allclose(many[3][mode], one[3][mode], atol=1e-6, err_msg=mode)


def test_logits_that_do_not_line_up_with_the_labels_are_refused():
    y = artifacts.Sharded([np.array([0, 1]), np.array([1])])
    good = _unit("good", np.zeros((3, 2)))
    good.logits["validation"] = artifacts.Sharded([np.zeros((2, 2)), np.zeros((1, 2))])
    with pytest.raises(ValueError, match="bad: validation logits in 1 shard"):
        list(ensemblers.stack([good, _unit("bad", np.zeros((3, 2)))], "validation", y))
    short = ensemblers.Unit({"spec": {"name": "short"}}, {"validation": artifacts.Sharded(
        [np.zeros((2, 2)), np.zeros((2, 2))])})
    with pytest.raises(ValueError, match=r"short: validation logits of shard 1 are \(2, 2\), "
                                         r"the shard holds 1 labels"):
        list(ensemblers.stack([good, short], "validation", y))
    assert ensemblers.stack([good, _unit("x", np.zeros((3, 2)))], "test", y) is None


def _scored(name: str, params: int, logits: np.ndarray, y: np.ndarray) -> ensemblers.Unit:
    return ensemblers.Unit({"spec": {"name": name}, "metrics": {
        "params": params, "validation_loss": metrics.cross_entropy(logits, y)}}, {"validation": logits})


def test_best_subnetwork_prefers_capacity_only_where_validation_cannot_tell():
    y = np.array([0, 1, 0, 1])
    # Paired per-example losses by hand: ln 2 for uniform logits; for +-a logits on the true
    # class, ln(1 + e^-2a). small is slightly better than big on two examples and equal on two.
    uniform = np.zeros((4, 2))
    sure = np.eye(2)[y] * 2.0 - 1.0                   # margin 2 on every example: ln(1 + e^-2)
    small_logits = np.where(np.arange(4)[:, None] < 2, sure * 0.05, uniform)
    small = _scored("small", 100, small_logits, y)
    big = _scored("big", 1000, uniform, y)
    d = np.log(2) - np.log1p(np.exp(-0.1))            # big's loss - small's on the first two
    diffs = np.array([d, d, 0.0, 0.0])
    assert diffs.mean() < ensemble.TIE_Z * diffs.std(ddof=1) / 2      # within the noise ...
    assert small.info["metrics"]["validation_loss"] < big.info["metrics"]["validation_loss"]
    assert ensemble.best_subnetwork([small, big], y).name == "big"   # ... so capacity decides
    # A clear difference on every example is not noise: the lower loss wins however small.
    clear = _scored("clear", 100, sure, y)
    assert ensemble.best_subnetwork([clear, big], y).name == "clear"
    assert ensemble.best_subnetwork([big], y).name == "big"
    # Equal capacity among the tied: the lower loss.
    twin = _scored("twin", 100, uniform, y)
    assert ensemble.best_subnetwork([twin, small], y).name == "small"


def test_the_best_subnetwork_to_finish_is_carried_by_that_rule(tmp_path):
    # Iteration 0's only candidate edges ahead of iteration 1's larger one by noise: the larger
    # one becomes the best subnetwork (what a budgeted search finishes) and the guarantee's bar.
    search = config.from_dict(tiny_config_dict()).search
    y = np.array([0, 1, 0, 1])
    ds = write_dataset(tmp_path / "dataset", y, y)
    noisy = np.where(np.arange(4)[:, None] == 0, 0.2 * (np.eye(2)[y] - 0.5), 0.0)
    flat = np.zeros((4, 2))
    a = write_candidate(tmp_path / "a", "i0_c0", noisy, noisy, validation_loss=metrics.cross_entropy(noisy, y))
    ensemble.select_step(search, 0, ds, [a], None, tmp_path / "e0")
    b = write_candidate(tmp_path / "b", "i1_c0", flat, flat, params=100,
                        validation_loss=metrics.cross_entropy(flat, y))
    ensemble.select_step(search, 1, ds, [b], tmp_path / "e0", tmp_path / "e1")
    assert artifacts.ensemble_record(tmp_path / "e1")["best_single"]["spec"]["name"] == "i1_c0"


def _tower(name: str, layers: int, logits: np.ndarray, y: np.ndarray) -> ensemblers.Unit:
    spec = {"name": name, "family": "cnn", "arch": {"num_layers": layers, "filters": 16}}
    return ensemblers.Unit({"spec": spec, "metrics": {
        "params": 100 * layers, "validation_loss": metrics.cross_entropy(logits, y),
        "validation_error": float(np.mean(logits.argmax(-1) != y))}}, {"validation": logits})


def test_while_no_tower_has_learned_the_deepest_is_finished():
    # 10 classes, 40 validation examples. A tower is sure and right (margin 3) on its first k
    # examples and uniform on the rest (loss ln 10 there; argmax class 0, right on the 0s).
    y = np.tile(np.arange(10), 4)
    onehot = np.eye(10)[y]

    def sure_on(k, sign=1.0):
        return np.where(np.arange(40)[:, None] < k, sign * 3.0 * onehot, 0.0)

    shallow, deep = _tower("shallow", 3, sure_on(12), y), _tower("deep", 4, sure_on(4), y)
    behind = _tower("behind", 5, sure_on(4, -1.0), y)        # sure and wrong: above a guess's loss
    chance = 1 - 1 / 10
    # None has learned: the lowest error (shallow: 26 of 40 wrong, 65%; the uniform rows are right
    # on their 0s) is above half of chance's 90%.
    assert shallow.info["metrics"]["validation_error"] == pytest.approx(0.65)
    assert 0.65 > ensemble.UNLEARNED * chance
    assert behind.info["metrics"]["validation_loss"] > np.log(10)
    # Validation ranks shallow first by more than the noise ...
    assert ensemble.best_subnetwork([shallow, deep], y).name == "shallow"
    # ... but the deepest tower is finished, even one above a uniform guess's loss.
    assert ensemble.tower_to_finish([shallow, deep], y, 10).name == "deep"
    assert ensemble.tower_to_finish([shallow, deep, behind], y, 10).name == "behind"
    # Equal depth: the most parameters.
    wide = _tower("wide", 4, sure_on(2), y)
    wide.info["metrics"]["params"] = 10_000
    assert ensemble.tower_to_finish([shallow, deep, wide], y, 10).name == "wide"
    # Once a tower has learned (error 20% <= 45%), validation decides again.
    learned = _tower("learned", 3, sure_on(32), y)
    assert learned.info["metrics"]["validation_error"] == pytest.approx(0.2)
    assert ensemble.tower_to_finish([learned, deep, behind], y, 10).name == "learned"
    # A tower whose loss is not finite is never finished.
    broken = _tower("broken", 9, sure_on(4), y)
    broken.info["metrics"]["validation_loss"] = float("nan")
    assert ensemble.tower_to_finish([shallow, broken], y, 10).name == "shallow"
    # ... in either order: a NaN first once made every comparison fail and select crash.
    assert ensemble.tower_to_finish([broken, shallow], y, 10).name == "shallow"
    assert ensemble.best_subnetwork([broken, shallow], y).name == "shallow"
    assert ensemble.best_subnetwork([broken], y).name == "broken"


def test_the_tower_to_finish_is_carried_with_its_model_and_planned_from(tmp_path):
    # Iteration 0's tower leads by far but has not learned (65% error, chance 90%); iteration 1's
    # is deeper: it is the one to finish, while the bar stays the lowest loss.
    search = config.from_dict(tiny_config_dict()).search
    y = np.tile(np.arange(10), 4)
    ds = write_dataset(tmp_path / "dataset", y, y)
    onehot = np.eye(10)[y]
    lead = np.where(np.arange(40)[:, None] < 12, 3.0 * onehot, 0.0)
    start = np.where(np.arange(40)[:, None] < 4, 3.0 * onehot, 0.0)

    def scored(logits):
        return {"validation_loss": metrics.cross_entropy(logits, y),
                "validation_error": float(np.mean(logits.argmax(-1) != y))}

    a = write_candidate(tmp_path / "a", "i0_c0", lead, lead, **scored(lead))
    assert ensemble.select_step(search, 0, ds, [a], None, tmp_path / "e0")
    assert artifacts.ensemble_record(tmp_path / "e0")["to_finish"]["spec"]["name"] == "i0_c0"
    b = write_candidate(tmp_path / "b", "i1_c0", start, start, params=100, layers=2, **scored(start))
    ensemble.select_step(search, 1, ds, [b], tmp_path / "e0", tmp_path / "e1")
    record = artifacts.ensemble_record(tmp_path / "e1")
    assert record["best_single"]["spec"]["name"] == "i0_c0"
    assert record["to_finish"]["spec"]["name"] == "i1_c0"
    assert artifacts.ensemble_model(tmp_path / "e1", "i1_c0").exists()
    assert artifacts.ensemble_logits(tmp_path / "e1", "to_finish")["validation"].full().shape == (1, 40, 10)
    spec = generators.finishing_spec(record["to_finish"], seed=0, iteration=2)
    assert spec["warm_from"] == "i1_c0" and spec["arch"] == {"num_layers": 2, "filters": 4}


@pytest.mark.parametrize("learned", [False, True])
def test_while_no_tower_has_learned_a_budgeted_search_finishes_the_tower_grown_from_the_deepest(tmp_path, learned):
    # Iteration 0: a 2-layer tower leads a 3-layer one; the AdaNet objective adds the 2-layer one.
    # If none has learned, a budgeted search finishes at once, on the tower grown from the 3-layer
    # one (the one it would finish), from scratch; once one has, and without a budget, iteration 1
    # explores towers grown from the member chosen, as G_D.
    y = np.tile(np.arange(10), 4)
    ds = write_dataset(tmp_path / "dataset", y, y)
    onehot = np.eye(10)[y]
    k_lead = 32 if learned else 12                      # 20% or 65% validation error
    lead = np.where(np.arange(40)[:, None] < k_lead, 3.0 * onehot, 0.0)
    start = np.where(np.arange(40)[:, None] < 4, 3.0 * onehot, 0.0)

    def scored(logits):
        return {"validation_loss": metrics.cross_entropy(logits, y),
                "validation_error": float(np.mean(logits.argmax(-1) != y))}

    shallow = write_candidate(tmp_path / "a", "i0_c0", lead, lead, layers=2, **scored(lead))
    deep = write_candidate(tmp_path / "b", "i0_c1", start, start, params=100, layers=3, **scored(start))
    for given in (None, "600s"):
        search = config.from_dict(tiny_config_dict(boosting_iterations=3, budget=given)).search
        entry = ensemble.select_step(search, 0, ds, [shallow, deep], None, tmp_path / "e0")
        record = artifacts.ensemble_record(tmp_path / "e0")
        assert record["members"][-1]["spec"]["name"] == "i0_c0"
        assert record["history"][-1]["to_finish"]["learned"] is learned
        assert entry["to_finish"] == {"name": "i0_c0" if learned else "i0_c1", "arch": "cnn(1@4)",
                                      "learned": learned}
        specs, reason = generators.plan(search, 0, 1, tmp_path / "e0", ds)
        assert reason == ""
        if given and not learned:
            (spec,) = specs
            assert spec["move"] == budget.FINISH_GROWN and "warm_from" not in spec
            assert spec["arch"]["num_layers"] == 4 and spec["name"] == "i1_c0"
            assert spec["budget_seconds"] == pytest.approx(600 - budget.used_seconds(record["history"]), abs=0.01)
        else:
            assert [s["move"] for s in specs] == ["deeper", "wider"]
            assert specs[0]["arch"]["num_layers"] == 3               # grown from the 2-layer member


def test_a_grown_finishing_tower_that_does_not_fit_the_parameter_budget_gives_way_to_the_tower(
        tmp_path, monkeypatch):
    # Nothing has learned after iteration 0 (both towers at 90% error), so the search finishes;
    # the 4-layer tower grown from the 3-layer one would exceed max_ensemble_params, so the
    # 3-layer tower is trained on from its weights instead of the search stopping unfinished.
    y = np.tile(np.arange(10), 4)
    ds = write_dataset(tmp_path / "dataset", y, y)
    flat = np.zeros((40, 10))
    shallow = write_candidate(tmp_path / "a", "i0_c0", flat, flat, layers=2, validation_loss=2.3,
                              validation_error=0.9)
    deep = write_candidate(tmp_path / "b", "i0_c1", flat, flat, params=300, layers=3,
                           validation_loss=2.3, validation_error=0.9)
    monkeypatch.setattr(generators, "candidate_params",
                        lambda specs, _: [100 * s["arch"]["num_layers"] for s in specs])
    for limit, move, layers in ((10_000, budget.FINISH_GROWN, 4), (350, budget.FINISH, 3)):
        search = config.from_dict(tiny_config_dict(boosting_iterations=3, budget="600s",
                                                   max_ensemble_params=limit)).search
        ensemble.select_step(search, 0, ds, [shallow, deep], None, tmp_path / f"e{limit}")
        (spec,), reason = generators.plan(search, 0, 1, tmp_path / f"e{limit}", ds)
        assert reason == "" and spec["move"] == move and spec["arch"]["num_layers"] == layers
        assert spec.get("warm_from") == (None if move == budget.FINISH_GROWN else "i0_c1")


def test_when_the_parameter_budget_ends_the_growing_the_rest_of_the_time_finishes_the_tower(
        tmp_path, monkeypatch):
    # A tower has learned after iteration 0, so a budgeted search would explore grown towers at
    # iteration 1, but none fits max_ensemble_params. With time left, the search finishes the
    # tower (trained on from its weights, with the rest of the budget) if that fits; before, it
    # stopped there with the time unspent. Without a time budget, or without room, it stops.
    y = np.tile(np.arange(10), 4)
    ds = write_dataset(tmp_path / "dataset", y, y)
    onehot = np.eye(10)[y]
    lead = np.where(np.arange(40)[:, None] < 32, 3.0 * onehot, 0.0)      # 20% error: learned
    tower = write_candidate(tmp_path / "a", "i0_c0", lead, lead, params=200, layers=2,
                            validation_loss=metrics.cross_entropy(lead, y), validation_error=0.2)
    monkeypatch.setattr(generators, "candidate_params",
                        lambda specs, _: [200 if s["move"] in budget.FINISHING else 1000 for s in specs])
    for given, limit, finishes in (("600s", 500, True), ("600s", 350, False), (None, 500, False)):
        search = config.from_dict(tiny_config_dict(boosting_iterations=3, budget=given,
                                                   max_ensemble_params=limit)).search
        out = tmp_path / f"e-{given}-{limit}"
        ensemble.select_step(search, 0, ds, [tower], None, out)
        specs, reason = generators.plan(search, 0, 1, out, ds)
        if finishes:
            (spec,) = specs
            assert reason == "" and spec["move"] == budget.FINISH_CAPPED and spec["warm_from"] == "i0_c0"
            history = artifacts.ensemble_record(out)["history"]
            assert spec["budget_seconds"] == pytest.approx(600 - budget.used_seconds(history), abs=0.01)
            # Once it has trained, the search has finished, and says why it finished early.
            done = [*history, {"candidates": [{"move": spec["move"], "task_seconds": spec["budget_seconds"]}]}]
            assert budget.capped(done) and "admitted no grown tower" in budget.finished(search, done)
        else:
            assert specs == [] and reason.startswith(budget.PARAMS_STOP)
