"""Vertex AI submission with the real aiplatform client, against a stand-in on 127.0.0.1.

Vertex AI cannot be reached from here; the stand-in records the exact REST requests the client
makes (the pipeline-root bucket check on the Cloud Storage API, then PipelineJob creation).
"""

import json
from urllib.parse import parse_qs

import pytest
import yaml
from google.auth.credentials import AnonymousCredentials

from adanas import config, images
from pipelines import cli, vertex
from pipelines.adanas_pipeline import compile_pipeline
from conftest import ROOT
from standin import StandIn

PROJECT, REGION, JOB_ID = "test-project", "us-central1", "adanas-test-1"
PROJECT_NUMBER = "123456789"
REGISTRY = "us-central1-docker.pkg.dev/test-project/adanas/adanas"
CIFAR = ROOT / "pipelines" / "configs" / "cifar10.yaml"


def _routes():
    def create_job(path, query, body):
        return 200, {**body, "name": f"projects/{PROJECT}/locations/{REGION}/pipelineJobs/{JOB_ID}",
                     "state": "PIPELINE_STATE_PENDING", "createTime": "2026-11-28T00:00:00Z"}

    return {
        ("GET", "/storage/v1/b/"): lambda p, q, b: (200, {"name": p.split("/")[4], "kind": "storage#bucket",
                                                          "projectNumber": PROJECT_NUMBER}),
        ("POST", f"/v1/projects/{PROJECT}/locations/{REGION}/pipelineJobs"): create_job,
    }


@pytest.fixture
def template(tmp_path):
    cfg = config.load_config(CIFAR, [f"image={REGISTRY}"])
    return compile_pipeline(cfg, tmp_path / "p.yaml")


def test_submit_sends_the_exact_pipeline_job(template, monkeypatch):
    with StandIn(_routes()) as server:
        # google-cloud-storage honours this for its endpoint; the bucket check lands here too.
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
        # The client checks that the bucket belongs to the project through Resource Manager,
        # a gRPC API the stand-in does not speak: answer that one look-up here.
        from google.cloud.aiplatform.utils import resource_manager_utils
        monkeypatch.setattr(resource_manager_utils, "get_project_number", lambda *a, **k: PROJECT_NUMBER)
        job = vertex.submit(
            template, project=PROJECT, region=REGION, pipeline_root="gs://my-bucket/adanas",
            display_name="cifar-search", job_id=JOB_ID,
            service_account="runner@test-project.iam.gserviceaccount.com",
            network="projects/123/global/networks/vpc", labels={"team": "automl"},
            enable_caching=False, credentials=AnonymousCredentials(), api_endpoint=server.url)
    posts = [r for r in server.requests if r["method"] == "POST"]
    assert len(posts) == 1
    req = posts[0]
    assert req["path"] == f"/v1/projects/{PROJECT}/locations/{REGION}/pipelineJobs"
    assert parse_qs(req["query"])["pipelineJobId"] == [JOB_ID]
    body = req["body"]
    assert set(body) == {"displayName", "labels", "network", "pipelineSpec", "runtimeConfig",
                         "serviceAccount"}
    assert body["displayName"] == "cifar-search"
    assert body["serviceAccount"] == "runner@test-project.iam.gserviceaccount.com"
    assert body["network"] == "projects/123/global/networks/vpc"
    assert body["labels"] == {"team": "automl"}
    assert body["runtimeConfig"] == {"gcsOutputDirectory": "gs://my-bucket/adanas"}  # no parameters
    # The pipeline spec sent is the compiled YAML, with caching switched off on every task.
    compiled = yaml.safe_load(template.read_text())
    sent = body["pipelineSpec"]
    assert sent["pipelineInfo"] == compiled["pipelineInfo"]
    assert sent["deploymentSpec"] == json.loads(json.dumps(compiled["deploymentSpec"]))
    tasks = sent["root"]["dag"]["tasks"]
    assert all(t["cachingOptions"] == {} or t["cachingOptions"].get("enableCache") is False
               for t in tasks.values())
    # The bucket of the pipeline root was looked up (exists, owner), not created.
    storage = [(r["method"], r["path"]) for r in server.requests if r["path"].startswith("/storage")]
    assert storage and set(storage) == {("GET", "/storage/v1/b/my-bucket")}
    assert job.resource_name.endswith(f"pipelineJobs/{JOB_ID}")
    assert vertex.console_url(job) == (f"https://console.cloud.google.com/vertex-ai/locations/{REGION}"
                                       f"/pipelines/runs/{JOB_ID}?project={PROJECT}")


