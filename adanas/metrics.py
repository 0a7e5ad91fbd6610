"""Scores of logits against integer labels (NumPy only): what training reports, selection
minimises and evaluation prints are computed by these few functions."""

from __future__ import annotations

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def cross_entropy_per_example(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Softmax cross-entropy (natural log) of each example's integer label."""
    lp = log_softmax(np.asarray(logits, dtype=np.float64))
    return -lp[np.arange(len(labels)), labels]


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean softmax cross-entropy (natural log) of integer labels."""
    return float(cross_entropy_per_example(logits, labels).mean())


def error_rate(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((np.argmax(logits, axis=-1) != labels).mean())


def objective(logits: np.ndarray, labels: np.ndarray, name: str) -> float:
    """What selection minimises: `validation_loss` (cross-entropy) or `validation_error`."""
    if name == "validation_loss":
        return cross_entropy(logits, labels)
    if name == "validation_error":
        return error_rate(logits, labels)
    raise ValueError(f"unknown objective {name!r}")


class Score:
    """Cross-entropy and error accumulated shard by shard: the same numbers as cross_entropy
    and error_rate on the concatenated shards, holding one shard at a time."""

    def __init__(self) -> None:
        self.loss_sum, self.errors, self.count = 0.0, 0, 0

    def add(self, logits: np.ndarray, labels: np.ndarray) -> "Score":
        labels = np.asarray(labels)
        if len(labels):
            lp = log_softmax(np.asarray(logits, dtype=np.float64))
            self.loss_sum += float(-lp[np.arange(len(labels)), labels].sum())
            self.errors += int((np.argmax(logits, axis=-1) != labels).sum())
            self.count += len(labels)
        return self

    @property
    def loss(self) -> float:
        return self.loss_sum / self.count if self.count else float("nan")

    @property
    def error(self) -> float:
        return self.errors / self.count if self.count else float("nan")

    def objective(self, name: str) -> float:
        if name == "validation_loss":
            return self.loss
        if name == "validation_error":
            return self.error
        raise ValueError(f"unknown objective {name!r}")
