"""The kubernetes compile target (open-source KFP) and submission with kfp.Client, against a
stand-in of the KFP API on 127.0.0.1 (no cluster can run on these machines)."""

import json

import pytest
import yaml

from adanas import config
from pipelines import cli
from pipelines.adanas_pipeline import build_pipeline, compile_pipeline
from conftest import ROOT
from standin import StandIn

CIFAR = ROOT / "pipelines" / "configs" / "cifar10.yaml"


def test_kubernetes_target_uses_extended_resources_node_selector_and_tolerations(tmp_path):
    cfg = config.load_config(CIFAR)
    docs = list(yaml.safe_load_all(compile_pipeline(cfg, tmp_path / "k.yaml", "kubernetes").read_text()))
    assert len(docs) == 2                     # pipeline spec + platform spec
    execs = docs[0]["deploymentSpec"]["executors"]
    platform = docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    trains = [n for n in execs if n.startswith("exec-train-candidate")]
    assert len(trains) == cfg.search.boosting_iterations
    for name in trains:
        acc = execs[name]["container"]["resources"]["accelerator"]
        assert acc["resourceType"] == "nvidia.com/gpu" and acc["resourceCount"] == "1"
        assert platform[name]["nodeSelector"] == {"labels": {"cloud.google.com/gke-accelerator": "nvidia-l4"}}
        assert platform[name]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists",
                                                  "effect": "NoSchedule"}]
    assert set(platform) == set(trains)       # only training goes to the GPU pool
    # The Vertex target stays a single document with Vertex accelerator names.
    vertex = list(yaml.safe_load_all(compile_pipeline(cfg, tmp_path / "v.yaml").read_text()))
    assert len(vertex) == 1
    assert vertex[0]["deploymentSpec"]["executors"][trains[0]]["container"]["resources"][
        "accelerator"]["resourceType"] == "NVIDIA_L4"


def test_kubernetes_target_puts_a_tpu_train_task_on_the_gke_tpu_pool(tmp_path):
    cfg = config.load_config(CIFAR, [
        "training.distribution=tpu", "resources.train.accelerator_type=TPU_V5_LITEPOD",
        "resources.train.accelerator_count=4", "kubernetes=null",  # drop cifar10's GPU pool
        "kubernetes.tpu_topology=2x2", "kubernetes.node_selector={cloud.google.com/gke-nodepool: tpu-v5e}"])
    docs = list(yaml.safe_load_all(compile_pipeline(cfg, tmp_path / "k.yaml", "kubernetes").read_text()))
    execs = docs[0]["deploymentSpec"]["executors"]
    platform = docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    trains = [n for n in execs if n.startswith("exec-train-candidate")]
    assert trains and set(platform) == set(trains)
    for name in trains:
        acc = execs[name]["container"]["resources"]["accelerator"]
        assert acc["resourceType"] == "google.com/tpu" and acc["resourceCount"] == "4"
        # GKE's TPU pool labels (generation, slice topology), merged with the user's selector.
        assert platform[name]["nodeSelector"] == {"labels": {
            "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
            "cloud.google.com/gke-tpu-topology": "2x2",
            "cloud.google.com/gke-nodepool": "tpu-v5e"}}
        assert platform[name]["tolerations"] == [{"key": "google.com/tpu", "operator": "Exists",
                                                  "effect": "NoSchedule"}]


def test_targets_and_accelerator_names_are_validated():
    with pytest.raises(ValueError, match="unknown target 'gke'; allowed: vertex, kubernetes"):
        build_pipeline(config.load_config(CIFAR), "gke")
    with pytest.raises(config.ConfigError, match="kubernetes.accelerator_resource: unknown accelerator "
                                                 "resource 'NVIDIA_L4'; allowed: nvidia.com/gpu"):
        config.load_config(CIFAR, ["kubernetes.accelerator_resource=NVIDIA_L4"])
    with pytest.raises(config.ConfigError, match=r"kubernetes.tolerations\[0\].effect"):
        config.load_config(CIFAR, ["kubernetes.tolerations=[{key: a, effect: Sometimes}]"])


def test_kfp_submit_sends_the_run_to_the_kfp_api(tmp_path, capsys, monkeypatch):
    import kfp
    flags = []
    create = kfp.Client.create_run_from_pipeline_package
    monkeypatch.setattr(kfp.Client, "create_run_from_pipeline_package",
                        lambda self, *a, **k: flags.append(k["enable_caching"]) or create(self, *a, **k))

    def answer(path, query, body):
        if path.endswith("/experiments") and body is None:
            return 200, {"experiments": [], "total_size": 0}
        if path.endswith("/experiments"):
            return 200, {"experiment_id": "exp-1", "display_name": body["display_name"]}
        if path.endswith("/runs"):
            return 200, {"run_id": "run-7", "display_name": body["display_name"], "state": "PENDING"}
        return 200, {}

    with StandIn({("GET", "/apis/"): answer, ("POST", "/apis/"): answer}) as server:
        code = cli.main(["kfp-submit", "--config", str(CIFAR), "--host", server.url,
                         "--experiment", "cifar", "--run-name", "try-1", "--no-cache",
                         "--output", str(tmp_path / "k.yaml")])
    assert code == 0
    calls = [(r["method"], r["path"]) for r in server.requests]
    assert calls == [("GET", "/apis/v2beta1/healthz"), ("GET", "/apis/v2beta1/experiments"),
                     ("POST", "/apis/v2beta1/experiments"), ("POST", "/apis/v2beta1/runs")]
    assert server.requests[2]["body"] == {"display_name": "cifar"}
    run = server.requests[3]["body"]
    assert run["experiment_id"] == "exp-1" and run["display_name"] == "try-1"
    # The run carries the compiled pipeline and its Kubernetes platform spec, caching off.
    compiled = list(yaml.safe_load_all((tmp_path / "k.yaml").read_text()))
    assert run["pipeline_spec"]["pipeline_spec"]["pipelineInfo"] == compiled[0]["pipelineInfo"]
    assert run["pipeline_spec"]["platform_spec"] == json.loads(json.dumps(compiled[1]))
    tasks = run["pipeline_spec"]["pipeline_spec"]["root"]["dag"]["tasks"]
    assert all(not t.get("cachingOptions", {}).get("enableCache") for t in tasks.values())
    # The run-level flag reaches the root DAG's tasks only: --no-cache is also compiled into
    # every task, inside the conditions and loops too.
    assert flags == [False]
    for spec in (compiled[0], run["pipeline_spec"]["pipeline_spec"]):
        dags = [c["dag"] for c in spec["components"].values() if "dag" in c]
        nested = {name: t for dag in dags for name, t in dag["tasks"].items()}
        assert any(name.startswith("train-candidate") for name in nested)
        assert not any(t.get("cachingOptions", {}).get("enableCache") for t in nested.values())
    out, err = capsys.readouterr()
    assert "submitted run run-7" in out
    assert "warning: image 'adanas' names no registry" in err and "kind load docker-image" in err