def test_submit_rejects_bad_inputs(template):
    with pytest.raises(ValueError, match="gs://"):
        vertex.submit(template, project=PROJECT, region=REGION, pipeline_root="/tmp/x")
    with pytest.raises(ValueError, match="job_id"):
        vertex.submit(template, project=PROJECT, region=REGION, pipeline_root="gs://b", job_id="Bad_ID")
    with pytest.raises(ValueError, match="experiment"):
        vertex.submit(template, project=PROJECT, region=REGION, pipeline_root="gs://b", experiment="My Exp")
    with pytest.raises(ValueError, match="key=value"):
        vertex.parse_labels(["team"])
    with pytest.raises(ValueError, match="lowercase"):
        vertex.parse_labels(["Team=x"])
    assert vertex.parse_labels(["team=automl", "env=dev"]) == {"team": "automl", "env": "dev"}


def test_submit_adds_the_run_to_an_experiment(template, monkeypatch):
    """--experiment: the client finds or creates the experiment (a Vertex ML Metadata context of
    schema system.Experiment), creates the job, then adds the run's context to it."""
    store = f"projects/{PROJECT}/locations/{REGION}/metadataStores/default"
    contexts = {}

    def get_context(path, query, body):
        cid = path.rsplit("/", 1)[-1]
        if cid in contexts:
            return 200, contexts[cid]
        return 404, {"error": {"code": 404, "message": f"{cid} not found", "status": "NOT_FOUND"}}

    def post_context(path, query, body):
        if path.endswith(":addContextChildren"):
            return 200, {}
        cid = parse_qs(query)["contextId"][0]
        contexts[cid] = {**body, "name": f"{store}/contexts/{cid}"}
        return 200, contexts[cid]

    job_name = f"projects/{PROJECT}/locations/{REGION}/pipelineJobs/{JOB_ID}"
    routes = {
        **_routes(),
        ("GET", f"/v1/{store}/contexts/"): get_context,
        ("POST", f"/v1/{store}/contexts"): post_context,
        ("GET", f"/v1/{store}"): lambda p, q, b: (200, {"name": store}),
        ("GET", f"/v1/{job_name}"): lambda p, q, b: (200, {
            "name": job_name, "state": "PIPELINE_STATE_RUNNING",
            "jobDetail": {"pipelineRunContext": {"name": f"{store}/contexts/{JOB_ID}"}}}),
    }
    with StandIn(routes) as server:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
        from google.cloud.aiplatform.utils import resource_manager_utils
        monkeypatch.setattr(resource_manager_utils, "get_project_number", lambda *a, **k: PROJECT_NUMBER)
        vertex.submit(template, project=PROJECT, region=REGION, pipeline_root="gs://my-bucket/adanas",
                      job_id=JOB_ID, experiment="cifar-sweeps", credentials=AnonymousCredentials(),
                      api_endpoint=server.url)
    calls = [(r["method"], r["path"]) for r in server.requests if not r["path"].startswith("/storage")]
    created = [r["body"] for r in server.requests if r["method"] == "POST"
               and r["path"] == f"/v1/{store}/contexts"]
    assert created == [{"displayName": "cifar-sweeps", "schemaTitle": "system.Experiment",
                        "schemaVersion": "0.0.1", "metadata": {"experiment_deleted": False}}]
    job_post = calls.index(("POST", f"/v1/projects/{PROJECT}/locations/{REGION}/pipelineJobs"))
    link = calls.index(("POST", f"/v1/{store}/contexts/cifar-sweeps:addContextChildren"))
    assert calls.index(("POST", f"/v1/{store}/contexts")) < job_post < link
    (added,) = [r["body"] for r in server.requests if r["path"].endswith(":addContextChildren")]
    assert added == {"childContexts": [f"{store}/contexts/{JOB_ID}"]}


# --- through the `adanas submit` command ------------------------------------------------------

def _all_tasks(spec):
    """name -> task for every task of every DAG (root, conditions, loops)."""
    dags = [spec["root"]["dag"]] + [c["dag"] for c in spec["components"].values() if "dag" in c]
    return {name: task for dag in dags for name, task in dag["tasks"].items()}


def _cached(task):
    # Protobuf JSON leaves out a false enableCache: {} reads as off.
    return task.get("cachingOptions", {}).get("enableCache", False)


@pytest.fixture
def standin(monkeypatch):
    """The stand-in, with the bucket look-up and the credentials that `adanas submit` needs."""
    from google.cloud.aiplatform.utils import resource_manager_utils
    monkeypatch.setattr(resource_manager_utils, "get_project_number", lambda *a, **k: PROJECT_NUMBER)
    init = vertex.init_aiplatform
    monkeypatch.setattr(vertex, "init_aiplatform",
                        lambda project, region, credentials=None, api_endpoint=None:
                        init(project, region, AnonymousCredentials(), api_endpoint))
    with StandIn(_routes()) as server:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
        yield server


def _submit(server, *args):
    return cli.main(["submit", "--project", PROJECT, "--region", REGION, "--pipeline-root",
                     "gs://my-bucket/adanas", "--job-id", JOB_ID, "--api-endpoint", server.url, *args])


