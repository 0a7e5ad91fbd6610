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
    with pytest.raises(ValueError, match="key=value"):
        vertex.parse_labels(["team"])
    with pytest.raises(ValueError, match="lowercase"):
        vertex.parse_labels(["Team=x"])
    assert vertex.parse_labels(["team=automl", "env=dev"]) == {"team": "automl", "env": "dev"}
