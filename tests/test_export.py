"""The servable export (adanas/serving.py), temperature scaling (adanas/calibration.py) and the
distilled student (adanas/student.py, components/distill_student/), on a real tiny search."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from adanas import artifacts, calibration, config, metrics, serving
from adanas.search import run_search
from conftest import tiny_config_dict


def _softmax(logits, temperature=1.0):
    return np.exp(metrics.log_softmax(np.asarray(logits, np.float64) / temperature))


# --- temperature scaling ------------------------------------------------------------------------

def _sampled(temperature, n=4000, classes=10, seed=0):
    """Logits z and labels drawn from softmax(z / temperature): that T is the calibrated one."""
    rng = np.random.default_rng(seed)
    z = 3.0 * rng.normal(size=(n, classes))
    p = _softmax(z, temperature)
    labels = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return z, labels


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_fit_temperature_finds_the_calibrated_temperature(true_t):
    z, y = _sampled(true_t)
    t = calibration.fit_temperature(z, y)
    assert t == pytest.approx(true_t, rel=0.06)
    # It is the minimiser of the NLL: a grid around it does no better.
    grid = np.linspace(0.5 * t, 1.5 * t, 201)
    nll = metrics.cross_entropy(z / t, y)
    assert nll <= min(metrics.cross_entropy(z / g, y) for g in grid) + 1e-6
    # Scaling the logits scales the temperature.
    assert calibration.fit_temperature(2.0 * z, y) == pytest.approx(2.0 * t, rel=1e-3)


def test_fit_temperature_limits_and_bad_input():
    # Perfectly separated: the loss falls as T -> 0 (sharper is better), within the bounds.
    t = calibration.fit_temperature(5.0 * np.eye(3), [0, 1, 2])
    assert calibration.MIN_TEMPERATURE <= t < 0.2
    with pytest.raises(ValueError, match="expected logits"):
        calibration.fit_temperature(np.zeros((4, 3)), [0, 1])


def test_where_validation_is_classified_perfectly_the_mean_confidence_is_set_by_the_rule_of_succession():
    # Every example right: the NLL fit runs toward its bound (a probability of 1.0 for everything).
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 50)
    z = rng.normal(size=(50, 4)) + 6.0 * np.eye(4)[y]
    sharp = calibration.fit_temperature(z, y)
    assert sharp < 0.2 and np.exp(metrics.log_softmax(z / sharp)).max(axis=-1).min() > 0.9999
    t, how = calibration.serving_temperature(lambda: [(z[:20], y[:20]), (z[20:], y[20:])])
    probs = np.exp(metrics.log_softmax(z / t))
    assert probs.max(axis=-1).mean() == pytest.approx(51 / 52, abs=1e-4)
    assert "classified perfectly (50 of 50)" in how and "98.08%" in how and "bound" not in how
    # Logits so far apart that even T at its bound cannot bring the confidence down: said so.
    t, how = calibration.serving_temperature(lambda: [(z * 1e4, y)])
    assert t == pytest.approx(calibration.MAX_TEMPERATURE, rel=1e-3)
    assert how.endswith("at T's bound, 100, it is still 100.00%")
    # One error among them: the NLL has a minimum, and that is what is served.
    y_wrong = y.copy()
    y_wrong[0] = (y[0] + 1) % 4
    t, how = calibration.serving_temperature(lambda: [(z, y_wrong)])
    assert how == "" and t == calibration.fit_temperature(z, y_wrong)


# --- a tiny search with a student ----------------------------------------------------------------

@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A real tiny search (in process, the pipeline's library calls), then the distill step."""
    work = tmp_path_factory.mktemp("search")
    cfg = config.from_dict({**tiny_config_dict(), "export": {
        "student": {"architecture": {"num_layers": 1, "filters": 4}, "epochs": 2, "temperature": 3.0}}})
    report, report_dir = run_search(cfg, work)
    return cfg, work, report, report_dir


