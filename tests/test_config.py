"""Config validation: every bad case fails before compute, naming the key path and what is allowed."""

import dataclasses
import json

import pytest

from adanas import config
from adanas.config import ConfigError
from conftest import ROOT, tiny_config_dict


def _error(data) -> ConfigError:
    with pytest.raises(ConfigError) as e:
        config.from_dict(data)
    return e.value


def test_shipped_configs_validate():
    for path in sorted((ROOT / "pipelines" / "configs").rglob("*.yaml")):
        cfg = config.load_config(path)
        assert cfg.search.boosting_iterations >= 1, path


def test_defaults_fill_missing_keys():
    cfg = config.from_dict({})
    assert cfg.training.initial_learning_rate == 0.025
    assert cfg.training.label_smoothing == 0.1
    assert cfg.training.weight_decay == 5e-4
    assert cfg.training.clip_gradients == 5.0
    assert cfg.search.generator == "dynamic"


@pytest.mark.parametrize("data, path, allowed", [
    ({"bogus": 1}, "bogus", "allowed keys: name, seed, image"),
    ({"training": {"learning_rate": 0.1}}, "training.learning_rate", "initial_learning_rate"),
    ({"search": {"growth": {"height": 2}}}, "search.growth.height", "depth, width"),
    ({"search": {"architecture": {"units": 3}}}, "search.architecture.units", "num_layers, filters"),
])
def test_unknown_keys(data, path, allowed):
    err = _error(data)
    assert err.path == path
    assert "unknown key" in str(err) and allowed in str(err)


@pytest.mark.parametrize("data, path, expected", [
    ({"seed": "zero"}, "seed", "expected an integer"),
    ({"training": {"batch_size": 32.5}}, "training.batch_size", "expected an integer"),
    ({"training": {"batch_size": True}}, "training.batch_size", "expected an integer"),
    ({"training": {"initial_learning_rate": "fast"}}, "training.initial_learning_rate", "expected a number"),
    ({"search": {"force_grow": "yes"}}, "search.force_grow", "expected true or false"),
    ({"search": {"architecture": [1, 2]}}, "search.architecture", "expected a mapping"),
    ({"dataset": "digits"}, "dataset", "expected a mapping"),
    ({"resources": {"train": {"cpu_limit": 4}}}, "resources.train.cpu_limit", "expected a string"),
])
def test_wrong_types(data, path, expected):
    err = _error(data)
    assert err.path == path and expected in str(err)


