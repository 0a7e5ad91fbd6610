"""The paper's method: NASNet-A sizes, drop path, distillation losses, training options."""

import math

import keras
import numpy as np
import pytest

from adanas import artifacts, config, ensemble, generators, models, nasnet, train
from conftest import tiny_config_dict, write_candidate, write_dataset


def softplus(z):
    return math.log1p(math.exp(z))


@pytest.mark.parametrize("n, f, millions", [(6, 768, 3.3), (7, 2304, 32.6)])
def test_nasnet_parameter_counts_match_the_paper(n, f, millions):
    model = models.build_nasnet(models.NasnetArch(cells_per_stack=n, penultimate_filters=f),
                                (32, 32, 3), 10, 5e-4, "m")
    assert train.count_params(model) / 1e6 == pytest.approx(millions, abs=0.05)
    assert model.output.shape[-1] == 10


def test_nasnet_grows_deeper_and_wider_like_g_d():
    fam = models.FAMILIES["nasnet"]
    base = models.NasnetArch(cells_per_stack=6, penultimate_filters=768)
    assert fam.grow(base, depth=1) == models.NasnetArch(cells_per_stack=7, penultimate_filters=768)
    assert fam.grow(base, width=240).describe() == "nasnet(6@1008)"
    cfg = config.from_dict({"search": {"family": "nasnet", "generator": "dynamic",
                                       "growth": {"depth": 1, "width": 240}}})
    specs = generators.propose(cfg.search, 0, 1, {"family": "nasnet", "arch": {"cells_per_stack": 6,
                                                                               "penultimate_filters": 768}})
    assert [s["arch_str"] for s in specs] == ["nasnet(7@768)", "nasnet(6@1008)"]
    with pytest.raises(config.ConfigError, match="multiple of 24"):
        config.from_dict({"search": {"family": "nasnet", "architecture": {"penultimate_filters": 100}}})


def test_inference_model_drops_aux_head_and_drop_path_but_keeps_weights():
    arch = models.NasnetArch(cells_per_stack=1, penultimate_filters=48, use_aux_head=True)
    model = models.build_nasnet(arch, (32, 32, 3), 10, 0.0, "m")
    assert len(model.outputs) == 2
    assert any(isinstance(layer, nasnet.ScheduledDropPath) for layer in model.layers)
    clean = nasnet.inference_model(model)
    assert len(clean.outputs) == 1
    assert not any(isinstance(layer, nasnet.ScheduledDropPath) for layer in clean.layers)
    x = np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3)).astype(np.uint8)
    np.testing.assert_allclose(clean.predict(x, verbose=0), model.predict(x, verbose=0)[0], atol=1e-5)


def test_scheduled_drop_path():
    schedule = nasnet.Schedule()
    layer = nasnet.ScheduledDropPath(0.5, schedule)
    x = np.ones((400, 2, 2, 1), np.float32)
    np.testing.assert_array_equal(np.asarray(layer(x, training=True)), x)  # progress 0: keep all
    schedule.progress.assign(1.0)                                       # burn-in done: keep 0.5
    out = np.asarray(layer(x, training=True))[:, 0, 0, 0]
    assert set(np.unique(out)) <= {0.0, 2.0}
    assert 0.4 < (out == 0).mean() < 0.6
    schedule.progress.assign(0.5)                                       # halfway: keep 0.75
    out = np.asarray(layer(x, training=True))[:, 0, 0, 0]
    assert np.allclose(out[out != 0], 1 / 0.75) and 0.1 < (out == 0).mean() < 0.4
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)


@pytest.mark.parametrize("ls, tau", [(0.0, 1.0), (0.1, 1.0), (0.0, 2.0)])
def test_distillation_loss_by_hand(ls, tau):
    s, t = np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]])
    y = np.array([[1.0 - ls / 2, ls / 2]])                     # smoothed one-hot of class 0
    log_p = [-softplus(-1.0), -softplus(1.0)]                  # log softmax of s
    want_ce = -(y[0, 0] * log_p[0] + y[0, 1] * log_p[1])
    q = np.exp(t[0] / tau) / np.exp(t[0] / tau).sum()           # teacher's soft targets
    st = s[0] / tau
    log_q_s = st - np.log(np.exp(st).sum())
    want_kd = tau ** 2 * -(q * log_q_s).sum()
    plain = train.subnetwork_loss(2, ls, False, tau)(np.array([[1.0, 0.0]]), s)
    assert float(np.asarray(plain)[0]) == pytest.approx(want_ce, rel=1e-5)
    kd = train.subnetwork_loss(2, ls, True, tau)(np.array([[1.0, 0.0, 0.0, 2.0]]), s)
    assert float(np.asarray(kd)[0]) == pytest.approx(want_ce + want_kd, rel=1e-5)
    # Live teacher: the same loss, the teacher's logits arriving beside the student's.
    live = train.subnetwork_loss(2, ls, True, tau, live=True)(np.array([[1.0, 0.0]]),
                                                            np.concatenate([s, t], axis=1))
    assert float(np.asarray(live)[0]) == pytest.approx(want_ce + want_kd, rel=1e-5)


