"""A distilled single model: one network trained on the final ensemble's soft targets, exported
like the ensemble, and compared with it side by side (the distill step).

The teacher is the exported ensemble itself (`ensemble.keras` of the evaluate step's exported
model artifact), frozen, running inside each training step on the same augmented batch as the
student (train.with_teacher). The loss is the search's distillation loss (adanas.train):
CE_ls(labels, s) + T^2 CE(softmax(t / T), s / T) + weight decay, with T = export.student's
temperature; optimizer, schedule, batch size, label smoothing and weight decay are the
`training` section's, the length is export.student.epochs. The student is exported as the
ensemble is (student.keras and a SavedModel with the same signatures, its own calibration
temperature), and the comparison (test error, parameters, CPU latency per image at batch 1 and
64) goes into student.json and into a copy of the evaluate step's report.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any


from adanas import artifacts, calibration, checkpoints, metrics, models, serving, train
from adanas.config import StudentConfig, TrainingConfig
from adanas.report import table

log = logging.getLogger(__name__)

NAME = "student"
BATCH_SIZES = (1, 64)
# Test images the export check and the latency timing use (the first records of the split).
SAMPLE_IMAGES = 64


def student_spec(cfg: StudentConfig, seed: int) -> dict[str, Any]:
    """The student as a candidate spec (adanas.generators' format), so models.build_model
    builds it. Its seed follows every candidate's (generators.candidate_seed < seed * 10000 +
    9999)."""
    family = models.family_of(cfg.family, cfg.builder)
    arch = cfg.arch()
    return {"name": NAME, "family": family.name, "arch": family.to_dict(arch),
            "arch_str": family.describe(arch), "move": "distilled", "iteration": -1,
            "seed": seed * 10_000 + 9_999, **family.spec_fields()}


def train_student(spec: dict[str, Any], cfg: StudentConfig, training: TrainingConfig,
                  dataset_dir: str | os.PathLike, teacher_file: str | os.PathLike,
                  out_dir: str | os.PathLike):
    """Trains the student against the frozen teacher (a Keras model file: raw images in,
    logits out). Returns (the student's inference model, training metrics)."""
    with train.precision(training.use_bf16):
        return _train(spec, cfg, training, dataset_dir, teacher_file, out_dir)


def _train(spec, cfg: StudentConfig, training: TrainingConfig, dataset_dir, teacher_file, out_dir):
    import keras

    from adanas import inputs  # TensorFlow's input pipeline, as in the train step

    keras.utils.set_random_seed(spec["seed"])
    meta = artifacts.dataset_meta(dataset_dir)
    num_classes = meta["num_classes"]
    n_train = int(meta["splits"]["train"])
    family = models.family_of_spec(spec)
    dist = train.strategy(training.distribution)
    with dist.scope():
        student = models.build_model(spec, meta["image_shape"], num_classes, training.weight_decay)
        teacher = keras.saving.load_model(teacher_file, compile=False)
        if teacher.outputs[0].shape[-1] != num_classes:
            raise ValueError(f"the teacher {teacher_file} has {teacher.outputs[0].shape[-1]} "
                             f"outputs, the dataset {num_classes} classes")
        trained = train.with_teacher(student, teacher)
    outputs = len(student.outputs)
    batch = min(training.batch_size, n_train)
    steps_per_epoch = max(1, n_train // batch)
    total_steps = cfg.epochs * steps_per_epoch
    # As in the train step: the distillation loss, plus the auxiliary head's where there is one.
    train.compile_for_training(trained, spec, num_classes, training, total_steps, dist,
                               train.subnetwork_loss(num_classes, training.label_smoothing, True,
                                                     cfg.temperature, live=True))
    # A retried distill step resumes from its checkpoint, as a train task does (adanas.train).
    with dist.scope():
        done, checkpoint_loss = checkpoints.restore(trained, train.backup_dir(out_dir))
    ds = inputs.training_stream(dataset_dir, meta, batch, meta["augmentation"], seed=spec["seed"],
                                shuffle_buffer=training.shuffle_buffer, outputs=outputs,
                                skip=done * steps_per_epoch * batch)
    log.info("[student] training %s (%d params) on the ensemble's soft targets (T=%g): %d epochs "
             "x %d steps of %d", spec["arch_str"], train.count_params(student), cfg.temperature,
             cfg.epochs, steps_per_epoch, batch)
    t0 = time.perf_counter()
    # The candidates' callbacks: progress lines, drop path burn-in, a checkpoint each epoch.
    history = trained.fit(ds, epochs=cfg.epochs, initial_epoch=done, steps_per_epoch=steps_per_epoch,
                          verbose=0, shuffle=False,
                          callbacks=train.fit_callbacks(NAME, cfg.epochs, total_steps,
                                                     getattr(student, "drop_path_schedule", None),
                                                     train.backup_dir(out_dir),
                                                     training.checkpoint_min_seconds))
    train_seconds = time.perf_counter() - t0
    final_loss = float(history.history["loss"][-1]) if history.epoch else checkpoint_loss
    if not math.isfinite(final_loss):
        raise FloatingPointError(f"[student] training diverged: loss {final_loss}")
    inference = train.servable(family, student)
    return inference, {"train_loss": final_loss, "train_seconds": train_seconds,
                       "train_steps": total_steps, "epochs": cfg.epochs,
                       "distillation_temperature": cfg.temperature}


def compare(ensemble: dict[str, Any], student: dict[str, Any], test_examples: int) -> dict[str, Any]:
    """The side-by-side record (report["student"]): {"ensemble": {...}, "student": {...}} with
    test_error, params, latency_ms_per_image {batch_1, batch_64} each."""
    return {"test_examples": test_examples, "latency_device": "CPU",
            "cpu_count": os.cpu_count(), "ensemble": ensemble, "student": student}


def format_comparison(comparison: dict[str, Any]) -> str:
    """A Markdown table of the comparison, and one line reading it."""
    def row(label, m):
        lat = m["latency_ms_per_image"]
        return [label, m["arch"], f"{m['params']:,}", f"{100 * m['test_error']:.2f}%",
                f"{lat['batch_1']:.3f}", f"{lat['batch_64']:.4f}"]
    e, s = comparison["ensemble"], comparison["student"]
    speed = e["latency_ms_per_image"]["batch_1"] / s["latency_ms_per_image"]["batch_1"]
    return "\n".join([
        table(["model", "architecture", "params", "test error", "CPU ms/image, batch 1",
               "CPU ms/image, batch 64"], [row("ensemble", e), row("student", s)]),
        "",
        f"Distilled student: {s['arch']}, {s['params'] / max(e['params'], 1):.0%} of the "
        f"ensemble's parameters, {speed:.1f}x its speed at batch 1, test error "
        f"{100 * s['test_error']:.2f}% vs {100 * e['test_error']:.2f}% on "
        f"{comparison['test_examples']} examples; agrees with the ensemble on "
        f"{100 * s['agreement_with_ensemble']:.1f}% of them.",
    ])


def distill_step(cfg: StudentConfig, training: TrainingConfig, seed: int,
                 dataset_dir: str | os.PathLike, exported_model_dir: str | os.PathLike,
                 report_dir: str | os.PathLike, out_dir: str | os.PathLike,
                 report_out: str | os.PathLike, expected_accelerator: str = "") -> dict[str, Any]:
    """The distill step: trains the student on the exported ensemble's soft targets, exports it
    (student.keras, SavedModel), measures both models, writes the Student artifact and the
    evaluate step's report with the comparison added (`student`). Returns student.json."""
    import keras

    from adanas import inputs  # TensorFlow's input pipeline, as in the train step

    train.check_accelerator(expected_accelerator)
    meta = artifacts.dataset_meta(dataset_dir)
    spec = student_spec(cfg, seed)
    teacher_file = artifacts.exported_model(exported_model_dir)
    # The exported ensemble's members may use a user's custom layers: their builders register
    # them (the report names them since 2026-12-01).
    models.import_builders(artifacts.read_report(report_dir)["members"])
    inference, fit = train_student(spec, cfg, training, dataset_dir, teacher_file, out_dir)

    # The student's logits, cached per shard in its artifact as a candidate's are, scored as
    # they are written; agreement with the ensemble shard by shard: one shard in memory.
    ensemble = keras.saving.load_model(teacher_file, compile=False)
    scores = {s: metrics.Score() for s in ("validation", "test")}
    agree = 0

    def agreeing(predicted):
        nonlocal agree
        for logits, ensembled in zip(predicted, inputs.predict_shards(ensemble, dataset_dir, "test", meta)):
            agree += int((logits.argmax(-1) == ensembled.argmax(-1)).sum())
            yield logits

    predicted = {s: inputs.predict_and_score(inference, dataset_dir, s, meta, scores[s]) for s in scores}
    predicted["test"] = agreeing(predicted["test"])
    artifacts.write_candidate_logits(out_dir, predicted)
    cached = artifacts.read_candidate_logits(out_dir)
    temperature, unfitted = calibration.serving_temperature(
        lambda: zip(cached["validation"], artifacts.dataset_labels(dataset_dir, "validation", meta)))
    inference.save(artifacts.student_model(out_dir))
    saved = serving.export_saved_model(inference, artifacts.saved_model_dir(out_dir),
                                       meta["image_shape"], meta["class_names"], temperature)
    sample = inputs.first_images(dataset_dir, "test", SAMPLE_IMAGES, meta)
    drift = serving.check_export(saved, sample, next(iter(cached["test"]))[:len(sample)], temperature)
    n_test = int(meta["splits"]["test"])

    ensemble_report = artifacts.read_report(report_dir)
    ensemble_saved = artifacts.saved_model_dir(exported_model_dir)
    student_metrics = {
        "arch": spec["arch_str"],
        "params": train.count_params(inference),
        "test_error": scores["test"].error,
        "test_loss": scores["test"].loss,
        "validation_error": scores["validation"].error,
        "agreement_with_ensemble": agree / n_test,
        "temperature": temperature,
        "temperature_unfitted": unfitted,
        "latency_ms_per_image": serving.cpu_latency(saved, sample, BATCH_SIZES),
        "saved_model_bytes": serving.saved_model_bytes(saved),
        **fit,
    }
    members = ensemble_report["members"]
    ensemble_metrics = {
        "arch": f"{len(members)} member{'s' if len(members) != 1 else ''}: "
                + " + ".join(m["arch"] for m in members),
        "params": ensemble_report["total_params"],
        "test_error": ensemble_report["test_error"],
        "test_loss": ensemble_report["test_loss"],
        "temperature": ensemble_report.get("temperature"),
        "latency_ms_per_image": serving.cpu_latency(ensemble_saved, sample, BATCH_SIZES),
        "saved_model_bytes": serving.saved_model_bytes(ensemble_saved),
    }
    comparison = compare(ensemble_metrics, student_metrics, n_test)
    record = {"spec": spec, "metrics": student_metrics, "serving_drift": drift,
              "model": artifacts.STUDENT_MODEL, "saved_model": saved.name,
              "comparison": comparison}
    artifacts.write_student(out_dir, record)
    checkpoints.remove(train.backup_dir(out_dir))
    artifacts.extend_report(report_dir, report_out, {"student": comparison},
                            "## Distilled student\n\n" + format_comparison(comparison))
    log.info("student %s: test error %.4f (ensemble %.4f), %d params (ensemble %d)",
             spec["arch_str"], student_metrics["test_error"], ensemble_metrics["test_error"],
             student_metrics["params"], ensemble_metrics["params"])
    return record
