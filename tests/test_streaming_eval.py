"""The evaluate step streams (issue 13): diagnostics and the temperature fit accumulate shard by
shard and give the numbers the whole-array computations give; evaluate_step on a dataset of
several shards reports what scoring the whole test split at once reports."""

import shutil

import keras
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from adanas import artifacts, calibration, diagnostics, ensemblers, evaluate, metrics


def _split(array, cuts):
    return [array[a:b] for a, b in zip([0, *cuts], [*cuts, len(array)])]


# Uneven shards, one of a single example and one empty.
CUTS = [1, 300, 300, 301, 700]


def _data(n=1000, classes=7, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    logits = 3.0 * (rng.normal(size=(n, classes)) + 1.2 * np.eye(classes)[labels])
    return logits.astype(np.float32), labels


# --- the whole-array computations the evaluate step made before it streamed -------------------

def _whole_reliability(probs, labels, bins=diagnostics.RELIABILITY_BINS):
    confidence = probs.max(axis=-1)
    correct = (probs.argmax(axis=-1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    out, ece = [], 0.0
    for b in range(bins):
        mask = which == b
        n = int(mask.sum())
        conf = float(confidence[mask].mean()) if n else None
        acc = float(correct[mask].mean()) if n else None
        if n:
            ece += n / len(labels) * abs(acc - conf)
        out.append({"low": float(edges[b]), "high": float(edges[b + 1]), "count": n,
                    "confidence": conf, "accuracy": acc})
    return {"bins": out, "ece": float(ece)}


def _whole_calibrate(logits, labels, t):
    scaled = np.asarray(logits, np.float64) / t
    before = _whole_reliability(diagnostics.softmax(logits), labels)
    after = _whole_reliability(diagnostics.softmax(scaled), labels)
    return {"temperature": float(t), "unfitted": "", "fitted_on": "validation", "scored_on": "test",
            "ece_before": before["ece"], "ece_after": after["ece"],
            "nll_before": metrics.cross_entropy(logits, labels),
            "nll_after": metrics.cross_entropy(scaled, labels),
            "reliability_before": before["bins"], "reliability_after": after["bins"]}


def _whole_fit_temperature(logits, labels):
    z = np.asarray(logits, np.float64)
    result = minimize_scalar(lambda log_t: metrics.cross_entropy(z / np.exp(log_t), labels),
                             bounds=(np.log(calibration.MIN_TEMPERATURE),
                                     np.log(calibration.MAX_TEMPERATURE)),
                             method="bounded", options={"xatol": 1e-5})
    return float(np.exp(result.x))


def _assert_calibration_close(got, want):
    assert got.keys() == want.keys()
    for key in ("ece_before", "ece_after", "nll_before", "nll_after", "temperature"):
        assert got[key] == pytest.approx(want[key], rel=1e-12, abs=1e-15), key
    for side in ("reliability_before", "reliability_after"):
        for g, w in zip(got[side], want[side], strict=True):
            assert (g["low"], g["high"], g["count"]) == (w["low"], w["high"], w["count"])
            for key in ("confidence", "accuracy"):
                assert (g[key] is None) == (w[key] is None)
                if w[key] is not None:
                    assert g[key] == pytest.approx(w[key], rel=1e-12)


# --- accumulators ------------------------------------------------------------------------------

def test_one_shard_gives_exactly_the_whole_array_numbers():
    logits, labels = _data()
    assert diagnostics.calibrate(logits, labels, 1.7) == _whole_calibrate(logits, labels, 1.7)
    probs = diagnostics.softmax(logits)
    assert diagnostics.reliability(probs, labels, 10) == _whole_reliability(probs, labels, 10)


def test_the_assessment_of_shards_is_the_assessment_of_the_whole_split():
    logits, labels = _data()
    names = [f"c{i}" for i in range(7)]
    streamed = diagnostics.Assessment(7, 1.7)
    for z, y in zip(_split(logits, CUTS), _split(labels, CUTS)):
        streamed.add(z, y)
    got = streamed.sections(names, [], logits[:64])
    want = diagnostics.assess(logits, labels, 1.7, names, [], logits[:64])
    assert got.keys() == want.keys() == {"class_names", "confusion_matrix", "per_class",
                                         "calibration", "latency"}
    assert got["confusion_matrix"] == diagnostics.confusion_matrix(logits, labels, 7).tolist()
    assert got["confusion_matrix"] == want["confusion_matrix"]
    assert got["per_class"] == want["per_class"] and got["class_names"] == names
    _assert_calibration_close(got["calibration"], _whole_calibrate(logits, labels, 1.7))
    assert streamed.score.count == len(labels)
    assert streamed.score.error == metrics.error_rate(logits, labels)
    assert streamed.score.loss == pytest.approx(metrics.cross_entropy(logits, labels), rel=1e-12)


# --- the temperature fit -----------------------------------------------------------------------

def test_fit_temperature_on_whole_arrays_is_unchanged():
    logits, labels = _data(seed=1)
    assert calibration.fit_temperature(logits, labels) == _whole_fit_temperature(logits, labels)


def test_fit_temperature_over_shards_read_from_files(tmp_path):
    logits, labels = _data(seed=2)
    shards_of = {"z": _split(logits, CUTS), "y": _split(labels, CUTS)}
    for name, arrays in shards_of.items():
        for k, array in enumerate(arrays):
            np.save(tmp_path / f"{name}{k}.npy", array)
    z_shards, y_shards = (artifacts.Sharded([tmp_path / f"{name}{k}.npy" for k in range(len(CUTS) + 1)])
                          for name in ("z", "y"))
    passes = []

    def shards():
        passes.append(1)
        return zip(z_shards, y_shards)

    t = calibration.fit_temperature_shards(shards)
    assert t == pytest.approx(_whole_fit_temperature(logits, labels), rel=1e-6)
    assert t == pytest.approx(calibration.fit_temperature(logits, labels), rel=1e-6)
    assert 5 < len(passes) < 100


def test_fit_temperature_over_shards_rejects_bad_shards():
    z, y = _data(n=10)
    with pytest.raises(ValueError, match="expected logits"):
        calibration.fit_temperature_shards(lambda: [(z, y), (z[:3], y[:2])])
    with pytest.raises(ValueError, match="no examples"):
        calibration.fit_temperature_shards(lambda: [(z[:0], y[:0])])
    with pytest.raises(ValueError, match="expected logits"):
        calibration.fit_temperature(z[:0], y[:0])


# --- the evaluate step on several shards -------------------------------------------------------

SHAPE, CLASSES = (4, 4, 1), 3
SIZES = {"train": 10, "validation": 17, "test": 20}


def _member(path, seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(SHAPE)
    x = keras.layers.Rescaling(1 / 64.0)(inputs)
    outputs = keras.layers.Dense(CLASSES)(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    model.save(path)
    return model


def _spec(name):
    return {"spec": {"name": name, "family": "dnn", "arch_str": f"dense {name}", "seed": 0},
            "metrics": {"params": 51, "validation_loss": 1.0, "validation_error": 0.5,
                        "test_error": 0.5, "train_seconds": 1.0}}


@pytest.fixture(scope="module")
def sharded_search(tmp_path_factory):
    """A Dataset of 7-example shards and an ensemble of two (untrained) members with vector
    mixture weights and a bias, its cached logits written per shard as selection writes them."""
    root = tmp_path_factory.mktemp("streaming")
    rng = np.random.default_rng(5)
    x = {s: rng.integers(0, 256, (n, *SHAPE)).astype(np.uint8) for s, n in SIZES.items()}
    y = {s: rng.integers(0, CLASSES, n) for s, n in SIZES.items()}
    artifacts.write_dataset(root / "dataset", x, y, {
        "dataset": "random", "num_classes": CLASSES, "class_names": ["a", "b", "c"],
        "image_shape": list(SHAPE)}, shard_size=7)
    models = {n: _member(root / f"{n}.keras", seed) for seed, n in enumerate(("m0", "m1"))}
    weights = np.array([[0.7, 0.5, 0.6], [0.4, 0.5, 0.3]])
    bias = np.array([0.1, -0.2, 0.05])
    stacked = {s: np.stack([np.asarray(m.predict(x[s], verbose=0)) for m in models.values()])
               for s in SIZES}
    cuts = [7, 14]
    shards = {s: _split(stacked[s].transpose(1, 0, 2), cuts if SIZES[s] > 14 else [7])
              for s in SIZES}
    members = [_spec(n) for n in models]
    entry = {"iteration": 0, "chosen": "m0, m1", "chosen_arch": "dense m0, dense m1",
             "ensemble": {"size": 2, "params": 102, "validation_error": 0.5,
                          "validation_loss": 1.0, "test_error": 0.5},
             "best_single": {"name": "m0", "arch": "dense m0", "test_error": 0.5},
             "candidates": [{"name": n, "arch": f"dense {n}", **_spec(n)["metrics"]} for n in models],
             "failed": [],
             "returned": {"label": "ensemble", "members": list(models), "validation_objective": 1.0,
                          "options": [{"label": "ensemble", "validation_objective": 1.0}]}}
    mixture = {"weights": weights.tolist(), "bias": bias.tolist()}
    record = {"iteration": 0, "members": members, "history": [entry], "mixture": mixture,
              "returned": {"label": "ensemble", "members": members, "mixture": mixture},
              # Selection's best single (its noise-tie rule may pick another than the lowest loss).
              "best_single": members[1], "stopped": "done"}
    artifacts.write_ensemble(
        root / "ensemble", record, {n: root / f"{n}.keras" for n in models},
        {"returned": {s: (part.transpose(1, 0, 2) for part in shards[s]) for s in SIZES}})
    assert len(artifacts.ensemble_logits(root / "ensemble", "returned")["test"]) == 3
    assert len(artifacts.dataset_shards(root / "dataset", "test")) == 3
    report = evaluate.evaluate_step(root / "dataset", root / "ensemble", root / "model",
                                    root / "report")
    return root, x, y, stacked, weights, bias, report


def test_evaluate_over_shards_reports_what_the_whole_test_split_gives(sharded_search):
    root, x, y, stacked, weights, bias, report = sharded_search
    model = keras.saving.load_model(artifacts.exported_model(root / "model"), compile=False)
    logits = np.asarray(model.predict(x["test"], batch_size=512, verbose=0))
    want = ensemblers.combine(stacked["test"].astype(np.float64), weights, bias)
    temperature = calibration.fit_temperature(
        ensemblers.combine(stacked["validation"].astype(np.float64), weights, bias), y["validation"])

    assert report["temperature"] == pytest.approx(temperature, rel=1e-6)
    assert report["test_examples"] == 20
    assert report["test_error"] == metrics.error_rate(logits, y["test"])
    assert report["test_accuracy"] == 1.0 - report["test_error"]
    assert report["test_loss"] == pytest.approx(metrics.cross_entropy(logits, y["test"]), rel=1e-6)
    assert report["logit_drift"] == pytest.approx(float(np.abs(logits - want).max()), abs=1e-6)
    assert report["logit_drift"] < evaluate.MAX_LOGIT_DRIFT
    assert report["confusion_matrix"] == diagnostics.confusion_matrix(logits, y["test"], CLASSES).tolist()
    cm = np.asarray(report["confusion_matrix"])
    assert report["per_class"] == diagnostics.per_class(cm, ["a", "b", "c"])
    whole = _whole_calibrate(logits, y["test"], report["temperature"])
    for key in ("ece_before", "ece_after", "nll_before", "nll_after"):
        assert report["calibration"][key] == pytest.approx(whole[key], rel=1e-5, abs=1e-7), key
    assert ([b["count"] for b in report["calibration"]["reliability_after"]]
            == [b["count"] for b in whole["reliability_after"]])
    assert report["serving_drift"] < 1e-5 and report["saved_model"] == "saved_model"
    assert [lat["model"] for lat in report["latency"]] == ["saved_model"]
    assert set(report) == {
        "dataset", "num_classes", "test_examples", "test_error", "test_accuracy", "test_loss",
        "ensemble_size", "total_params", "returned", "best_single_candidate", "train_seconds",
        "task_hours", "accelerator_hours", "accelerator", "members", "iterations", "stopped", "budget",
        "model", "logit_drift", "temperature", "saved_model", "serving_drift", "class_names",
        "confusion_matrix", "per_class", "calibration", "latency", "candidates"}
    assert artifacts.read_report(root / "report")["test_error"] == report["test_error"]
    # The report names the best single tower selection measured the returned model against.
    assert report["best_single_candidate"] == {"name": "m1", "arch": "dense m1",
                                               "test_error": _spec("m1")["metrics"]["test_error"]}


def test_evaluate_fails_on_a_shard_whose_cached_logits_are_off(sharded_search, tmp_path):
    root = sharded_search[0]
    ensemble = tmp_path / "ensemble"
    shutil.copytree(root / "ensemble", ensemble)
    path = ensemble / "returned_logits" / "test-00002.npy"
    np.save(path, np.load(path) + 0.01)
    with pytest.raises(RuntimeError, match="disagrees with the cached member logits"):
        evaluate.evaluate_step(root / "dataset", ensemble, tmp_path / "model", tmp_path / "report")
    (ensemble / "returned_logits" / "validation-00002.npy").unlink()
    with pytest.raises(artifacts.ArtifactError, match="2 shards of cached validation logits for 3"):
        evaluate.evaluate_step(root / "dataset", ensemble, tmp_path / "model", tmp_path / "report")
