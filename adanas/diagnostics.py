"""What the report says about the exported model beyond its error: the confusion matrix,
per-class precision/recall/F1, calibration (expected calibration error before and after
temperature scaling fitted on validation data, with reliability-diagram bins) and inference
latency per image on CPU of the exported SavedModels (adanas.serving). NumPy, but for latency.

The test split is scored shard by shard: `Assessment` (and the `Reliability` and `Calibration`
it holds) accumulate counts and sums, one shard at a time, and give the same numbers as the
whole-array functions (`confusion_matrix`, `reliability`, `calibrate`, `assess`: one shard),
which are kept for small data and tests.

`Assessment.sections` gathers them into the report's sections (plain JSON: report.json keeps
them and `adanas.report` / `adanas.report_html` render them).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from adanas import metrics, serving

RELIABILITY_BINS = 15


def softmax(logits: np.ndarray) -> np.ndarray:
    return np.exp(metrics.log_softmax(np.asarray(logits, dtype=np.float64)))


def confusion_matrix(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """int64 [C, C]: row = true class, column = predicted class."""
    predicted = np.argmax(logits, axis=-1)
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(labels), predicted), 1)
    return cm


def per_class(cm: np.ndarray, class_names: list[str]) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support of each class from a confusion matrix. A class never
    predicted has precision 0 (and F1 0), as scikit-learn's zero_division=0 gives."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return [{"class": name, "precision": float(p), "recall": float(r), "f1": float(f),
             "support": int(s)}
            for name, p, r, f, s in zip(class_names, precision, recall, f1, support)]


class Reliability:
    """Equal-width confidence bins of the top-class probability, accumulated shard by shard:
    per bin its count and the sums of confidence and correctness, from which `result` gives
    each bin's range, count, mean confidence and accuracy, and the expected calibration error
    sum_b (n_b / N) |acc_b - conf_b| (Guo et al. 2017)."""

    def __init__(self, bins: int = RELIABILITY_BINS) -> None:
        self.edges = np.linspace(0.0, 1.0, bins + 1)
        self.counts = np.zeros(bins, dtype=np.int64)
        self.confidence = np.zeros(bins)
        self.correct = np.zeros(bins)

    def add(self, probs: np.ndarray, labels: np.ndarray) -> "Reliability":
        probs = np.asarray(probs, dtype=np.float64)
        confidence = probs.max(axis=-1)
        correct = (probs.argmax(axis=-1) == np.asarray(labels)).astype(np.float64)
        bins = len(self.counts)
        # Bin b holds confidences in (edges[b], edges[b+1]]; a confidence of exactly 0 goes to bin 0.
        which = np.clip(np.searchsorted(self.edges, confidence, side="left") - 1, 0, bins - 1)
        for b in range(bins):
            mask = which == b
            self.counts[b] += int(mask.sum())
            self.confidence[b] += confidence[mask].sum()
            self.correct[b] += correct[mask].sum()
        return self

    def result(self) -> dict[str, Any]:
        total = int(self.counts.sum())
        out, ece = [], 0.0
        for b, n in enumerate(int(c) for c in self.counts):
            conf = float(self.confidence[b] / n) if n else None
            acc = float(self.correct[b] / n) if n else None
            if n:
                ece += n / total * abs(acc - conf)
            out.append({"low": float(self.edges[b]), "high": float(self.edges[b + 1]), "count": n,
                        "confidence": conf, "accuracy": acc})
        return {"bins": out, "ece": float(ece)}


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = RELIABILITY_BINS) -> dict[str, Any]:
    """Reliability bins and expected calibration error of whole arrays (see `Reliability`)."""
    return Reliability(bins).add(probs, labels).result()


def expected_calibration_error(logits: np.ndarray, labels: np.ndarray,
                               bins: int = RELIABILITY_BINS) -> float:
    return reliability(softmax(logits), labels, bins)["ece"]


class Calibration:
    """ECE, NLL and reliability bins on the test split before and after dividing the logits by
    `temperature` (fitted on the validation split: adanas.calibration), accumulated shard by
    shard."""

    def __init__(self, temperature: float, bins: int = RELIABILITY_BINS, unfitted: str = "") -> None:
        self.temperature, self.unfitted = float(temperature), unfitted
        self.before, self.after = Reliability(bins), Reliability(bins)
        self.nll_before, self.nll_after = metrics.Score(), metrics.Score()

    def add(self, logits: np.ndarray, labels: np.ndarray) -> "Calibration":
        scaled = np.asarray(logits, np.float64) / self.temperature
        self.before.add(softmax(logits), labels)
        self.after.add(softmax(scaled), labels)
        self.nll_before.add(logits, labels)
        self.nll_after.add(scaled, labels)
        return self

    def result(self) -> dict[str, Any]:
        before, after = self.before.result(), self.after.result()
        return {
            "temperature": self.temperature,
            "unfitted": self.unfitted,   # how T was set where none fits ("" when fitted)
            "fitted_on": "validation",
            "scored_on": "test",
            "ece_before": before["ece"],
            "ece_after": after["ece"],
            "nll_before": self.nll_before.loss,
            "nll_after": self.nll_after.loss,
            "reliability_before": before["bins"],
            "reliability_after": after["bins"],
        }


def calibrate(test_logits: np.ndarray, y_test: np.ndarray, temperature: float) -> dict[str, Any]:
    """`Calibration` of whole arrays."""
    return Calibration(temperature).add(test_logits, y_test).result()


class Assessment:
    """Everything the report says about the test split's logits, fed one shard at a time:
    the score (error, loss), the confusion matrix and the calibration."""

    def __init__(self, num_classes: int, temperature: float, unfitted: str = "") -> None:
        self.score = metrics.Score()
        self.confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
        self.calibration = Calibration(temperature, unfitted=unfitted)

    def add(self, logits: np.ndarray, labels: np.ndarray) -> "Assessment":
        self.score.add(logits, labels)
        self.confusion += confusion_matrix(logits, labels, len(self.confusion))
        self.calibration.add(logits, labels)
        return self

    def sections(self, class_names: list[str], saved_models: list[str | os.PathLike],
                 images: np.ndarray) -> dict[str, Any]:
        """The report's sections beyond the error: confusion matrix, per-class scores,
        calibration, and the CPU latency per image of each exported SavedModel
        (adanas.serving.cpu_latency, timed on `images`, e.g. a few test images)."""
        return {
            "class_names": list(class_names),
            "confusion_matrix": self.confusion.tolist(),
            "per_class": per_class(self.confusion, class_names),
            "calibration": self.calibration.result(),
            # Milliseconds per image at each batch size: {"model", "batch_1", "batch_64"}.
            "latency": [{"model": Path(m).name, **serving.cpu_latency(m, images)} for m in saved_models],
        }


def candidates_of(history: list[dict[str, Any]], member_names: set[str]) -> list[dict[str, Any]]:
    """Every candidate the search trained (failed ones flagged), with whether its iteration
    chose it and whether it is a member of the exported model: the report's scatter plot."""
    out = []
    for h in history:
        chosen = set((h.get("chosen") or "").split(", "))
        for c in h["candidates"]:
            out.append({"iteration": h["iteration"], "name": c["name"], "arch": c["arch"],
                        "params": c["params"], "validation_error": c["validation_error"],
                        "test_error": c["test_error"], "chosen": c["name"] in chosen,
                        "member": c["name"] in member_names, "failed": False})
        for f in h.get("failed", []):
            out.append({"iteration": h["iteration"], "name": f["name"], "arch": f.get("arch"),
                        "params": None, "validation_error": None, "test_error": None,
                        "chosen": False, "member": False, "failed": True,
                        "error": f"{f['type']}: {f['message'][:200]}"})
    return out


def assess(test_logits: np.ndarray, y_test: np.ndarray, temperature: float,
           class_names: list[str], saved_models: list[str | os.PathLike],
           images: np.ndarray) -> dict[str, Any]:
    """`Assessment.sections` of whole arrays."""
    return (Assessment(len(class_names), temperature).add(test_logits, y_test)
            .sections(class_names, saved_models, images))
