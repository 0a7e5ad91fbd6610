"""The compiled KFP v2 YAML: the unrolled DAG, the fan-out, resources and the image tag."""

import yaml

from adanas import config
from adanas.images import image_tag
from pipelines.adanas_pipeline import compile_pipeline
from conftest import ROOT


def _compile(tmp_path, path=ROOT / "pipelines" / "configs" / "cifar10.yaml", overrides=()):
    cfg = config.load_config(path, list(overrides))
    out = compile_pipeline(cfg, tmp_path / "p.yaml")
    return cfg, yaml.safe_load(out.read_text())


def _all_tasks(spec):
    """(dag owner, task name, task) for every task of every DAG in the compiled spec."""
    dags = [("root", spec["root"]["dag"])] + [
        (name, comp["dag"]) for name, comp in spec["components"].items() if "dag" in comp]
    return [(owner, name, task) for owner, dag in dags for name, task in dag["tasks"].items()]


def test_dag_is_unrolled_with_a_parallel_for_per_iteration(tmp_path):
    cfg, spec = _compile(tmp_path, overrides=["search.boosting_iterations=3"])
    tasks = _all_tasks(spec)
    names = sorted(t["taskInfo"]["name"] for _, _, t in tasks if "componentRef" in t
                   and spec["components"][t["componentRef"]["name"]].get("executorLabel"))
    # Each iteration: generate, train (in its loop), select; an evaluate in each place the
    # search can end: after iteration 0 or 1 (Else branches) or after the last.
    assert names == sorted(["prepare-dataset"] + [f"iteration-{i}-{s}" for i in range(3)
                                               for s in ("generate", "train", "select")]
                           + ["evaluate-ensemble"] * 3)
    loops = [t for _, _, t in tasks if "parameterIterator" in t]
    assert len(loops) == 3
    for loop in loops:
        assert "generate-candidates" in loop["parameterIterator"]["items"]["inputParameter"]
    # Iteration t+1 runs only when select t says so; otherwise the Else branch evaluates.
    conditions = [t["triggerPolicy"]["condition"] for _, _, t in tasks if "triggerPolicy" in t]
    assert len(conditions) == 4
    assert sum("select-ensemble" in c and "Output" in c and not c.startswith("!") for c in conditions) == 2
    # The select of iteration 1 consumes iteration 0's ensemble.
    by_name = {t["taskInfo"]["name"]: (owner, t) for owner, _, t in tasks}
    sel1 = by_name["iteration-1-select"][1]
    assert "previous_ensemble" in sel1["inputs"]["artifacts"]


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
    other = execs["exec-prepare-dataset"]["container"]["resources"]
    assert "accelerator" not in other and other["cpuLimit"] == 4.0
    # GPU training runs in the GPU image; every other step in the CPU image.
    for name, e in execs.items():
        want = "adanas-gpu" if name.startswith("exec-train-candidate") else "adanas"
        assert e["container"]["image"] == f"{want}:{image_tag()}", name


def test_train_tasks_retry_as_configured(tmp_path):
    _, spec = _compile(tmp_path, overrides=["resources.train.retries=3"])
    retries = [t.get("retryPolicy") for _, _, t in _all_tasks(spec) if t["taskInfo"]["name"].endswith("-train")]
    assert retries and all(r["maxRetryCount"] == 3 for r in retries)
    others = [t for _, _, t in _all_tasks(spec) if t["taskInfo"]["name"] == "prepare-dataset"]
    assert "retryPolicy" not in others[0]


def test_image_repository_comes_from_config(tmp_path):
    _, spec = _compile(tmp_path, overrides=["image=europe-docker.pkg.dev/p/r/adanas"])
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert images == {f"europe-docker.pkg.dev/p/r/adanas:{image_tag()}",
                      f"europe-docker.pkg.dev/p/r/adanas-gpu:{image_tag()}"}


def test_default_config_compiles_without_accelerators(tmp_path):
    _, spec = _compile(tmp_path, ROOT / "pipelines" / "configs" / "digits.yaml")
    for e in spec["deploymentSpec"]["executors"].values():
        assert "accelerator" not in e["container"].get("resources", {})
    assert spec["pipelineInfo"]["name"] == "adanas-digits"


def test_paper_configs_express_each_row_and_compile(tmp_path):
    rows = {
        "nasnet_6x768_single": ("simple", 1, 1, "mean", "none"),
        "ensemble_10x_nasnet_6x768": ("simple", 1, 10, "mean", "none"),
        "adanas_gd": ("dynamic", 2, 10, "mean", "none"),
        "adanas_learned_adaptive": ("dynamic", 2, 10, "weighted", "adaptive"),
    }
    for row, (gen, cands, iters, ensembler, kd) in rows.items():
        for data in ("cifar10", "cifar100"):
            cfg, spec = _compile(tmp_path, ROOT / "pipelines" / "configs" / "paper" / f"{row}_{data}.yaml")
            s = cfg.search
            assert (s.generator, s.candidates_per_iteration, s.boosting_iterations, s.ensembler,
                    cfg.training.knowledge_distillation) == (gen, cands, iters, ensembler, kd), row
            assert s.arch().describe() == "nasnet(6@768)" and cfg.dataset.name == data
            assert (s.growth.depth, s.growth.width) == (1, 240)
            assert cfg.training.batch_size == 32 and cfg.training.initial_learning_rate == 0.025
            assert cfg.resources.train.accelerator_type is not None
            trains = [e for n, e in spec["deploymentSpec"]["executors"].items() if "train-candidate" in n]
            assert len(trains) == iters


def test_caching_is_per_task_or_the_same_everywhere(tmp_path):
    """None: evaluate always reruns, the rest may come from the cache; False / True: every task
    of every DAG (conditions, loops) off / on."""
    for caching in (None, False, True):
        cfg = config.load_config(ROOT / "pipelines" / "configs" / "cifar10.yaml", ["search.boosting_iterations=3"])
        spec = yaml.safe_load(compile_pipeline(cfg, tmp_path / "p.yaml", caching=caching).read_text())
        leaves = {name: task.get("cachingOptions", {}).get("enableCache", False)
                  for _, name, task in _all_tasks(spec) if "executorLabel" in spec["components"][task["componentRef"]["name"]]}
        assert sum(n.startswith("evaluate-ensemble") for n in leaves) == 3
        assert sum(n.startswith("train-candidate") for n in leaves) == 3
        for name, cached in leaves.items():
            want = not name.startswith("evaluate-ensemble") if caching is None else caching
            assert cached == want, (caching, name)
