"""Evaluate step: exports the final ensemble as one Keras model and reports the search."""

from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output


def evaluate_ensemble(dataset: Input[Dataset], ensemble: Input[Model],
                      exported_model: Output[Model], report: Output[Artifact],
                      metrics: Output[Metrics]):
    """Scores the exported ensemble on the test split and writes the per-iteration report.

    Args:
        dataset: the Dataset artifact.
        ensemble: the last select step's ensemble (it carries its members' models).
        exported_model: ensemble.keras (raw images in, combined member logits out).
        report: report.json and report.md (per-iteration table).
        metrics: final test error/accuracy, size, params, best single candidate's test error.
    """
    from adanas import evaluate
    from components.glue import log_metrics

    result = evaluate.evaluate_step(dataset.path, ensemble.path, exported_model.path, report.path)
    log_metrics(metrics, {
        **{k: result[k] for k in ("test_error", "test_accuracy", "test_loss", "ensemble_size",
                                  "total_params", "task_hours", "accelerator_hours")},
        "best_single_test_error": result["best_single_candidate"]["test_error"],
        **{f"iteration_{i}_test_error": it["test_error"] for i, it in enumerate(result["iterations"])},
    })