def test_the_saved_model_serves_what_the_keras_ensemble_predicts(searched):
    _, work, report, _ = searched
    dataset = work / "dataset"
    meta = artifacts.dataset_meta(dataset)
    x, _ = artifacts.dataset_split(dataset, "test")
    logits = keras.saving.load_model(artifacts.exported_model(work / "exported_model")).predict(x, verbose=0)
    t = report["temperature"]
    assert calibration.MIN_TEMPERATURE <= t <= calibration.MAX_TEMPERATURE and t != 1.0
    assert report["saved_model"] == "saved_model" and report["serving_drift"] < 1e-5

    loaded = tf.saved_model.load(str(artifacts.saved_model_dir(work / "exported_model")))
    assert {serving.DEFAULT_SIGNATURE, serving.BYTES_SIGNATURE} <= set(loaded.signatures)
    default = loaded.signatures[serving.DEFAULT_SIGNATURE]
    assert default.structured_input_signature[1]["images"].dtype == tf.uint8
    out = {k: v.numpy() for k, v in default(images=tf.constant(x)).items()}
    assert set(out) == set(serving.OUTPUTS)
    np.testing.assert_array_equal(out["top_class"], logits.argmax(-1))
    np.testing.assert_allclose(out["probabilities"], _softmax(logits, t), atol=1e-5)
    names = np.array([n.encode() for n in meta["class_names"]])
    assert out["class_names"].shape == (len(x), meta["num_classes"])
    assert (out["class_names"] == names).all()
    np.testing.assert_array_equal(out["top_class_name"], names[logits.argmax(-1)])

    # The same images as PNG bytes: decoded, no resampling, the same outputs.
    pngs = tf.constant([tf.io.encode_png(image).numpy() for image in x])
    by_bytes = {k: v.numpy() for k, v in loaded.signatures[serving.BYTES_SIGNATURE](image_bytes=pngs).items()}
    np.testing.assert_array_equal(by_bytes["top_class"], logits.argmax(-1))
    np.testing.assert_allclose(by_bytes["probabilities"], _softmax(logits, t), atol=1e-5)
    np.testing.assert_array_equal(by_bytes["top_class_name"], out["top_class_name"])


def test_the_bytes_signature_takes_other_sizes_and_channels(searched):
    _, work, _, _ = searched
    x, _ = artifacts.dataset_split(work / "dataset", "test")
    fn = tf.saved_model.load(str(artifacts.saved_model_dir(work / "exported_model"))).signatures[serving.BYTES_SIGNATURE]
    # A 4x larger RGB JPEG of the first digit, and its 8x8 grayscale PNG.
    big = tf.image.resize(tf.image.grayscale_to_rgb(tf.cast(x[0], tf.float32)), [32, 32], method="nearest")
    jpeg = tf.io.encode_jpeg(tf.cast(big, tf.uint8), quality=100)
    out = fn(image_bytes=tf.stack([jpeg, tf.io.encode_png(x[0])]))
    p = out["probabilities"].numpy()
    assert p.shape == (2, 10) and np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    # GIF and BMP (TF decodes them to colour only) of the same grey digit serve as its PNG does.
    import io

    from PIL import Image
    encoded = []
    for fmt in ("GIF", "BMP"):
        buffer = io.BytesIO()
        Image.fromarray(x[0][..., 0]).convert("RGB").save(buffer, format=fmt)
        encoded.append(buffer.getvalue())
    both = fn(image_bytes=tf.constant(encoded + [tf.io.encode_png(x[0]).numpy()]))["probabilities"].numpy()
    np.testing.assert_allclose(both[0], both[2], atol=1e-6)
    np.testing.assert_allclose(both[1], both[2], atol=1e-6)


