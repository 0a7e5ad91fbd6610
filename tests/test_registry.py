"""Vertex AI Model Registry and endpoints (adanas/registry.py, components/register_model/).

Vertex AI cannot be reached from here. The stand-in on 127.0.0.1 answers the Model Registry and
Endpoint REST calls the real aiplatform client makes (each create is a long-running operation,
answered done) and records them; the tests assert the exact bodies sent.
"""

import json

import pytest
import yaml
from google.auth.credentials import AnonymousCredentials
from kfp import dsl

import components
from adanas import artifacts, config, registry
from adanas.config import ConfigError
from components.glue import VertexModel
from conftest import tiny_config_dict
from standin import StandIn

PROJECT, REGION = "test-project", "europe-west4"
BASE = f"/v1/projects/{PROJECT}/locations/{REGION}"
MODEL = f"projects/{PROJECT}/locations/{REGION}/models/4711"
ENDPOINT = f"projects/{PROJECT}/locations/{REGION}/endpoints/815"
RUN = "adanas-digits-20261128093000"
EXPORTED = "gs://my-bucket/adanas/adanas-digits-20261128093000/evaluate-ensemble/exported_model"
DESCRIPTION = ("AdaNAS ensemble of 3 (59,982 params) on digits: test error 1.11% on 270 examples; "
               f"pipeline run {RUN}. Signatures: serving_default (uint8 images), serving_bytes "
               "(encoded images); outputs probabilities (temperature 1.234), class_names, "
               "top_class, top_class_name")


class FakeVertex:
    """Model upload (a new model, or a version of a parent), model get, endpoint create / get,
    deployModel; the created resources are kept so gets return them."""

    def __init__(self, version="1"):
        self.version = version
        self.model = {}
        self.endpoint = {}

    def routes(self):
        return {("POST", BASE + "/models:upload"): self.upload, ("GET", BASE + "/models/"): self.get_model,
                ("POST", f"/v1/{ENDPOINT}:deployModel"): self.deploy,
                ("POST", BASE + "/endpoints"): self.create_endpoint,
                ("GET", BASE + "/endpoints/"): lambda p, q, b: (200, self.endpoint)}

    @staticmethod
    def _done(resource, kind, response):
        return 200, {"name": f"{resource}/operations/1", "done": True,
                     "response": {"@type": f"type.googleapis.com/google.cloud.aiplatform.v1.{kind}", **response}}

    def upload(self, path, query, body):
        # As Vertex AI has it for a model with a serving container: dedicated resources.
        self.model = {**body["model"], "name": MODEL, "versionId": self.version,
                      "supportedDeploymentResourcesTypes": ["DEDICATED_RESOURCES"]}
        return self._done(MODEL, "UploadModelResponse", {"model": MODEL, "modelVersionId": self.version})

    def get_model(self, path, query, body):
        return 200, self.model

    def create_endpoint(self, path, query, body):
        self.endpoint = {**body, "name": ENDPOINT}
        return self._done(ENDPOINT, "Endpoint", self.endpoint)

    def deploy(self, path, query, body):
        deployed = {**body["deployedModel"], "id": "2024"}
        self.endpoint.update(deployedModels=[deployed], trafficSplit={"2024": 100})
        return self._done(ENDPOINT, "DeployModelResponse", {"deployedModel": deployed})


@pytest.fixture
def report_dir(tmp_path):
    folder = tmp_path / "report"
    artifacts.write_report(folder, {"dataset": "digits", "test_error": 0.0111, "ensemble_size": 3,
                                    "total_params": 59982, "test_examples": 270,
                                    "temperature": 1.234}, "report")
    return folder


def _export(**sections) -> config.ExportConfig:
    return config.from_dict({"export": sections}).export


def _register(server, report_dir, export, **kw):
    return registry.register_step(EXPORTED, report_dir, export.model_registry, export.endpoint,
                                  PROJECT, REGION, RUN, "adanas-digits",
                                  credentials=AnonymousCredentials(), api_endpoint=server.url, **kw)


def _posts(server):
    return [(r["path"], r["body"]) for r in server.requests if r["method"] == "POST"]


def test_upload_sends_the_saved_model_with_its_labels(report_dir):
    fake = FakeVertex()
    export = _export(model_registry={"labels": {"team": "automl"}})
    with StandIn(fake.routes()) as server:
        out = _register(server, report_dir, export)
    assert _posts(server) == [(BASE + "/models:upload", {"model": {
        "displayName": "adanas-digits",
        "description": DESCRIPTION,
        "containerSpec": {"imageUri": "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"},
        "labels": {"team": "automl", "adanas_run": RUN, "adanas_test_error_bp": "111"},
        "artifactUri": f"{EXPORTED}/saved_model",
        "versionAliases": ["default"],
        "versionDescription": f"pipeline run {RUN}"}})]
    # The client then reads the new version back, and nothing else: no endpoint.
    gets = [r["path"] for r in server.requests if r["method"] == "GET"]
    assert gets == [f"/v1/{MODEL}%401"]
    assert out == {"resourceName": f"{MODEL}@1",
                   "uri": f"https://{REGION}-aiplatform.googleapis.com/v1/{MODEL}@1",
                   "versionId": "1", "displayName": "adanas-digits", "artifactUri": f"{EXPORTED}/saved_model",
                   "labels": {"team": "automl", "adanas_run": RUN, "adanas_test_error_bp": "111"}}


