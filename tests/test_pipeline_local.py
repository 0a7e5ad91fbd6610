"""The whole pipeline, run for real by kfp.local's SubprocessRunner on a tiny config.

Every run here is hermetic (pipelines/hermetic.py): each task gets copies of its declared input
artifacts only, with the rest of the pipeline root hidden, as on open-source KFP.
"""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from adanas import artifacts, config
from pipelines.hermetic import namespaces_available
from pipelines.local_run import run_local
from conftest import tiny_config_dict

pytestmark = pytest.mark.slow


def run_hermetic(cfg, root, **kw):
    assert namespaces_available(), "hermetic tests need a mount namespace (root or user namespaces)"
    return run_local(cfg, root, hermetic=True, **kw)


def test_pipeline_runs_locally_and_grows_the_ensemble(tmp_path):
    cfg = config.from_dict(tiny_config_dict())
    report, report_dir = run_hermetic(cfg, tmp_path / "root")
    assert [it["ensemble_size"] for it in report["iterations"]] == [1, 2]
    assert [it["chosen"].split("_")[0] for it in report["iterations"]] == ["i0", "i1"]
    assert report["returned"]["grown_ensemble_size"] == 2 and 0.0 <= report["test_error"] <= 1.0
    assert report["ensemble_size"] == len(report["members"]) >= 1
    assert report["logit_drift"] < 1e-3
    assert (report_dir / "report.md").exists()

    # The exported ensemble loads and reproduces the reported test error on raw images.
    model = keras.saving.load_model(report["model"])
    dataset_dir = next((tmp_path / "root").glob("*/prepare-dataset/dataset"))
    x, y = artifacts.dataset_split(dataset_dir, "test")
    err = float((model.predict(x, verbose=0).argmax(-1) != y).mean())
    assert err == pytest.approx(report["test_error"])

    # Every candidate was trained in its own task folder, one per ParallelFor iteration.
    trained = sorted(p.parent.parent.name for p in (tmp_path / "root").glob("*/*/train-candidate*/model/candidate.json"))
    assert len(trained) == 4


def test_early_stopping_skips_the_remaining_iterations(tmp_path):
    # A margin no iteration can meet: iteration 1 runs (iteration 0 has nothing to improve on),
    # then the search ends in the Else branch instead of running iteration 2.
    cfg = config.from_dict(tiny_config_dict(boosting_iterations=3, early_stopping_margin=100.0))
    report, _ = run_hermetic(cfg, tmp_path / "root")
    assert [it["iteration"] for it in report["iterations"]] == [0, 1]
    assert report["stopped"].startswith("early stop: iteration 1")
    assert not list((tmp_path / "root").rglob("*iteration-2*"))


def test_in_process_search_matches_the_pipeline(tmp_path, monkeypatch):
    """Same seed, same steps: the DAG under kfp.local and the in-process loop agree exactly."""
    import gc

    from adanas.search import run_search
    cfg = config.from_dict(tiny_config_dict())
    dag, _ = run_hermetic(cfg, tmp_path / "root")
    collected, collect = [], gc.collect
    monkeypatch.setattr(gc, "collect", lambda *a: collected.append(1) or collect(*a))
    direct, _ = run_search(cfg, tmp_path / "direct")
    for key in ("test_error", "test_loss", "ensemble_size", "total_params"):
        assert direct[key] == dag[key], key
    assert [it["chosen"] for it in direct["iterations"]] == [it["chosen"] for it in dag["iterations"]]
    # Every step is timed, in order, each candidate's training on its own.
    stages = list(direct["stage_seconds"])
    assert stages[0] == "data" and stages[-1] == "evaluate" and "select-0" in stages
    assert sum(s.startswith("train-") for s in stages) == sum(it["candidates"] for it in direct["iterations"])
    assert all(v >= 0 for v in direct["stage_seconds"].values())
    # The tasks' garbage is collected after each one, timed on its own, not left to a late
    # collection that may land inside a budgeted task.
    assert len(collected) >= sum(it["candidates"] for it in direct["iterations"])
    assert sum(s.startswith("collect-") for s in stages) == sum(it["candidates"] for it in direct["iterations"])


def test_failed_candidates_do_not_fail_the_pipeline(tmp_path, monkeypatch):
    # Task processes import the user's builder, as an image with the user's package would.
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    cfg = config.from_dict(tiny_config_dict(
        family="keras", builder="example_builders:fragile", architecture={"layers": 1, "units": 8},
        generator="example_builders:one_good_one_nan_one_broken", candidates_per_iteration=3,
        boosting_iterations=1))
    report, report_dir = run_hermetic(cfg, tmp_path / "root")
    assert report["ensemble_size"] == 1
    assert report["iterations"][0]["failed"] == ["i0_c1", "i0_c2"]
    assert "failed candidates in iteration 0: i0_c1, i0_c2" in (report_dir / "report.md").read_text()
    assert report["accelerator"] == "CPU" and report["accelerator_hours"] == 0.0 and report["task_hours"] > 0