def _sent_spec(server):
    (post,) = [r for r in server.requests if r["method"] == "POST"]
    return post["body"]["pipelineSpec"]


@pytest.mark.parametrize("flag", [None, "--cache", "--no-cache"])
def test_cache_flags_mean_what_they_say_on_vertex(flag, tmp_path, standin, capsys):
    """No flag: the compiled per-task settings go out unchanged (evaluate never cached);
    --cache / --no-cache: aiplatform writes the setting into every task of every DAG."""
    cfg = config.load_config(CIFAR, [f"image={REGISTRY}", "search.boosting_iterations=2"])
    template = compile_pipeline(cfg, tmp_path / "p.yaml")
    compiled = _all_tasks(yaml.safe_load(template.read_text()))
    assert _submit(standin, "--template", str(template), *([flag] if flag else [])) == 0
    sent = _all_tasks(_sent_spec(standin))
    assert set(sent) == set(compiled)
    evaluate = [n for n in sent if n.startswith("evaluate-ensemble")]
    train = [n for n in sent if n.startswith("train-candidate")]
    assert len(evaluate) == 2 and len(train) == 2           # in the If/Else branches and loops
    if flag is None:
        assert {n: _cached(t) for n, t in sent.items()} == {n: _cached(t) for n, t in compiled.items()}
        assert not any(_cached(sent[n]) for n in evaluate) and all(_cached(sent[n]) for n in train)
    else:
        assert {_cached(t) for t in sent.values()} == {flag == "--cache"}
    assert f"pipelineJobs/{JOB_ID}" in capsys.readouterr().out


def test_no_cache_from_a_config_compiles_and_sends_every_task_uncached(tmp_path, standin):
    out = tmp_path / "p.yaml"
    assert _submit(standin, "--config", str(CIFAR), "--set", f"image={REGISTRY}", "--output", str(out),
                   "--no-cache") == 0
    assert not any(_cached(t) for t in _all_tasks(yaml.safe_load(out.read_text())).values())
    assert not any(_cached(t) for t in _all_tasks(_sent_spec(standin)).values())


def test_submit_refuses_an_image_without_a_registry_before_compiling(tmp_path, standin, monkeypatch, capsys):
    """`image: adanas` would make Vertex AI pull docker.io/library/adanas: refused up front."""
    import pipelines.adanas_pipeline as pipeline

    def no_compile(*a, **k):
        raise AssertionError("compiled")
    monkeypatch.setattr(pipeline, "compile_pipeline", no_compile)
    out = tmp_path / "p.yaml"
    assert _submit(standin, "--config", str(CIFAR), "--output", str(out)) == 2
    err = capsys.readouterr().err
    assert "image: the config's `image` names no registry for 'adanas'" in err
    assert "docker.io/library/adanas" in err
    assert "--set image=REGION-docker.pkg.dev/PROJECT/REPO/adanas" in err
    assert "make push IMAGE=REGION-docker.pkg.dev/PROJECT/REPO/adanas" in err
    assert not out.exists() and standin.requests == []


def test_submit_refuses_a_compiled_pipeline_whose_images_have_no_registry(tmp_path, standin, capsys):
    template = compile_pipeline(config.load_config(CIFAR, ["image=me/adanas"]), tmp_path / "p.yaml")
    assert _submit(standin, "--template", str(template)) == 2
    err = capsys.readouterr().err
    assert f"the compiled pipeline {template}" in err
    assert f"'me/adanas-gpu:{images.image_tag()}' (pulled as docker.io/me/adanas-gpu:" in err
    assert "--set image=REGION-docker.pkg.dev/PROJECT/REPO/adanas" in err
    assert standin.requests == []


def test_template_images_include_custom_job_workers(tmp_path):
    cfg = config.load_config(CIFAR, [f"image={REGISTRY}", "resources.custom_job.enabled=true",
                                     "resources.custom_job.machine_type=a2-highgpu-1g"])
    used = vertex.template_images(compile_pipeline(cfg, tmp_path / "p.yaml"))
    assert used == sorted({cfg.image_uri(), cfg.train_image_uri()})
    assert cfg.train_image_uri() == images.image_ref(REGISTRY, "gpu")


def test_shipped_accelerator_configs_retry_their_training():
    """Long GPU/TPU tasks (up to ~36 hours in the paper configs) must survive a preemption."""
    configs = sorted((ROOT / "pipelines" / "configs").rglob("*.yaml"))
    with_accelerators = 0
    for path in configs:
        cfg = config.load_config(path)
        if cfg.resources.train.accelerator_type:
            with_accelerators += 1
            assert cfg.resources.train.retries >= 1, path.relative_to(ROOT)
    assert with_accelerators >= 10
