"""Distill step: one network trained on the final ensemble's soft targets, exported like the
ensemble, and compared with it side by side."""

from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output


def distill_student(student_config: str, training: str, seed: int, dataset: Input[Dataset],
                    exported_model: Input[Model], report: Input[Artifact],
                    student: Output[Model], final_report: Output[Artifact],
                    metrics: Output[Metrics], accelerator: str = ""):
    """Trains the student (export.student) with the exported ensemble as its live teacher.

    Args:
        student_config: the `export.student` section of an AdaNAS config, as JSON.
        training: the `training` section (optimizer, schedule, batch size, ...), as JSON.
        seed: the search seed.
        dataset: the Dataset artifact (its recorded augmentation is applied on the fly).
        exported_model: the evaluate step's output: ensemble.keras is the teacher; its
            saved_model/ is timed beside the student's.
        report: the evaluate step's report.
        student: student.keras, saved_model/ (the ensemble's signatures), student.json.
        final_report: the evaluate step's report plus `student` (ensemble vs student: test
            error, parameters, CPU milliseconds per image at batch 1 and 64).
        metrics: the student's and the ensemble's test error, parameters and latency.
        accelerator: "GPU" or "TPU" when the task was given one (the task fails if TensorFlow
            cannot see it).
    """
    import json

    from adanas import config, student as distill
    from components.glue import log_metrics

    cfg = config.parse_dataclass(config.StudentConfig, json.loads(student_config), "export.student")
    record = distill.distill_step(cfg, config.section_from_json("training", training), seed,
                                  dataset.path, exported_model.path, report.path, student.path,
                                  final_report.path, accelerator)
    student.metadata.update({"arch": record["spec"]["arch_str"],
                             "temperature": record["metrics"]["temperature"]})
    comparison = record["comparison"]
    values = {}
    for who in ("student", "ensemble"):
        values.update({f"{who}_test_error": comparison[who]["test_error"],
                       f"{who}_params": comparison[who]["params"],
                       **{f"{who}_ms_per_image_{b}": ms
                          for b, ms in comparison[who]["latency_ms_per_image"].items()}})
    log_metrics(metrics, values)