def test_caching_reuses_finished_tasks_and_reruns_what_a_change_touches(tmp_path):
    cfg = config.from_dict(tiny_config_dict(boosting_iterations=1))
    root = tmp_path / "root"
    first, _ = run_hermetic(cfg, root, enable_caching=True)
    again, _ = run_hermetic(cfg, root, enable_caching=True)
    changed_cfg = config.from_dict(tiny_config_dict(boosting_iterations=1) | {
        "training": {"batch_size": 16, "train_epochs": None, "max_iteration_steps": 6, "label_smoothing": 0.2}})
    changed, _ = run_hermetic(changed_cfg, root, enable_caching=True)
    runs = sorted(p for p in root.iterdir() if p.name.startswith(cfg.name))
    ran = [{t for t in ("prepare-dataset", "generate-candidates", "train-candidate", "select-ensemble",
                        "evaluate-ensemble") if list(run.rglob(f"{t}/executor_output.json"))}
           for run in runs]
    assert ran[0] == {"prepare-dataset", "generate-candidates", "train-candidate", "select-ensemble",
                      "evaluate-ensemble"}
    assert ran[1] == {"evaluate-ensemble"}          # everything reused (evaluation always runs)
    assert again["test_error"] == first["test_error"]
    # A training hparam changed: data and candidates are reused, training and what follows rerun.
    assert ran[2] == {"train-candidate", "select-ensemble", "evaluate-ensemble"}
    assert changed["ensemble_size"] == 1


def test_a_distilling_search_runs_hermetically(tmp_path):
    # Iteration 1's candidates learn from the teachers the ensemble artifact carries.
    cfg = config.from_dict({**tiny_config_dict(), "training": {
        "batch_size": 16, "train_epochs": None, "max_iteration_steps": 6,
        "knowledge_distillation": "adaptive"}})
    report, _ = run_hermetic(cfg, tmp_path / "root")
    assert report["returned"]["grown_ensemble_size"] == 2
    ensembles = list((tmp_path / "root").glob("*/select-ensemble*/ensemble"))
    last = artifacts.ensemble_record(max(ensembles, key=lambda p: artifacts.ensemble_record(p)["iteration"]))
    assert [c["distilled"] for c in last["history"][1]["candidates"]] == [True, True]


def test_a_caruana_search_runs_hermetically(tmp_path):
    # Caruana may pick any pool model of any iteration: the ensemble carries the whole pool.
    cfg = config.from_dict(tiny_config_dict(ensembler="caruana", caruana_rounds=5))
    report, _ = run_hermetic(cfg, tmp_path / "root")
    assert 1 <= report["ensemble_size"] <= 4 and report["logit_drift"] < 1e-3
    # Each iteration reports only the members it added.
    chosen = [c for it in report["iterations"] if it["chosen"] for c in it["chosen"].split(", ")]
    assert len(chosen) == len(set(chosen))


def _png_folder(root: Path, per_class: int = 6) -> Path:
    import tensorflow as tf
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for label, colour in (("dark", 40), ("light", 210)):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = np.clip(rng.normal(colour, 20, (8, 8, 3)), 0, 255).astype(np.uint8)
                tf.io.write_file(str(folder / f"{i}.png"), tf.io.encode_png(pixels))
    return root


def test_reused_components_in_a_pipeline_of_ones_own_run_hermetically(tmp_path):
    """A user's own small pipeline: prepare an image folder, train one candidate, select,
    evaluate, with the AdaNAS components and nothing else."""
    from kfp import dsl, local

    import components
    from pipelines.hermetic import hermetic_tasks

    images = _png_folder(tmp_path / "images")
    ops = components.build()
    spec = json.dumps({"name": "mine", "family": "cnn", "arch": {"num_layers": 1, "filters": 4},
                       "arch_str": "cnn(1@4)", "move": "base", "iteration": 0, "seed": 3})
    cfg = config.from_dict({"dataset": {"name": "folder", "data_dir": str(images),
                                        "validation_fraction": 0.25},
                            "augmentation": {"policy": "none"},
                            "training": {"batch_size": 4, "train_epochs": 2}})
    sections = {n: config.section_json(cfg, n) for n in ("dataset", "augmentation", "search", "training")}

    @dsl.pipeline(name="my-own-pipeline")
    def mine(iteration: int = 0):
        data = ops.prepare_dataset(dataset_config=sections["dataset"], augmentation=sections["augmentation"])
        with dsl.ParallelFor([spec]) as candidate:
            train = ops.train_candidate(candidate=candidate, training=sections["training"],
                                        dataset=data.outputs["dataset"])
        select = ops.select_ensemble(search=sections["search"], seed=0, iteration=iteration,
                                     dataset=data.outputs["dataset"],
                                     candidates=dsl.Collected(train.outputs["model"]))
        ops.evaluate_ensemble(dataset=data.outputs["dataset"], ensemble=select.outputs["ensemble"])

    root = tmp_path / "root"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    with hermetic_tasks(root):
        mine()
    (report_dir,) = root.glob("my-own-pipeline-*/evaluate-ensemble/report")
    report = artifacts.read_report(report_dir)
    assert report["ensemble_size"] == 1 and report["members"][0]["name"] == "mine"
    assert report["test_examples"] == 12 and report["logit_drift"] < 1e-3