def _dataset(tmp_path, n_train=4):
    return write_dataset(tmp_path / "dataset", [0, 1], [0, 1], y_train=np.arange(n_train) % 2)


def test_select_caches_the_teachers_of_each_distillation_mode(tmp_path):
    search = config.from_dict(tiny_config_dict()).search
    ds = _dataset(tmp_path)
    tr0, tr1 = np.arange(8.0).reshape(4, 2), -np.arange(8.0).reshape(4, 2) * 3
    c0 = write_candidate(tmp_path / "c0", "i0_c0", [[2, 0], [0, 2]], [[2, 0], [0, 2]], train_logits=tr0)
    ensemble.select_step(search, 0, ds, [c0], None, tmp_path / "e0")
    c1 = write_candidate(tmp_path / "c1", "i1_c0", [[1, 0], [0, 1]], [[1, 0], [0, 1]], train_logits=tr1)
    ensemble.select_step(search, 1, ds, [c1], tmp_path / "e0", tmp_path / "e1")
    np.testing.assert_allclose(train.read_teacher(tmp_path / "e0", "adaptive").full(), tr0)
    np.testing.assert_allclose(train.read_teacher(tmp_path / "e1", "born_again").full(), tr1)
    np.testing.assert_allclose(train.read_teacher(tmp_path / "e1", "adaptive").full(), (tr0 + tr1) / 2)
    assert train.read_teacher(tmp_path / "e1", "none") is None
    assert train.read_teacher(None, "adaptive") is None


@pytest.mark.parametrize("teacher", ["cached", "live"])
def test_distilling_candidate_trains_from_its_teacher(digits_dir, tmp_path, teacher):
    cfg = config.from_dict({**tiny_config_dict(), "training": {
        "max_iteration_steps": 3, "train_epochs": None, "batch_size": 16,
        "knowledge_distillation": "adaptive", "distillation_temperature": 2.0,
        "distillation_teacher": teacher}})
    first, second = generators.propose(cfg.search, 0, 0, None)
    m0 = train.train_candidate(first, cfg.training, digits_dir, tmp_path / "c0")
    assert not m0["distilled"] and "train" in artifacts.read_candidate(tmp_path / "c0")[1]
    ensemble.select_step(cfg.search, 0, digits_dir, [tmp_path / "c0"], None, tmp_path / "e0")
    m1 = train.train_candidate(second, cfg.training, digits_dir, tmp_path / "c1", tmp_path / "e0")
    assert m1["distilled"] and np.isfinite(m1["train_loss"])
    # The saved model loads without our loss functions, and is the student alone.
    saved = keras.saving.load_model(artifacts.candidate_model(tmp_path / "c1"))
    assert saved.output.shape[-1] == 10


def test_live_teacher_sees_the_students_batch_and_stays_frozen(digits_dir, tmp_path):
    cfg = config.from_dict(tiny_config_dict(ensemble_strategies=["all"]))
    specs = generators.propose(cfg.search, 0, 0, None)
    for spec in specs:
        train.train_candidate(spec, cfg.training, digits_dir, tmp_path / spec["name"])
    ensemble.select_step(cfg.search, 0, digits_dir, [tmp_path / s["name"] for s in specs], None,
                         tmp_path / "e0")
    x, _ = artifacts.dataset_split(digits_dir, "train")
    members = [keras.saving.load_model(artifacts.candidate_model(tmp_path / s["name"])) for s in specs]
    want = {"adaptive": np.mean([m.predict(x[:16], verbose=0) for m in members], axis=0),
            "born_again": members[-1].predict(x[:16], verbose=0)}
    for mode, logits in want.items():
        teacher = train.live_teacher(tmp_path / "e0", mode, (8, 8, 1))
        student = models.build_model(specs[0], (8, 8, 1), 10, 0.0)
        joint = train.with_teacher(student, teacher)
        out = np.asarray(joint(x[:16].astype(np.float32), training=True))
        # The teacher's half is the previous ensemble on exactly the batch the student sees.
        np.testing.assert_allclose(out[:, 10:], logits, atol=1e-4)
        np.testing.assert_allclose(out[:, :10], np.asarray(student(x[:16].astype(np.float32), training=True)), atol=1e-5)
        assert not teacher.trainable_weights and joint.trainable_weights


