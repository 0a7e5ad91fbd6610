"""Each component's body, called directly (comp.python_func) with real artifacts."""

import json

import numpy as np
from kfp import dsl

import components
from adanas import artifacts, config
from conftest import tiny_config_dict

OPS = components.build()


def _artifact(cls, path):
    a = cls(uri=str(path))
    return a


def test_components_end_to_end_by_hand(tmp_path):
    cfg = config.from_dict(tiny_config_dict())
    sections = {n: config.section_json(cfg, n) for n in ("dataset", "augmentation", "search", "training")}

    dataset = _artifact(dsl.Dataset, tmp_path / "dataset")
    preview = _artifact(dsl.HTML, tmp_path / "preview")
    OPS.prepare_dataset.python_func(dataset_config=sections["dataset"],
                                 augmentation=sections["augmentation"], dataset=dataset,
                                 preview=preview)
    assert (tmp_path / "preview").read_text().count("data:image/png;base64,") == 1
    assert dataset.metadata["num_classes"] == 10 and (tmp_path / "dataset" / "meta.json").exists()

    previous = None
    for t in range(2):
        specs = OPS.generate_candidates.python_func(search=sections["search"], seed=cfg.seed,
                                                    iteration=t, dataset=dataset,
                                                    previous_ensemble=previous)
        assert len(specs) == 2 and all(isinstance(s, str) for s in specs)
        models = []
        for spec in specs:
            name = json.loads(spec)["name"]
            model = _artifact(dsl.Model, tmp_path / name)
            metrics = _artifact(dsl.Metrics, tmp_path / f"{name}-metrics")
            OPS.train_candidate.python_func(candidate=spec, training=sections["training"],
                                            dataset=dataset, model=model, metrics=metrics,
                                            tensorboard=_artifact(dsl.Artifact, tmp_path / f"{name}-tb"))
            assert (tmp_path / f"{name}-tb").is_dir()   # tensorboard off: an empty output
            assert metrics.metadata["params"] > 0 and model.metadata["name"] == name
            models.append(model)
        ens = _artifact(dsl.Model, tmp_path / f"ensemble-{t}")
        go_on = OPS.select_ensemble.python_func(search=sections["search"], seed=cfg.seed,
                                                iteration=t, dataset=dataset, candidates=models,
                                                ensemble=ens,
                                                metrics=_artifact(dsl.Metrics, tmp_path / f"sm{t}"),
                                                previous_ensemble=previous)
        assert ens.metadata["size"] == t + 1
        assert go_on is (t + 1 < cfg.search.boosting_iterations)
        previous = ens
    # The dynamic generator grew the member chosen at iteration 0.
    chosen0 = artifacts.ensemble_record(tmp_path / "ensemble-0")["members"][0]["spec"]
    grown = [json.loads(s)["arch"] for s in specs]
    assert grown[0]["num_layers"] == chosen0["arch"]["num_layers"] + 1

    exported = _artifact(dsl.Model, tmp_path / "exported")
    report = _artifact(dsl.Artifact, tmp_path / "report")
    metrics = _artifact(dsl.Metrics, tmp_path / "final-metrics")
    OPS.evaluate_ensemble.python_func(dataset=dataset, ensemble=previous, exported_model=exported,
                                      report=report, metrics=metrics,
                                      report_markdown=_artifact(dsl.Markdown, tmp_path / "md"),
                                      report_html=_artifact(dsl.HTML, tmp_path / "html"),
                                      classification_metrics=(cm := _artifact(dsl.ClassificationMetrics,
                                                                               tmp_path / "cm")))
    assert "| iter |" in (tmp_path / "md").read_text() and "## Per class (test)" in (tmp_path / "md").read_text()
    assert (tmp_path / "html").read_text().count("data:image/png;base64,") >= 5
    confusion = cm.metadata["confusionMatrix"]
    assert [c["displayName"] for c in confusion["annotationSpecs"]] == [str(i) for i in range(10)]
    assert sum(map(sum, (r["row"] for r in confusion["rows"]))) == artifacts.read_report(tmp_path / "report")["test_examples"]
    assert 0.0 <= metrics.metadata["expected_calibration_error"] <= 1.0
    assert metrics.metadata["saved_model_ms_per_image_batch_64"] > 0
    # Names no other step logs (a Vertex AI Experiment run merges all of a run's Metrics).
    assert metrics.metadata["final_test_error"] == metrics.metadata["test_error"]
    result = artifacts.read_report(tmp_path / "report")
    # The grown ensemble has 2 members; what is exported is the best of it, its last member
    # and the best single candidate on validation.
    assert result["returned"]["grown_ensemble_size"] == 2
    assert result["ensemble_size"] == len(result["members"]) == metrics.metadata["ensemble_size"]
    assert [it["ensemble_size"] for it in result["iterations"]] == [1, 2]
    assert all(it["to_finish"]["arch"].startswith("cnn(") and isinstance(it["to_finish"]["learned"], bool)
               for it in result["iterations"])
    assert 0.0 <= metrics.metadata["test_error"] <= 1.0
    assert np.isclose(metrics.metadata["test_accuracy"], 1 - metrics.metadata["test_error"])
    assert artifacts.exported_model(tmp_path / "exported").exists()
    assert "| iter |" in (tmp_path / "report" / "report.md").read_text()


def test_component_specs_export(tmp_path):
    from kfp import components as kfp_components
    paths = components.export_specs(tmp_path, "example.com/adanas:9.9.9")
    assert sorted(p.name for p in paths) == sorted(
        ["prepare_dataset.yaml", "generate_candidates.yaml", "train_candidate.yaml",
         "select_ensemble.yaml", "evaluate_ensemble.yaml", "distill_student.yaml",
         "register_model.yaml"])
    loaded = kfp_components.load_component_from_file(str(tmp_path / "train_candidate.yaml"))
    assert set(loaded.component_spec.inputs) == {"candidate", "training", "dataset", "previous_ensemble", "accelerator"}
    assert loaded.component_spec.inputs["previous_ensemble"].optional
    assert "example.com/adanas:9.9.9" in (tmp_path / "train_candidate.yaml").read_text()
