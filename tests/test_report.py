"""The report people look at: per-class scores, calibration, the Markdown and the HTML page."""

import base64
import re

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from adanas import calibration, diagnostics, metrics, report_html
from adanas.report import format_details, format_quality


def test_fit_temperature_recovers_the_temperature_the_labels_were_drawn_at():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (20000, 5))
    true_t = 2.5
    p = diagnostics.softmax(logits / true_t)
    labels = (p.cumsum(axis=1) > rng.random((len(p), 1))).argmax(axis=1)
    t = calibration.fit_temperature(logits, labels)
    assert t == pytest.approx(true_t, rel=0.05)
    # It is the minimum of the NLL: nearby temperatures do worse.
    nll = metrics.cross_entropy(logits / t, labels)
    assert nll < metrics.cross_entropy(logits / (t * 1.1), labels)
    assert nll < metrics.cross_entropy(logits / (t / 1.1), labels)


def test_fit_temperature_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="expected logits"):
        calibration.fit_temperature(np.zeros((3, 2)), np.zeros(4, int))


def test_per_class_scores_match_scikit_learn():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 300)
    logits = rng.normal(size=(300, 4)) + 2.0 * np.eye(4)[labels] * (rng.random(300) < 0.6)[:, None]
    logits[:, 3] -= 10   # class 3 is never predicted: precision 0 by convention
    cm = diagnostics.confusion_matrix(logits, labels, 4)
    assert (cm == confusion_matrix(labels, logits.argmax(1), labels=range(4))).all()
    rows = diagnostics.per_class(cm, ["a", "b", "c", "d"])
    p, r, f, s = precision_recall_fscore_support(labels, logits.argmax(1), labels=range(4),
                                                 zero_division=0)
    assert [row["class"] for row in rows] == ["a", "b", "c", "d"]
    assert np.allclose([row["precision"] for row in rows], p)
    assert np.allclose([row["recall"] for row in rows], r)
    assert np.allclose([row["f1"] for row in rows], f)
    assert [row["support"] for row in rows] == list(s)
    assert rows[3]["precision"] == 0.0


def test_expected_calibration_error_by_hand():
    # Two bins used (of 10): confidences 0.9 (3 examples, 2 right) and 0.6 (1 example, wrong).
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.6, 0.4]])
    labels = np.array([0, 0, 0, 1])
    out = diagnostics.reliability(probs, labels, bins=10)
    want = 3 / 4 * abs(2 / 3 - 0.9) + 1 / 4 * abs(0.0 - 0.6)
    assert out["ece"] == pytest.approx(want)
    used = [b for b in out["bins"] if b["count"]]
    assert [(b["low"], b["count"]) for b in used] == [(pytest.approx(0.5), 1), (pytest.approx(0.8), 3)]
    assert sum(b["count"] for b in out["bins"]) == 4


def test_temperature_scaling_lowers_the_calibration_error_of_overconfident_logits():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 10, 4000)
    logits = rng.normal(size=(4000, 10)) + 1.5 * np.eye(10)[labels]
    overconfident = 4.0 * logits
    t = calibration.fit_temperature(overconfident[:2000], labels[:2000])
    cal = diagnostics.calibrate(overconfident[2000:], labels[2000:], t)
    assert t > 2.0 and cal["ece_after"] < cal["ece_before"] / 2
    assert cal["nll_after"] < cal["nll_before"]
    # Temperature scaling never changes a prediction.
    assert sum(b["count"] for b in cal["reliability_after"]) == 2000


