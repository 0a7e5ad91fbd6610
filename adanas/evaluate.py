"""Final evaluation and export: the chosen ensemble as one Keras model, and the search report.

The exported model takes raw images (as stored in the Dataset artifact, 0..255) and returns the
uniform mean of its members' logits; `keras.ops.softmax` of it gives class probabilities.
Evaluation runs that exported model on the test split, so the number reported is the number a
user of the file gets, and it is checked against the cached member logits.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from adanas import data, ensemble

log = logging.getLogger(__name__)

# Exported and cached logits must agree this closely (float32 arithmetic in another order).
MAX_LOGIT_DRIFT = 1e-3


def export_ensemble(member_paths: list[str], input_shape, out_path: str | os.PathLike):
    """Members (frozen) plus averaging, saved as one `.keras` file. Returns the model."""
    import keras
    members = []
    for path in member_paths:
        member = keras.saving.load_model(Path(path) / "model.keras", compile=False)
        member.trainable = False
        members.append(member)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    outputs = [m(inputs) for m in members]
    logits = outputs[0] if len(outputs) == 1 else keras.layers.Average(name="mean_logits")(outputs)
    model = keras.Model(inputs, logits, name="adanas_ensemble")
    model.save(out_path)
    return model


def evaluate_step(dataset_dir: str | os.PathLike, ensemble_dir: str | os.PathLike,
                  model_out: str | os.PathLike, report_out: str | os.PathLike,
                  to_path: Callable[[str], str] = ensemble.uri_to_path) -> dict[str, Any]:
    """Exports the final ensemble, scores it on the test split, writes report.json/report.md."""
    import keras
    meta = data.read_meta(dataset_dir)
    state, cached = ensemble.read_state(ensemble_dir)
    if not state["members"]:
        raise ValueError("the ensemble has no members: nothing to evaluate")
    x_test, y_test = data.read_split(dataset_dir, "test")

    model_out = Path(model_out)
    model_out.mkdir(parents=True, exist_ok=True)
    model_file = model_out / "ensemble.keras"
    export_ensemble([p for _, p in ensemble.resolve_members(state, to_path)],
                    meta["image_shape"], model_file)
    reloaded = keras.saving.load_model(model_file, compile=False)
    logits = np.asarray(reloaded.predict(x_test, batch_size=512, verbose=0))
    drift = float(np.abs(logits - cached["test"].mean(axis=0)).max())
    if drift > MAX_LOGIT_DRIFT:
        raise RuntimeError(f"exported ensemble disagrees with the cached member logits "
                           f"(max difference {drift:.2e}); a member file does not match its logits")

    history = state["history"]
    test_error = ensemble.error_rate(logits, y_test)
    best_single = min((h["best_single"] for h in history),
                      key=lambda b: _validation_loss(history, b["name"]))
    report = {
        "dataset": meta["dataset"],
        "num_classes": meta["num_classes"],
        "test_examples": int(len(y_test)),
        "test_error": test_error,
        "test_accuracy": 1.0 - test_error,
        "test_loss": ensemble.cross_entropy(logits, y_test),
        "ensemble_size": len(state["members"]),
        "total_params": int(sum(m["metrics"]["params"] for m in state["members"])),
        "best_single_candidate": best_single,
        "train_seconds": sum(c["train_seconds"] for h in history for c in h["candidates"]),
        "members": [{"name": m["spec"]["name"], "arch": m["spec"]["arch_str"],
                     "params": m["metrics"]["params"], "weight": 1.0 / len(state["members"])}
                    for m in state["members"]],
        "iterations": [{
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
        } for h in history],
        "model": str(model_file),
        "logit_drift": drift,
    }
    report_out = Path(report_out)
    report_out.mkdir(parents=True, exist_ok=True)
    (report_out / "report.json").write_text(json.dumps(report, indent=2))
    from adanas.report import format_report
    (report_out / "report.md").write_text(format_report(report) + "\n")
    log.info("final ensemble of %d members: test error %.4f (best single candidate %.4f)",
             report["ensemble_size"], test_error, best_single["test_error"])
    return report


def _validation_loss(history: list[dict[str, Any]], name: str) -> float:
    return next(c["validation_loss"] for h in history for c in h["candidates"] if c["name"] == name)