def test_learning_rate_warmup_then_cosine():
    cfg = config.from_dict({"training": {"warmup_steps": 10, "initial_learning_rate": 0.1}}).training
    lr = train.learning_rate(cfg, 110)
    assert float(lr(0)) == pytest.approx(0.0)
    assert float(lr(5)) == pytest.approx(0.05, rel=1e-3)
    assert float(lr(10)) == pytest.approx(0.1, rel=1e-3)
    assert float(lr(60)) == pytest.approx(0.05, rel=1e-3)   # half-way through the cosine
    assert float(lr(110)) == pytest.approx(0.0, abs=1e-6)
    constant = train.learning_rate(config.from_dict({"training": {"learning_rate_schedule": "constant"}}).training, 100)
    assert constant == 0.025


@pytest.mark.parametrize("optimizer, extra", [("momentum", {"use_nesterov": True}), ("adam", {}),
                                              ("rmsprop", {}), ("sgd", {})])
def test_optimizers_and_precision_options_train(digits_dir, tmp_path, optimizer, extra):
    cfg = config.from_dict({**tiny_config_dict(), "training": {
        "max_iteration_steps": 2, "train_epochs": None, "batch_size": 8, "optimizer": optimizer,
        "use_bf16": optimizer == "adam", "use_xla": optimizer == "rmsprop", **extra}})
    spec = generators.propose(cfg.search, 0, 0, None)[0]
    metrics = train.train_candidate(spec, cfg.training, digits_dir, tmp_path)
    assert np.isfinite(metrics["train_loss"])
    info, logits = artifacts.read_candidate(tmp_path)
    assert logits["test"].full().dtype == np.float32 and info["metrics"]["train_steps"] == 2
    # Under bf16 too, the saved model gives float32 logits, and the mixed-precision policy
    # does not leak into what the process runs next.
    saved = keras.saving.load_model(artifacts.candidate_model(tmp_path))
    assert saved.output.dtype == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"


def test_nasnet_candidate_trains_with_aux_head_and_drop_path(tmp_path):
    """The training task on a NASNet-A candidate: aux loss, drop path burn-in, clean saved model."""
    from adanas import data
    from adanas.config import AugmentationConfig
    rng = np.random.default_rng(0)
    x = {s: rng.integers(0, 255, (32, 32, 32, 3), dtype=np.uint8) for s in data.SPLITS}
    y = {s: rng.integers(0, 10, 32) for s in data.SPLITS}
    data.write_splits(data.Splits(x, y, 10, [str(i) for i in range(10)], "random"),
                      AugmentationConfig(), tmp_path / "data", "random")
    cfg = config.from_dict({"training": {"max_iteration_steps": 3, "train_epochs": None, "batch_size": 8}})
    spec = {"name": "n0", "family": "nasnet", "arch_str": "nasnet(1@48)", "seed": 0,
            "arch": {"cells_per_stack": 1, "penultimate_filters": 48, "use_aux_head": True}}
    metrics = train.train_candidate(spec, cfg.training, tmp_path / "data", tmp_path / "out")
    assert np.isfinite(metrics["train_loss"]) and metrics["train_steps"] == 3
    saved = keras.saving.load_model(tmp_path / "out" / "model.keras")
    assert len(saved.outputs) == 1 and saved.output.shape[-1] == 10
    assert not any("drop_path" in type(layer).__name__.lower() for layer in saved.layers)
    # The inference model's parameter count excludes the auxiliary head.
    assert metrics["params"] < train.count_params(
        models.build_nasnet(models.NasnetArch(1, 48, use_aux_head=True), (32, 32, 3), 10, 0.0, "m"))