@pytest.mark.parametrize("data, path, expected", [
    ({"search": {"boosting_iterations": 0}}, "search.boosting_iterations", ">= 1"),
    ({"search": {"candidates_per_iteration": 0}}, "search.candidates_per_iteration", ">= 1"),
    ({"training": {"initial_learning_rate": -0.1}}, "training.initial_learning_rate", "> 0"),
    ({"training": {"momentum": 1.0}}, "training.momentum", "[0, 1)"),
    ({"training": {"label_smoothing": -0.1}}, "training.label_smoothing", "[0, 1)"),
    ({"training": {"max_iteration_steps": 10}}, "training.train_epochs", "exactly one"),
    ({"training": {"train_epochs": None}}, "training.train_epochs", "exactly one"),
    ({"training": {"optimizer": "lion"}}, "training.optimizer", "'momentum', 'sgd', 'adam', 'rmsprop'"),
    ({"search": {"generator": "random"}}, "search.generator", "allowed: simple, dynamic"),
    ({"search": {"family": "vit"}}, "search.family", "allowed: cnn, dnn"),
    ({"search": {"ensembler": "median"}}, "search.ensembler", "'mean', 'weighted'"),
    ({"search": {"adanet_lambda": -1.0}}, "search.adanet_lambda", ">= 0"),
    ({"search": {"adanet_beta": -0.1}}, "search.adanet_beta", ">= 0"),
    ({"search": {"mixture_weight_type": "tensor"}}, "search.mixture_weight_type", "'scalar', 'vector', 'matrix'"),
    ({"search": {"complexity": "depth"}}, "search.complexity", "'sqrt_depth', 'log_params', 'none'"),
    ({"search": {"ensembler": "weighted", "objective": "validation_error"}}, "search.objective",
     "validation_loss"),
    ({"search": {"architecture": {"filters": 0}}}, "search.architecture.filters", ">= 1"),
    ({"search": {"architecture": {"dropout": 1.5}}}, "search.architecture.dropout", "[0, 1)"),
    ({"dataset": {"name": "no_such_dataset"}}, "dataset.name", "cifar10"),
    ({"dataset": {"name": "folder"}}, "dataset.data_dir", "required"),
    ({"dataset": {"validation_fraction": 0.6, "test_fraction": 0.5}}, "dataset.test_fraction", "< 1"),
    ({"augmentation": {"cutout": -1}}, "augmentation.cutout", ">= 0"),
    ({"augmentation": {"policy": "autoaugment2"}}, "augmentation.policy", "'basic', 'autoaugment', 'randaugment', 'none'"),
    ({"augmentation": {"randaugment_magnitude": 2.0}}, "augmentation.randaugment_magnitude", "[0, 1]"),
    ({"resources": {"train": {"accelerator_type": "NVIDIA_GTX_1080", "accelerator_count": 1}}},
     "resources.train.accelerator_type", "NVIDIA_L4"),
    ({"resources": {"train": {"accelerator_type": "NVIDIA_L4"}}},
     "resources.train.accelerator_count", ">= 1"),
    ({"resources": {"train": {"accelerator_count": 2}}}, "resources.train.accelerator_count",
     "accelerator_type"),
    ({"resources": {"default": {"memory_limit": "lots"}}}, "resources.default.memory_limit", "16G"),
    ({"image": "gcr.io/p/adanas:latest"}, "image", "without a tag"),
    ({"name": "My Search"}, "name", "lowercase"),
])
def test_impossible_values(data, path, expected):
    err = _error(data)
    assert err.path == path, str(err)
    assert expected in str(err)


