"""Final evaluation and export: the chosen ensemble as one Keras model, and the search report.

The exported model takes raw images (as stored in the Dataset artifact, 0..255) and returns its
members' logits combined as selection combined them (uniform mean or fitted mixture weights);
`keras.ops.softmax` of it gives class probabilities. Beside it goes a TensorFlow SavedModel for
TF Serving / Vertex AI (adanas.serving) whose probabilities are calibrated by a temperature
fitted on the validation split (adanas.calibration).
Evaluation runs that exported model on the test split, shard by shard, so the number reported
is the number a user of the file gets, and checks each shard against the cached member logits.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from adanas import (artifacts, budget, calibration, diagnostics, ensemblers, inputs, models, report_html,
                    serving)
from adanas.ensemble_model import combined_model
from adanas.report import format_details, format_report

log = logging.getLogger(__name__)

# Exported and cached logits must agree this closely (float32 arithmetic in another order).
MAX_LOGIT_DRIFT = 1e-3
# Test images the SavedModel is checked on (its first ones), and the first of them it is timed on.
EXPORT_CHECK_IMAGES = 256
LATENCY_IMAGES = 64


def export_ensemble(member_paths: list[str | os.PathLike], input_shape, out_path: str | os.PathLike,
                    weights=None, bias=None):
    """Members (frozen) plus their combination (adanas.ensemble_model), saved as one `.keras`
    file. Returns the model."""
    model = combined_model(member_paths, input_shape, weights, bias)
    model.save(out_path)
    return model


def evaluate_step(dataset_dir: str | os.PathLike, ensemble_dir: str | os.PathLike,
                  model_out: str | os.PathLike, report_out: str | os.PathLike,
                  markdown_out: str | os.PathLike | None = None,
                  html_out: str | os.PathLike | None = None) -> dict[str, Any]:
    """The evaluate step: exports what the search returns (the ensemble, part of it, or its best
    single subnetwork, whichever scored best on validation; from the model files the ensemble
    artifact carries), scores it on the test split, writes the report. Streams: it holds one
    shard's logits at a time, and a few test images for the export check and latency."""
    import keras
    meta = artifacts.dataset_meta(dataset_dir)
    state = artifacts.ensemble_record(ensemble_dir)
    returned = state["returned"]
    members = returned["members"]
    if not members:
        raise ValueError("the ensemble has no members: nothing to evaluate")
    mixture = returned["mixture"]
    weights = np.asarray(mixture["weights"])
    bias = np.asarray(mixture["bias"]) if np.any(mixture["bias"]) else None
    cached = artifacts.ensemble_logits(ensemble_dir, "returned")

    def combined(split: str):
        """(combined cached logits [n_k, C], labels [n_k]) of each shard of `split`: one pass."""
        labels = artifacts.dataset_labels(dataset_dir, split, meta)
        if len(cached.get(split, ())) != len(labels):
            raise artifacts.ArtifactError(
                f"{ensemble_dir}: {len(cached.get(split, ()))} shards of cached {split} logits "
                f"for {len(labels)} {split} shards in the dataset; the ensemble was chosen on "
                f"other data")
        for z, y in zip(cached[split], labels):
            yield ensemblers.combine(z.astype(np.float64), weights,
                                     np.zeros(z.shape[-1]) if bias is None else bias), y

    # The servable export's probabilities are calibrated by a temperature fitted on the
    # validation split's ensemble logits, or set from its mean confidence where none fits
    # (adanas.calibration.serving_temperature); fitted first, so that the test split is scored
    # in one pass, with and without it.
    temperature, unfitted = calibration.serving_temperature(lambda: combined("validation"))

    Path(model_out).mkdir(parents=True, exist_ok=True)
    model_file = artifacts.exported_model(model_out)
    # Members built with a user's custom layers load once the builder's module registered them.
    models.import_builders([m["spec"] for m in members])
    export_ensemble([artifacts.ensemble_model(ensemble_dir, m["spec"]["name"]) for m in members],
                    meta["image_shape"], model_file, weights, bias)
    reloaded = keras.saving.load_model(model_file, compile=False)
    assessment = diagnostics.Assessment(int(meta["num_classes"]), temperature, unfitted)
    drift = 0.0
    for (want, y), logits in zip(combined("test"),
                                 inputs.predict_shards(reloaded, dataset_dir, "test", meta)):
        if logits.shape != want.shape:
            raise artifacts.ArtifactError(f"{ensemble_dir}: cached test logits {want.shape} for "
                                          f"a shard of {logits.shape} predicted ones")
        drift = max(drift, float(np.abs(logits - want).max(initial=0.0)))
        if drift > MAX_LOGIT_DRIFT:
            raise RuntimeError(f"exported ensemble disagrees with the cached member logits "
                               f"(max difference {drift:.2e}); a member file does not match its "
                               f"logits")
        assessment.add(logits, y)
    saved_model = serving.export_saved_model(reloaded, artifacts.saved_model_dir(model_out),
                                             meta["image_shape"], meta["class_names"], temperature)
    # A bounded sample of the test split checks the SavedModel against the Keras model and
    # times it on CPU.
    sample = inputs.first_images(dataset_dir, "test", EXPORT_CHECK_IMAGES, meta)
    serving_drift = serving.check_export(
        saved_model, sample, np.asarray(reloaded.predict(sample, batch_size=512, verbose=0)),
        temperature)

    history = state["history"]
    test_error = assessment.score.error
    # The one selection measures the returned model against (adanas.ensemble.best_subnetwork:
    # the largest tower within the validation noise of the lowest loss), so that the report
    # names one best single tower; ensembles written before it was recorded: the lowest loss.
    best = state.get("best_single")
    best_single = ({"name": best["spec"]["name"], "arch": best["spec"]["arch_str"],
                    "test_error": best["metrics"]["test_error"]} if best else
                   min((h["best_single"] for h in history), key=lambda b: _validation_loss(history, b["name"])))
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
        # The tower a budgeted search would finish and whether any had learned (older
        # ensembles: absent).
        "to_finish": h.get("to_finish"),
        "candidates": len(h["candidates"]),
        "failed": [f["name"] for f in h.get("failed", [])],
        "task_hours": sum(c.get("task_seconds", 0.0) for c in h["candidates"]) / 3600,
        "accelerator_hours": sum(c.get("accelerator_seconds", 0.0) for c in h["candidates"]) / 3600,
    } for h in history]
    report = {
        "dataset": meta["dataset"],
        "num_classes": meta["num_classes"],
        "test_examples": assessment.score.count,
        "test_error": test_error,
        "test_accuracy": 1.0 - test_error,
        "test_loss": assessment.score.loss,
        "ensemble_size": len(members),
        "total_params": int(sum(m["metrics"]["params"] for m in members)),
        # What was returned and why: never worse on validation than the best single subnetwork.
        "returned": {**history[-1]["returned"], "grown_ensemble_size": len(state["members"]),
                     "grown_ensemble_test_error": history[-1]["ensemble"]["test_error"]},
        "best_single_candidate": best_single,
        "train_seconds": sum(c["train_seconds"] for h in history for c in h["candidates"]),
        # The slides' "let's talk compute": training task time, and accelerator-hours on GPU/TPU.
        "task_hours": sum(it["task_hours"] for it in iterations),
        "accelerator_hours": sum(it["accelerator_hours"] for it in iterations),
        "accelerator": next((c["accelerator"] for h in history for c in h["candidates"] if "accelerator" in c), "CPU"),
        "members": [{"name": m["spec"]["name"], "arch": m["spec"]["arch_str"],
                     "params": m["metrics"]["params"],
                     "weight": _summary(weights[j]),
                     # What loading the exported ensemble imports first (the distill step).
                     **({"builder": m["spec"]["builder"]} if m["spec"].get("builder") else {})}
                    for j, m in enumerate(members)],
        "iterations": iterations,
        "stopped": state.get("stopped", ""),
        # search.budget: given and used (adanas.budget); None without one.
        "budget": budget.summary(budget.total_seconds(state.get("search") or {}), history),
        # Inside the exported model artifact; a task's own paths mean nothing to later readers.
        "model": model_file.name,
        "logit_drift": drift,
        # Calibration: probabilities = softmax(logits / temperature), as the SavedModel serves.
        "temperature": temperature,
        "saved_model": saved_model.name,
        "serving_drift": serving_drift,
    }
    # What people look at: confusion matrix, per-class scores, calibration, CPU latency, and
    # every candidate for the plots; as Markdown and as one HTML page with figures.
    report.update(assessment.sections(meta["class_names"], [saved_model], sample[:LATENCY_IMAGES]))
    report["candidates"] = diagnostics.candidates_of(history, {m["spec"]["name"] for m in members})
    markdown = format_report(report) + "\n\n" + format_details(report)
    page = report_html.render_report(report)
    artifacts.write_report(report_out, report, markdown, page)
    for out, text in ((markdown_out, markdown), (html_out, page)):
        if out is not None:
            artifacts.write_page(out, text)
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
