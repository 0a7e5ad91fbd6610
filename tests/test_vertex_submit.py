"""Vertex AI submission with the real aiplatform client, against a stand-in on 127.0.0.1.

Vertex AI cannot be reached from here; the stand-in records the exact REST requests the client
makes (the pipeline-root bucket check on the Cloud Storage API, then PipelineJob creation).
"""

import json
from urllib.parse import parse_qs

import pytest
import yaml
from google.auth.credentials import AnonymousCredentials

from adanas import config
from pipelines import vertex
from pipelines.adanas_pipeline import compile_pipeline
from conftest import ROOT
from standin import StandIn

PROJECT, REGION, JOB_ID = "test-project", "us-central1", "adanas-test-1"
PROJECT_NUMBER = "123456789"


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
    cfg = config.load_config(ROOT / "pipelines" / "configs" / "cifar10.yaml")
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