def test_a_parent_model_gets_a_new_version(report_dir):
    fake = FakeVertex(version="7")
    export = _export(model_registry={"parent_model": "4711", "display_name": "digits-nas",
                                     "serving_container_image": "europe-docker.pkg.dev/vertex-ai/prediction/tf2-gpu.2-15:latest"})
    with StandIn(fake.routes()) as server:
        out = _register(server, report_dir, export)
    ((path, body),) = _posts(server)
    assert path == BASE + "/models:upload"
    assert set(body) == {"model", "parentModel"} and body["parentModel"] == MODEL
    assert body["model"]["displayName"] == "digits-nas"
    assert body["model"]["containerSpec"] == {"imageUri": "europe-docker.pkg.dev/vertex-ai/prediction/tf2-gpu.2-15:latest"}
    assert body["model"]["versionAliases"] == ["default"]      # the new version becomes the default
    assert out["resourceName"] == f"{MODEL}@7" and out["versionId"] == "7"


def test_an_endpoint_is_created_and_the_model_deployed_with_all_traffic(report_dir):
    fake = FakeVertex()
    export = _export(model_registry={}, endpoint={"machine_type": "n1-standard-4",
                                                  "min_replica_count": 1, "max_replica_count": 3})
    with StandIn(fake.routes()) as server:
        out = _register(server, report_dir, export)
    labels = {"adanas_run": RUN, "adanas_test_error_bp": "111"}
    posts = _posts(server)
    assert [p for p, _ in posts] == [BASE + "/models:upload", BASE + "/endpoints", f"/v1/{ENDPOINT}:deployModel"]
    assert posts[1][1] == {"displayName": "adanas-digits", "labels": labels}
    assert posts[2][1] == {"deployedModel": {
        "model": f"{MODEL}@1", "displayName": "adanas-digits",
        "dedicatedResources": {"machineSpec": {"machineType": "n1-standard-4"},
                               "minReplicaCount": 1, "maxReplicaCount": 3}},
        "trafficSplit": {"0": 100}}
    assert out["endpoint"] == ENDPOINT and out["deployedModelId"] == "2024"
    assert out["endpointUri"] == f"https://{REGION}-aiplatform.googleapis.com/v1/{ENDPOINT}"


def test_the_component_outputs_a_vertex_model_artifact(report_dir, monkeypatch):
    """The body through python_func, as the task runs it: a google.VertexModel whose uri is
    the model's REST URL and whose metadata names the resource."""
    init = registry.init_aiplatform
    monkeypatch.setattr(registry, "init_aiplatform", lambda project, location, credentials=None, api_endpoint=None:
                        init(project, location, AnonymousCredentials(), api_endpoint))
    fake = FakeVertex()
    export = config.section_json(config.from_dict({"export": {"model_registry": {}}}), "export")
    out = VertexModel(uri="gs://my-bucket/adanas/run/register-model/registered_model")
    with StandIn(fake.routes()) as server:
        components.build().register_model.python_func(
            export=export, pipeline_name="adanas-digits", exported_model=dsl.Model(uri=EXPORTED),
            report=dsl.Artifact(uri=str(report_dir)), registered_model=out, project=PROJECT,
            location=REGION, pipeline_job=RUN, api_endpoint=server.url)
    assert out.schema_title == "google.VertexModel"
    assert out.uri == f"https://{REGION}-aiplatform.googleapis.com/v1/{MODEL}@1"
    assert out.metadata["resourceName"] == f"{MODEL}@1"
    assert [p for p, _ in _posts(server)] == [BASE + "/models:upload"]


def test_only_cloud_storage_models_are_registered(report_dir):
    with pytest.raises(ValueError, match="Cloud Storage"):
        registry.saved_model_uri("/tmp/run/exported_model")
    assert registry.saved_model_uri("gs://b/x/exported_model/") == "gs://b/x/exported_model/saved_model"
    assert registry.label_value("AdaNAS-Digits 2026.11.28" + "x" * 80) == ("adanas-digits-2026-11-28" + "x" * 39)


# --- config and wiring --------------------------------------------------------------------------