def fake_report(num_classes: int = 3) -> dict:
    """A report as the evaluate step writes it, with made-up numbers."""
    rng = np.random.default_rng(3)
    names = [f"class {i}" for i in range(num_classes)]
    labels = rng.integers(0, num_classes, 200)
    logits = rng.normal(size=(200, num_classes)) + 2 * np.eye(num_classes)[labels]
    candidates = [{"iteration": t, "name": f"i{t}_c{j}", "arch": f"cnn({t + j + 1}@8)",
                   "params": 1000 * (t + j + 1), "validation_error": 0.3 - 0.05 * t - 0.01 * j,
                   "test_error": 0.31 - 0.05 * t, "chosen": j == 1, "member": j == 1, "failed": False}
                  for t in range(2) for j in range(2)]
    candidates.append({"iteration": 1, "name": "i1_c2", "arch": "cnn(9@8)", "params": None,
                       "validation_error": None, "test_error": None, "chosen": False,
                       "member": False, "failed": True, "error": "FloatingPointError: diverged <nan>"})
    report = {
        "dataset": "made-up", "num_classes": num_classes, "test_examples": 200,
        "test_error": 0.21, "ensemble_size": 2, "total_params": 5000,
        "best_single_candidate": {"name": "i1_c1", "arch": "cnn(3@8)", "test_error": 0.26},
        "task_hours": 0.01, "accelerator_hours": 0.0, "accelerator": "CPU", "stopped": "done",
        "members": [{"name": "i0_c1", "arch": "cnn(2@8)", "params": 2000, "weight": 0.5},
                    {"name": "i1_c1", "arch": "cnn(3@8)", "params": 3000, "weight": 0.5}],
        "iterations": [{"iteration": t, "chosen": f"i{t}_c1", "chosen_arch": f"cnn({t + 2}@8)",
                        "ensemble_size": t + 1, "ensemble_params": 2000 + 3000 * t,
                        "validation_error": 0.29 - 0.05 * t, "test_error": 0.3 - 0.05 * t,
                        "best_single_test_error": 0.3 - 0.04 * t, "failed": ["i1_c2"] if t else []}
                       for t in range(2)],
        "candidates": candidates,
        "latency": [{"model": "saved_model", "batch_1": 0.3, "batch_64": 0.02}],
    }
    cm = diagnostics.confusion_matrix(logits, labels, num_classes)
    report.update(class_names=names, confusion_matrix=cm.tolist(),
                  per_class=diagnostics.per_class(cm, names),
                  calibration=diagnostics.calibrate(logits, labels, 1.3))
    return report


def test_markdown_details_and_quality_lines():
    report = fake_report()
    details = format_details(report)
    assert "## Per class (test)" in details and "| class 2 |" in details
    assert "expected calibration error" in details
    quality = format_quality(report)
    assert "T = 1.3" in quality
    assert "0.300 ms/image at batch 1, 0.020 ms/image at batch 64" in quality


def test_the_report_says_how_the_temperature_was_set_where_none_fits():
    report = fake_report()
    logits, labels = np.eye(3) * 4.0, np.arange(3)
    t, how = calibration.serving_temperature(lambda: [(logits, labels)])
    report["calibration"] = diagnostics.Calibration(t, unfitted=how).add(logits, labels).result()
    quality = format_quality(report)
    assert f"(T = {t:.3g}, the validation split is classified perfectly (3 of 3)" in quality
    assert "fitted on validation" not in quality
    page = report_html.render_report(report)
    assert "not fitted: the validation split is classified perfectly (3 of 3)" in page
    assert "(minimum NLL)" not in page


def test_html_report_is_one_self_contained_page_with_every_plot():
    page = report_html.render_report(fake_report())
    images = re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,([^"]+)"', page)
    assert [alt for alt, _ in images] == [
        "validation and test error per iteration",
        "error vs parameters of every candidate (chosen ones starred)", "member weights",
        "confusion matrix", "reliability diagram"]
    for _, data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    # Nothing to fetch: no external source, stylesheet or script.
    assert not re.search(r"(src|href)=\"(?!data:)", page)
    assert "<script" not in page
    # Tables: per-class scores, calibration, latency; the failed candidate, escaped.
    assert "<td class=l>class 1</td>" in page
    assert "FloatingPointError: diverged &lt;nan&gt;" in page
    assert "batch 64: ms per image" in page


def test_many_classes_still_render():
    page = report_html.render_report(fake_report(num_classes=60))
    assert page.count("data:image/png;base64,") == 5
