"""Evaluate step: exports the final ensemble as one Keras model and reports the search."""

from kfp.dsl import (HTML, Artifact, ClassificationMetrics, Dataset, Input, Markdown, Metrics, Model,
                     Output)


def evaluate_ensemble(dataset: Input[Dataset], ensemble: Input[Model],
                      exported_model: Output[Model], report: Output[Artifact],
                      metrics: Output[Metrics], report_markdown: Output[Markdown],
                      report_html: Output[HTML],
                      classification_metrics: Output[ClassificationMetrics]):
    """Scores the exported ensemble on the test split and writes the per-iteration report.

    Args:
        dataset: the Dataset artifact.
        ensemble: the last select step's ensemble (it carries its members' models).
        exported_model: ensemble.keras (raw images in, combined member logits out) and
            saved_model/ (serving signatures, calibrated probabilities: adanas.serving).
        report: report.json and report.md (per-iteration table).
        metrics: final test error/accuracy, size, params, best single candidate's test error,
            expected calibration error before/after temperature scaling, CPU latency.
        report_markdown: report.md (the per-iteration table, per-class scores, calibration,
            latency), shown by the KFP and Vertex AI consoles.
        report_html: report.html, one self-contained page with the plots.
        classification_metrics: the test split's confusion matrix.
    """
    from adanas import evaluate
    from components.glue import log_confusion_matrix, log_metrics

    result = evaluate.evaluate_step(dataset.path, ensemble.path, exported_model.path, report.path,
                                    markdown_out=report_markdown.path, html_out=report_html.path)
    log_confusion_matrix(classification_metrics, result["class_names"], result["confusion_matrix"])
    log_metrics(metrics, {
        **{k: result[k] for k in ("test_error", "test_accuracy", "test_loss", "ensemble_size",
                                  "total_params", "task_hours", "accelerator_hours")},
        "best_single_test_error": result["best_single_candidate"]["test_error"],
        # Only this step writes these names: a Vertex AI Experiment run merges every Metrics
        # artifact of the pipeline run, and train and select log test_error too (README, "Long
        # searches").
        **{f"final_{k}": result[k] for k in ("test_error", "test_accuracy", "ensemble_size",
                                             "total_params", "task_hours", "accelerator_hours")},
        **{f"iteration_{i}_test_error": it["test_error"] for i, it in enumerate(result["iterations"])},
        "expected_calibration_error": result["calibration"]["ece_before"],
        "expected_calibration_error_scaled": result["calibration"]["ece_after"],
        **{f"{lat['model']}_ms_per_image_{b}": ms for lat in result["latency"]
           for b, ms in lat.items() if b.startswith("batch_")},
    })