def test_the_student_is_exported_like_the_ensemble_and_compared_with_it(searched):
    cfg, work, report, report_dir = searched
    record = artifacts.read_student(work / "student")
    spec, m = record["spec"], record["metrics"]
    assert spec["arch_str"] == "cnn(1@4)" and m["epochs"] == 2 and m["distillation_temperature"] == 3.0
    assert m["train_steps"] == 2 * (artifacts.dataset_meta(work / "dataset")["splits"]["train"] // 16)

    x, y = artifacts.dataset_split(work / "dataset", "test")
    student = keras.saving.load_model(artifacts.student_model(work / "student"))
    logits = student.predict(x, verbose=0)
    assert m["params"] == sum(int(np.prod(w.shape)) for w in student.trainable_weights)
    assert m["test_error"] == pytest.approx(metrics.error_rate(logits, y))
    served = serving.serve(artifacts.saved_model_dir(work / "student"), x)
    np.testing.assert_allclose(served["probabilities"], _softmax(logits, m["temperature"]), atol=1e-5)
    ensemble = keras.saving.load_model(artifacts.exported_model(work / "exported_model")).predict(x, verbose=0)
    assert m["agreement_with_ensemble"] == pytest.approx(float((logits.argmax(-1) == ensemble.argmax(-1)).mean()))

    # Side by side, in student.json and in the report (record and Markdown).
    comparison = record["comparison"]
    assert report["student"] == comparison and artifacts.read_report(report_dir)["student"] == comparison
    assert report_dir.name == "final_report"
    evaluated = artifacts.read_report(work / "report")
    assert comparison["ensemble"]["test_error"] == evaluated["test_error"]
    assert comparison["ensemble"]["params"] == evaluated["total_params"]
    for who in ("ensemble", "student"):
        latency = comparison[who]["latency_ms_per_image"]
        assert set(latency) == {"batch_1", "batch_64"} and all(v > 0 for v in latency.values())
    markdown = (report_dir / "report.md").read_text()
    assert markdown.startswith((work / "report" / "report.md").read_text().rstrip("\n"))
    assert "## Distilled student" in markdown and "| student  | cnn(1@4)" in markdown


def test_the_distill_component_logs_both_models(searched, tmp_path):
    """The component body through python_func, as the task runs it."""
    from kfp import dsl

    import components
    cfg, work, _, _ = searched
    student, report, metrics_out = (dsl.Model(uri=str(tmp_path / "student")),
                                    dsl.Artifact(uri=str(tmp_path / "final")),
                                    dsl.Metrics(uri=str(tmp_path / "metrics")))
    components.build().distill_student.python_func(
        student_config=json.dumps({"family": "dnn", "architecture": {"units": 8}, "epochs": 1}),
        training=config.section_json(cfg, "training"), seed=cfg.seed,
        dataset=dsl.Dataset(uri=str(work / "dataset")),
        exported_model=dsl.Model(uri=str(work / "exported_model")),
        report=dsl.Artifact(uri=str(work / "report")), student=student, final_report=report,
        metrics=metrics_out)
    assert student.metadata["arch"] == "dnn(1@8)"
    assert set(metrics_out.metadata) == {f"{w}_{k}" for w in ("student", "ensemble") for k in
                                         ("test_error", "params", "ms_per_image_batch_1",
                                          "ms_per_image_batch_64")}
    assert artifacts.read_report(tmp_path / "final")["student"]["student"]["arch"] == "dnn(1@8)"


def test_the_distill_step_follows_evaluate_in_both_branches(tmp_path):
    from pipelines.adanas_pipeline import compile_pipeline
    cfg = config.from_dict({**tiny_config_dict(), "resources": {"train": {"cpu_limit": "3"}},
                            "export": {"student": {"epochs": 4}}})
    spec = yaml.safe_load(compile_pipeline(cfg, tmp_path / "p.yaml").read_text())
    dags = [spec["root"]["dag"]] + [c["dag"] for c in spec["components"].values() if "dag" in c]
    tasks = {n: t for d in dags for n, t in d["tasks"].items()}
    distills = [n for n in tasks if n.startswith("distill-student")]
    assert len(distills) == 2
    for name in distills:
        (evaluate,) = tasks[name]["dependentTasks"]
        assert evaluate.startswith("evaluate-ensemble")
        student = json.loads(tasks[name]["inputs"]["parameters"]["student_config"]["runtimeValue"]["constant"])
        assert student["epochs"] == 4
    executor = spec["components"]["comp-distill-student"]["executorLabel"]
    container = spec["deploymentSpec"]["executors"][executor]["container"]
    assert container["resources"]["cpuLimit"] == 3   # training's resources


def test_a_custom_job_config_distills_in_a_custom_job(tmp_path):
    from pipelines.adanas_pipeline import compile_pipeline
    cfg = config.from_dict({**tiny_config_dict(), "image": "europe-docker.pkg.dev/p/r/adanas",
                            "resources": {"train": {"accelerator_type": "NVIDIA_L4", "accelerator_count": 1},
                                          "custom_job": {"enabled": True, "machine_type": "g2-standard-8"}},
                            "export": {"student": {}}})
    spec = yaml.safe_load(compile_pipeline(cfg, tmp_path / "p.yaml").read_text())
    executor = spec["components"]["comp-distill-student"]["executorLabel"]
    container = spec["deploymentSpec"]["executors"][executor]["container"]
    assert container["command"] == ["python3", "-m", "adanas.customjob"]
    options = json.loads(container["args"][1])
    assert options["machine_type"] == "g2-standard-8" and options["accelerator_type"] == "NVIDIA_L4"
    assert options["name_input"] is None and options["image"] == cfg.train_image_uri()


@pytest.mark.parametrize("student, path, message", [
    ({"family": "rnn"}, "export.student.family", "unknown family 'rnn'"),
    ({"architecture": {"layers": 2}}, "export.student.architecture.layers", "unknown key"),
    ({"family": "keras"}, "export.student.builder", "is required with family 'keras'"),
    ({"epochs": 0}, "export.student.epochs", "must be >= 1"),
    ({"temperature": 0.0}, "export.student.temperature", "must be > 0"),
])
def test_bad_student_settings_name_their_key(student, path, message):
    with pytest.raises(config.ConfigError) as e:
        config.from_dict({"export": {"student": student}})
    assert e.value.path == path and message in str(e.value)


# --- the Vertex AI prebuilt image's TensorFlow ------------------------------------------------

OLD_TF = os.environ.get("ADANAS_TF215_PYTHON")
LOAD_IN_OLD_TF = """
import sys, numpy as np, tensorflow as tf
folder, images = sys.argv[1], np.load(sys.argv[2])
pngs = np.array([tf.io.encode_png(i).numpy() for i in images], dtype=object)
# The loader TF Serving uses: a session on the MetaGraph tagged "serve", fed through the
# SignatureDefs' tensor names.
with tf.compat.v1.Session(graph=tf.Graph()) as sess:
    meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], folder)
    out = {}
    for name, feed in (("serving_default", images), ("serving_bytes", pngs)):
        sig = meta.signature_def[name]
        (inp,) = sig.inputs.values()
        out[name] = sess.run(sig.outputs["probabilities"].name, {inp.name: feed})
np.save(sys.argv[3], np.stack([out["serving_default"], out["serving_bytes"]]))
print(tf.__version__)
"""


@pytest.mark.skipif(not OLD_TF, reason="set ADANAS_TF215_PYTHON to a Python with tensorflow-cpu==2.15.1")
def test_the_saved_model_serves_in_the_prebuilt_images_tensorflow(searched, tmp_path):
    """Vertex AI's newest prebuilt TensorFlow prediction image is 2.15; we export with 2.21."""
    _, work, report, _ = searched
    x, _ = artifacts.dataset_split(work / "dataset", "test")
    np.save(tmp_path / "x.npy", x)
    for folder in (work / "exported_model", work / "student"):
        done = subprocess.run([OLD_TF, "-c", LOAD_IN_OLD_TF, str(artifacts.saved_model_dir(folder)),
                               str(tmp_path / "x.npy"), str(tmp_path / "p.npy")],
                              capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.strip().endswith("2.15.1")
        old = np.load(tmp_path / "p.npy")
        new = serving.serve(artifacts.saved_model_dir(folder), x)["probabilities"]
        np.testing.assert_allclose(old[0], new, atol=1e-5)
        np.testing.assert_allclose(old[1], new, atol=1e-5)


@pytest.mark.slow
def test_a_pipeline_with_a_student_runs_hermetically(tmp_path):
    """kfp.local, each task seeing only its declared inputs: distill-student after evaluate."""
    from pipelines.hermetic import namespaces_available
    from pipelines.local_run import run_local
    assert namespaces_available()
    cfg = config.from_dict({**tiny_config_dict(boosting_iterations=1), "export": {
        "student": {"architecture": {"num_layers": 1, "filters": 4}, "epochs": 1}}})
    report, report_dir = run_local(cfg, tmp_path / "root", hermetic=True)
    assert report_dir.name == "final_report" and report_dir.parent.name.startswith("distill-student")
    comparison = report["student"]
    assert comparison["student"]["arch"] == "cnn(1@4)"
    assert comparison["ensemble"]["test_error"] == report["test_error"]
    (student_dir,) = (tmp_path / "root").glob("*/distill-student/student")
    assert artifacts.read_student(student_dir)["comparison"] == comparison
    assert (artifacts.saved_model_dir(student_dir) / "saved_model.pb").exists()
    assert keras.saving.load_model(report["model"]).name == "adanas_ensemble"


def test_the_live_teacher_runs_in_inference_mode_inside_a_training_step():
    """Dropout in a teacher member must stay off while the student trains (trainable=False
    alone freezes batch-norm statistics, not dropout)."""
    from adanas import models, train

    def cnn(name, dropout):
        return models.build_model({"name": name, "family": "cnn", "arch_str": name, "seed": 0,
                                   "arch": {"num_layers": 1, "filters": 4, "dropout": dropout}},
                                  (8, 8, 1), 10, 0.0)
    teacher = cnn("teacher", 0.5)
    trained = train.with_teacher(cnn("student", 0.0), teacher)
    x = np.random.default_rng(0).uniform(0, 255, (8, 8, 8, 1)).astype("float32")
    in_training = np.asarray(trained(x, training=True))[:, 10:]
    np.testing.assert_allclose(in_training, np.asarray(teacher(x, training=False)), atol=1e-6)
    assert not any(w.trainable for w in teacher.weights)
    assert {id(w) for w in trained.trainable_weights} == {id(w) for w in trained.get_layer("student").trainable_weights}
