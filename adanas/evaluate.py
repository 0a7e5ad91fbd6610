"""Final evaluation and export: the chosen ensemble as one Keras model, and the search report.

The exported model takes raw images (as stored in the Dataset artifact, 0..255) and returns its
members' logits combined as selection combined them (uniform mean or fitted mixture weights);
`keras.ops.softmax` of it gives class probabilities.
Evaluation runs that exported model on the test split, so the number reported is the number a
user of the file gets, and it is checked against the cached member logits.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from adanas import artifacts, ensemblers, metrics
from adanas.report import format_report

log = logging.getLogger(__name__)

# Exported and cached logits must agree this closely (float32 arithmetic in another order).
MAX_LOGIT_DRIFT = 1e-3


def mixture_kernel(weights: np.ndarray, num_classes: int) -> np.ndarray:
    """Mixture weights as one [M*C, C] matrix acting on the members' concatenated logits."""
    w = np.asarray(weights, dtype=np.float32)
    eye = np.eye(num_classes, dtype=np.float32)
    if w.ndim == 1:
        blocks = w[:, None, None] * eye
    elif w.ndim == 2:
        blocks = w[:, :, None] * eye
    else:
        blocks = w
    return blocks.reshape(-1, num_classes)


def export_ensemble(member_paths: list[str | os.PathLike], input_shape, out_path: str | os.PathLike,
                    weights=None, bias=None):
    """Members (frozen) plus their combination, saved as one `.keras` file. Returns the model.

    Without weights (or with uniform scalar weights and no bias) the combination is an
    Average layer; otherwise a frozen Dense layer over the concatenated member logits holds the
    mixture weights and bias. Only standard Keras layers: it loads without custom objects.
    """
    import keras
    members = []
    for path in member_paths:
        member = keras.saving.load_model(path, compile=False)
        member.trainable = False
        members.append(member)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    outputs = [m(inputs) for m in members]
    n = len(outputs)
    uniform = weights is None or (np.ndim(weights) == 1 and np.allclose(weights, 1.0 / n)
                                  and (bias is None or not np.any(bias)))
    if uniform:
        logits = outputs[0] if n == 1 else keras.layers.Average(name="mean_logits")(outputs)
    else:
        c = outputs[0].shape[-1]
        joined = outputs[0] if n == 1 else keras.layers.Concatenate(name="member_logits")(outputs)
        mix = keras.layers.Dense(c, use_bias=bias is not None, trainable=False, name="mixture")
        logits = mix(joined)
        mix.set_weights([mixture_kernel(weights, c)] + ([np.asarray(bias, np.float32)] if bias is not None else []))
    model = keras.Model(inputs, logits, name="adanas_ensemble")
    model.save(out_path)
    return model


def evaluate_step(dataset_dir: str | os.PathLike, ensemble_dir: str | os.PathLike,
                  model_out: str | os.PathLike, report_out: str | os.PathLike) -> dict[str, Any]:
    """The evaluate step: exports the final ensemble (from the member models the ensemble
    artifact carries), scores it on the test split, writes the report."""
    import keras
    meta = artifacts.dataset_meta(dataset_dir)
    state = artifacts.ensemble_record(ensemble_dir)
    if not state["members"]:
        raise ValueError("the ensemble has no members: nothing to evaluate")
    # Only the test split is scored here: the other cached logits stay on disk.
    cached_test = artifacts.ensemble_logits(ensemble_dir)["test"]
    x_test, y_test = artifacts.dataset_split(dataset_dir, "test")

    Path(model_out).mkdir(parents=True, exist_ok=True)
    model_file = artifacts.exported_model(model_out)
    mixture = state.get("mixture")
    weights = None if mixture is None else np.asarray(mixture["weights"])
    bias = None if mixture is None or not np.any(mixture["bias"]) else np.asarray(mixture["bias"])
    export_ensemble([artifacts.ensemble_model(ensemble_dir, m["spec"]["name"]) for m in state["members"]],
                    meta["image_shape"], model_file, weights, bias)
    reloaded = keras.saving.load_model(model_file, compile=False)
    logits = np.asarray(reloaded.predict(x_test, batch_size=512, verbose=0))
    want = (cached_test.mean(axis=0) if weights is None else
            ensemblers.combine(cached_test.astype(np.float64), weights,
                               np.zeros(logits.shape[1]) if bias is None else bias))
    drift = float(np.abs(logits - want).max())
    if drift > MAX_LOGIT_DRIFT:
        raise RuntimeError(f"exported ensemble disagrees with the cached member logits "
                           f"(max difference {drift:.2e}); a member file does not match its logits")

    history = state["history"]
    test_error = metrics.error_rate(logits, y_test)
    best_single = min((h["best_single"] for h in history),
                      key=lambda b: _validation_loss(history, b["name"]))
    iterations = [{
        "iteration": h["iteration"],
        "chosen": h["chosen"],
        "chosen_arch": h["chosen_arch"],
        "ensemble_size": h["ensemble"]["size"],
        "ensemble_params": h["ensemble"]["params"],
        "validation_error": h["ensemble"]["validation_error"],
        "validation_loss": h["ensemble"]["validation_loss"],
        "test_error": h["ensemble"]["test_error"],
        "best_single_test_error": h["best_single"]["test_error"],
        "candidates": len(h["candidates"]),
        "failed": [f["name"] for f in h.get("failed", [])],
        "task_hours": sum(c.get("task_seconds", 0.0) for c in h["candidates"]) / 3600,
        "accelerator_hours": sum(c.get("accelerator_seconds", 0.0) for c in h["candidates"]) / 3600,
    } for h in history]
    report = {
        "dataset": meta["dataset"],
        "num_classes": meta["num_classes"],
        "test_examples": int(len(y_test)),
        "test_error": test_error,
        "test_accuracy": 1.0 - test_error,
        "test_loss": metrics.cross_entropy(logits, y_test),
        "ensemble_size": len(state["members"]),
        "total_params": int(sum(m["metrics"]["params"] for m in state["members"])),
        "best_single_candidate": best_single,
        "train_seconds": sum(c["train_seconds"] for h in history for c in h["candidates"]),
        # The slides' "let's talk compute": training task time, and accelerator-hours on GPU/TPU.
        "task_hours": sum(it["task_hours"] for it in iterations),
        "accelerator_hours": sum(it["accelerator_hours"] for it in iterations),
        "accelerator": next((c["accelerator"] for h in history for c in h["candidates"] if "accelerator" in c), "CPU"),
        "members": [{"name": m["spec"]["name"], "arch": m["spec"]["arch_str"],
                     "params": m["metrics"]["params"],
                     "weight": 1.0 / len(state["members"]) if weights is None else _summary(weights[j])}
                    for j, m in enumerate(state["members"])],
        "iterations": iterations,
        "stopped": state.get("stopped", ""),
        # Inside the exported model artifact; a task's own paths mean nothing to later readers.
        "model": model_file.name,
        "logit_drift": drift,
    }
    artifacts.write_report(report_out, report, format_report(report) + "\n")
    log.info("final ensemble of %d members: test error %.4f (best single candidate %.4f)",
             report["ensemble_size"], test_error, best_single["test_error"])
    return report


def _summary(w: np.ndarray) -> float:
    """One number per member for the report: the scalar, the mean per-class weight, or the
    mean of the matrix diagonal."""
    w = np.asarray(w)
    return float(w if w.ndim == 0 else (w.mean() if w.ndim == 1 else np.diag(w).mean()))


def _validation_loss(history: list[dict[str, Any]], name: str) -> float:
    return next(c["validation_loss"] for h in history for c in h["candidates"] if c["name"] == name)
