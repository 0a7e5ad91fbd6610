"""Evaluate step: exports the final ensemble as one Keras model and reports the search."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output


def evaluate_ensemble(dataset: Input[Dataset], ensemble: Input[Model],
                      exported_model: Output[Model], report: Output[Artifact],
                      metrics: Output[Metrics]):
    """Scores the exported ensemble on the test split and writes the per-iteration report.

    Args:
        dataset: the Dataset artifact.
        ensemble: the last select step's ensemble.
        exported_model: ensemble.keras (raw images in, mean member logits out).
        report: report.json and report.md (per-iteration table).
        metrics: final test error/accuracy, size, params, best single candidate's test error.
    """
    import json

    from kfp.dsl import Model as ArtifactOfUri

    from adanas import evaluate

    result = evaluate.evaluate_step(dataset.path, ensemble.path, exported_model.path,
                                    report.path, to_path=lambda uri: ArtifactOfUri(uri=uri).path)
    for key in ("test_error", "test_accuracy", "test_loss", "ensemble_size", "total_params",
                "task_hours", "accelerator_hours"):
        metrics.log_metric(key, result[key])
    metrics.log_metric("best_single_test_error", result["best_single_candidate"]["test_error"])
    for i, it in enumerate(result["iterations"]):
        metrics.log_metric(f"iteration_{i}_test_error", it["test_error"])
    # Metrics live in metadata; a file at their path lets kfp.local's cache reuse this task.
    with open(metrics.path, "w") as f:
        json.dump(metrics.metadata, f)


def make(image: str):
    return dsl.component(evaluate_ensemble, base_image=image, install_kfp_package=False)