def _tasks(path):
    spec = yaml.safe_load(path.read_text())
    dags = [spec["root"]["dag"]] + [c["dag"] for c in spec["components"].values() if "dag" in c]
    return {name: task for dag in dags for name, task in dag["tasks"].items()}, spec


def test_the_register_step_follows_evaluate_in_both_branches(tmp_path):
    from pipelines.adanas_pipeline import compile_pipeline
    with_registry = config.from_dict({**tiny_config_dict(early_stopping_margin=0.1),
                                      "export": {"model_registry": {}, "endpoint": {}}})
    tasks, spec = _tasks(compile_pipeline(with_registry, tmp_path / "p.yaml"))
    evaluates = sorted(n for n in tasks if n.startswith("evaluate-ensemble"))
    registers = sorted(n for n in tasks if n.startswith("register-model"))
    assert len(evaluates) == len(registers) == 2          # the Else branch and the last iteration
    for name in registers:
        task = tasks[name]
        (evaluate,) = task["dependentTasks"]
        assert evaluate in evaluates
        arts = task["inputs"]["artifacts"]
        assert {k: v["taskOutputArtifact"] for k, v in arts.items()} == {
            "exported_model": {"producerTask": evaluate, "outputArtifactKey": "exported_model"},
            "report": {"producerTask": evaluate, "outputArtifactKey": "report"}}
        params = {k: v["runtimeValue"]["constant"] for k, v in task["inputs"]["parameters"].items()}
        assert params["project"] == "{{$.pipeline_google_cloud_project_id}}"
        assert params["location"] == "{{$.pipeline_google_cloud_location}}"
        assert params["pipeline_job"] == "{{$.pipeline_job_name}}"
        assert json.loads(params["export"])["endpoint"]["machine_type"] == "n1-standard-2"
        assert not task.get("cachingOptions", {}).get("enableCache", False)
    outputs = spec["components"]["comp-register-model"]["outputDefinitions"]["artifacts"]
    assert outputs["registered_model"]["artifactType"]["schemaTitle"] == "google.VertexModel"
    # Not configured: no such task.
    plain, _ = _tasks(compile_pipeline(config.from_dict(tiny_config_dict()), tmp_path / "q.yaml"))
    assert not [n for n in plain if n.startswith(("register-model", "distill-student"))]


def test_registry_is_vertex_only_and_refused_by_local_runs(tmp_path):
    cfg = config.from_dict({**tiny_config_dict(), "export": {"model_registry": {}}})
    config.check_target(cfg, "vertex")
    with pytest.raises(ConfigError, match=r"^export\.model_registry: Vertex AI Model Registry is "
                                          r"on the vertex target only"):
        config.check_target(cfg, "kubernetes")
    from pipelines.local_run import run_local
    with pytest.raises(ConfigError, match=r"^export\.model_registry: .*a local run cannot reach"):
        run_local(cfg, tmp_path / "root")
    assert not (tmp_path / "root").exists() or not any((tmp_path / "root").iterdir())


@pytest.mark.parametrize("export, path, message", [
    ({"endpoint": {}}, "export.endpoint", "set export.model_registry too"),
    ({"model_registry": {"serving_container_image": "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15"}},
     "export.model_registry.serving_container_image", "name a tag or digest"),
    ({"model_registry": {"serving_container_image": "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:20240101"}},
     "export.model_registry.serving_container_image", "by the `latest` tag"),
    ({"model_registry": {"serving_container_image": "us-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.2-1:latest"}},
     "export.model_registry.serving_container_image", "a prebuilt TensorFlow image"),
    ({"model_registry": {"labels": {"adanas_run": "x"}}}, "export.model_registry.labels.adanas_run",
     "set by the register step"),
    ({"model_registry": {"labels": {"team": "Auto ML"}}}, "export.model_registry.labels.team",
     "a label value is up to 63"),
    ({"model_registry": {"parent_model": "projects/p/models/1"}}, "export.model_registry.parent_model",
     "expected projects/PROJECT/locations/LOCATION/models/ID"),
    ({"model_registry": {}, "endpoint": {"min_replica_count": 2, "max_replica_count": 1}},
     "export.endpoint.max_replica_count", "must be >= min_replica_count"),
    ({"model_registry": {}, "endpoint": {"machine_type": "big"}}, "export.endpoint.machine_type",
     "expected a machine type"),
])
def test_bad_export_settings_name_their_key(export, path, message):
    with pytest.raises(ConfigError) as e:
        config.from_dict({"export": export})
    assert e.value.path == path and message in str(e.value)


def test_a_custom_serving_image_with_a_tag_is_accepted():
    export = _export(model_registry={"serving_container_image": "europe-docker.pkg.dev/p/r/server:1.2.3"})
    assert export.model_registry.serving_container_image.endswith(":1.2.3")
