"""The compiled KFP v2 YAML: the unrolled DAG, the fan-out, resources and the image tag."""

import yaml

from adanas import __version__, config
from pipelines.adanas_pipeline import compile_pipeline
from conftest import ROOT


def _compile(tmp_path, path=ROOT / "pipelines" / "configs" / "cifar10.yaml", overrides=()):
    cfg = config.load_config(path, list(overrides))
    out = compile_pipeline(cfg, tmp_path / "p.yaml")
    return cfg, yaml.safe_load(out.read_text())


def test_dag_is_unrolled_with_a_parallel_for_per_iteration(tmp_path):
    cfg, spec = _compile(tmp_path, overrides=["search.boosting_iterations=3"])
    root = spec["root"]["dag"]["tasks"]
    # augment + 3 x (generate, for-loop, select) + evaluate
    assert len(root) == 1 + 3 * 3 + 1
    loops = [t for t in root.values() if "parameterIterator" in t]
    assert len(loops) == 3
    for loop in loops:
        assert loop["parameterIterator"]["items"]["inputParameter"].startswith("pipelinechannel--generate-candidates")
        inner = spec["components"][loop["componentRef"]["name"]]["dag"]["tasks"]
        assert [t["taskInfo"]["name"] for t in inner.values()][0].endswith("-train")
    names = sorted(t["taskInfo"]["name"] for t in root.values() if "parameterIterator" not in t)
    assert names == sorted(["augment-data", "evaluate-ensemble"] + [
        f"iteration-{i}-{s}" for i in range(3) for s in ("generate", "select")])
    # Each select depends on the previous iteration's select (the ensemble so far).
    sel1 = next(t for t in root.values() if t["taskInfo"]["name"] == "iteration-1-select")
    prev = sel1["inputs"]["artifacts"]["previous_ensemble"]["taskOutputArtifact"]
    assert root[prev["producerTask"]]["taskInfo"]["name"] == "iteration-0-select"


def test_train_tasks_carry_accelerator_cpu_memory(tmp_path):
    cfg, spec = _compile(tmp_path)
    execs = spec["deploymentSpec"]["executors"]
    train = [e for name, e in execs.items() if name.startswith("exec-train-candidate")]
    assert len(train) == cfg.search.boosting_iterations  # one executor per unrolled iteration
    for e in train:
        res = e["container"]["resources"]
        assert res["accelerator"]["resourceType"] == "NVIDIA_L4"
        assert res["accelerator"]["resourceCount"] == "1"
        assert res["cpuLimit"] == 8.0 and res["memoryLimit"] == 32.0
    other = execs["exec-augment-data"]["container"]["resources"]
    assert "accelerator" not in other and other["cpuLimit"] == 4.0
    images = {e["container"]["image"] for e in execs.values()}
    assert images == {f"adanas:{__version__}"}


def test_image_repository_comes_from_config(tmp_path):
    _, spec = _compile(tmp_path, overrides=["image=europe-docker.pkg.dev/p/r/adanas"])
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert images == {f"europe-docker.pkg.dev/p/r/adanas:{__version__}"}


def test_default_config_compiles_without_accelerators(tmp_path):
    _, spec = _compile(tmp_path, ROOT / "pipelines" / "configs" / "digits.yaml")
    for e in spec["deploymentSpec"]["executors"].values():
        assert "accelerator" not in e["container"].get("resources", {})
    assert spec["pipelineInfo"]["name"] == "adanas-digits"