def test_yaml_file_errors_and_floats(tmp_path):
    good = tmp_path / "a.yaml"
    good.write_text("training:\n  weight_decay: 5e-4\n  initial_learning_rate: 1E-2\n")
    cfg = config.load_config(good)
    assert cfg.training.weight_decay == 5e-4 and cfg.training.initial_learning_rate == 0.01

    bad = tmp_path / "b.yaml"
    bad.write_text("training: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load_config(bad)
    with pytest.raises(ConfigError, match="cannot read config"):
        config.load_config(tmp_path / "missing.yaml")


def test_extends_and_overrides(tmp_path):
    (tmp_path / "base.yaml").write_text("name: base\nsearch:\n  boosting_iterations: 4\n"
                                        "  architecture: {num_layers: 3, filters: 8}\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\nname: child\n"
                                         "search:\n  architecture: {filters: 32}\n")
    cfg = config.load_config(tmp_path / "child.yaml", ["training.batch_size=8", "seed=3"])
    assert cfg.name == "child" and cfg.seed == 3 and cfg.training.batch_size == 8
    assert cfg.search.boosting_iterations == 4
    assert cfg.search.architecture == {"num_layers": 3, "filters": 32}
    with pytest.raises(ConfigError, match="training.batch_size: expected an integer"):
        config.load_config(tmp_path / "child.yaml", ["training.batch_size=big"])
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        config.load_config(tmp_path / "loop.yaml")


def test_sections_round_trip_through_json():
    cfg = config.from_dict(tiny_config_dict())
    for name in ("dataset", "augmentation", "search", "training"):
        assert config.section_from_json(name, config.section_json(cfg, name)) == getattr(cfg, name)
    assert cfg.image_uri().startswith("adanas:") and not cfg.image_uri().endswith("latest")


def test_strict_types_and_null_sections():
    cfg = config.from_dict({"training": {"initial_learning_rate": 1}, "augmentation": None})
    assert cfg.training.initial_learning_rate == 1.0 and isinstance(cfg.training.initial_learning_rate, float)
    assert cfg.augmentation == config.AugmentationConfig()   # an empty section = its defaults
    assert _error({"training": {"batch_size": None}}).path == "training.batch_size"   # not Optional
    assert "expected a number, got bool True" in str(_error({"training": {"momentum": True}}))
    err = _error({"search": {"ensemble_strategies": ["grow", "shrink"]}})
    assert err.path == "search.ensemble_strategies[1]" and "'grow', 'all', 'solo'" in str(err)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.training.batch_size = 3


def test_show_prints_every_key_with_its_doc_and_reads_back(tmp_path):
    cfg = config.from_dict(tiny_config_dict())
    text = cfg.to_yaml()
    assert "# examples per step" in text and '  batch_size: 16' in text
    (tmp_path / "shown.yaml").write_text(text)
    assert config.load_config(tmp_path / "shown.yaml") == cfg


def test_json_schema_documents_every_key():
    schema = config.json_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    assert "extends" in schema["properties"]
    defs = schema["$defs"]
    for name, node in [("<root>", schema), *defs.items()]:
        assert node["additionalProperties"] is False, name
        for key, prop in node["properties"].items():
            assert prop.get("description"), f"{name}.{key} has no description"
    assert {"if": {"properties": {"family": {"const": "nasnet"}}, "required": ["family"]},
            "then": {"properties": {"architecture": {"$ref": "#/$defs/NasnetArch"}}}} in defs["SearchConfig"]["allOf"]
    assert defs["TrainingConfig"]["properties"]["optimizer"]["enum"] == ["momentum", "sgd", "adam", "rmsprop"]


def _tpu(**over) -> config.Config:
    return config.from_dict(config.merge(tiny_config_dict(), config.merge({
        "training": {"distribution": "tpu"},
        "resources": {"train": {"accelerator_type": "TPU_V5_LITEPOD", "accelerator_count": 4}}}, over)))


def _target_error(cfg, target) -> ConfigError:
    with pytest.raises(ConfigError) as e:
        config.check_target(cfg, target)
    return e.value


def test_tpus_on_vertex_train_as_custom_jobs_on_tpu_machines():
    cfg = _tpu()   # loads: the kubernetes target may run it
    err = _target_error(cfg, "vertex")
    assert err.path == "resources.custom_job.enabled" and "no TPU machine sizing" in str(err)
    err = _target_error(_tpu(resources={"custom_job": {"enabled": True, "machine_type": "a2-highgpu-1g"}}), "vertex")
    assert err.path == "resources.custom_job.machine_type" and "ct5lp-hightpu-4t" in str(err)
    for machine in ("ct5lp-hightpu-4t", "ct4p-hightpu-4t", "ct6e-standard-4t", "ct5p-hightpu-4t", "cloud-tpu"):
        config.check_target(_tpu(resources={"custom_job": {"enabled": True, "machine_type": machine,
                                                            "tpu_topology": "2x2"}}), "vertex")
    gpu_on_tpu_vm = config.merge(tiny_config_dict(), {"resources": {
        "train": {"accelerator_type": "NVIDIA_L4", "accelerator_count": 1},
        "custom_job": {"enabled": True, "machine_type": "ct5lp-hightpu-4t"}}})
    assert _target_error(config.from_dict(gpu_on_tpu_vm), "vertex").path == "resources.train.accelerator_type"
    assert _error(config.merge(tiny_config_dict(), {"resources": {"custom_job": {"tpu_topology": "2by2"}}})
                  ).path == "resources.custom_job.tpu_topology"
    with pytest.raises(ValueError, match="unknown target 'gke'"):
        config.check_target(cfg, "gke")


def test_kubernetes_target_rules_and_derived_pod_settings():
    k8s = config.KubernetesConfig()
    assert k8s.resource_for("NVIDIA_L4") == "nvidia.com/gpu" and k8s.resource_for("TPU_V4_POD") == "google.com/tpu"
    assert k8s.tolerations_for("NVIDIA_L4") == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert k8s.tolerations_for("TPU_V4_POD") == [{"key": "google.com/tpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert k8s.node_selector_for("NVIDIA_L4") == {}
    cfg = _tpu(kubernetes={"tpu_topology": "2x2", "node_selector": {"pool": "tpu"}})
    config.check_target(cfg, "kubernetes")
    assert cfg.kubernetes.node_selector_for("TPU_V5_LITEPOD") == {
        "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
        "cloud.google.com/gke-tpu-topology": "2x2", "pool": "tpu"}
    assert _target_error(_tpu(), "kubernetes").path == "kubernetes.tpu_topology"
    v3 = _tpu(resources={"train": {"accelerator_type": "TPU_V3"}}, kubernetes={"tpu_topology": "2x2"})
    assert "not offered by GKE" in str(_target_error(v3, "kubernetes"))
    job = _tpu(resources={"custom_job": {"enabled": True, "machine_type": "ct5lp-hightpu-4t"}})
    err = _target_error(job, "kubernetes")
    assert err.path == "resources.custom_job.enabled" and "vertex target only" in str(err)
    err = _error(config.merge(tiny_config_dict(), {
        "resources": {"train": {"accelerator_type": "NVIDIA_L4", "accelerator_count": 1}},
        "kubernetes": {"accelerator_resource": "google.com/tpu"}}))
    assert err.path == "kubernetes.accelerator_resource" and "contradicts" in str(err)


def test_custom_job_launcher_resources():
    cfg = config.from_dict({})
    assert cfg.resources.custom_job.launcher == config.TaskResources(cpu_limit="1", memory_limit="2G")
    assert _error({"resources": {"custom_job": {"launcher": {"memory_limit": "x"}}}}).path == \
        "resources.custom_job.launcher.memory_limit"


def test_cli_validate_target_and_schema(tmp_path, capsys):
    from pipelines import cli
    tpu = ["--set", "training.distribution=tpu", "--set", "resources.train.accelerator_type=TPU_V4_POD",
           "--set", "resources.train.accelerator_count=4", "--set", "kubernetes.tpu_topology=2x2x1"]
    assert cli.main(["validate", *tpu, "--target", "kubernetes"]) == 0
    assert cli.main(["validate", *tpu]) == 2
    assert "resources.custom_job.enabled" in capsys.readouterr().err
    out = tmp_path / "s.json"
    assert cli.main(["schema", "--output", str(out)]) == 0
    assert json.loads(out.read_text()) == config.json_schema()


def test_a_submitted_pipeline_must_find_its_data_where_its_pods_run(tmp_path):
    from pipelines.adanas_pipeline import compile_pipeline

    def data(**dataset):
        return config.from_dict(config.merge(tiny_config_dict(), {"dataset": dataset}))

    images = data(name="folder", data_dir="./images")
    for target in ("vertex", "kubernetes"):
        with pytest.raises(ConfigError) as e:
            config.check_data_dir(images, target)
        assert e.value.path == "dataset.data_dir" and "does not see this machine's files" in str(e.value)
    # Compiling (compile, submit, kfp-submit) checks it before anything is built.
    with pytest.raises(ConfigError, match="gs://bucket/path"):
        compile_pipeline(images, tmp_path / "p.yaml", "vertex")
    assert not (tmp_path / "p.yaml").exists()
    for ok, target in (("gs://b/images", "vertex"), ("/gcs/b/images", "vertex"), ("/data/images", "kubernetes")):
        config.check_data_dir(data(name="folder", data_dir=ok), target)
    with pytest.raises(ConfigError, match="/gcs/ mount, which open-source KFP pods do not have"):
        config.check_data_dir(data(name="folder", data_dir="gs://b/images"), "kubernetes")
    # tfds: a prepared folder must be reachable; one downloaded in the pod may go anywhere.
    with pytest.raises(ConfigError, match="or set dataset.download: true"):
        config.check_data_dir(data(name="mnist", data_dir="/home/me/tfds"), "vertex")
    config.check_data_dir(data(name="mnist", data_dir="gs://b/tfds"), "kubernetes")
    config.check_data_dir(data(name="mnist", data_dir="tfds", download=True), "vertex")
    config.check_data_dir(data(), "vertex")   # the embedded digits


def test_validate_checks_the_data_dir_only_for_a_target(tmp_path, capsys):
    from pipelines import cli
    root = tmp_path / "images"
    cfg = tmp_path / "folder.yaml"
    cfg.write_text(f"dataset: {{name: folder, data_dir: {root}}}\naugmentation: {{cutout: 0}}\n")
    assert cli.main(["validate", "--config", str(cfg)]) == 0
    assert cli.main(["validate", "--config", str(cfg), "--target", "vertex"]) != 0
    assert "dataset.data_dir" in capsys.readouterr().err
