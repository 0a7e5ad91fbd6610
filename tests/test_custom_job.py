"""Candidates trained as Vertex AI CustomJobs (adanas/customjob.py, components/custom_job/).

Vertex AI cannot be reached from here. The stand-in on 127.0.0.1 speaks the CustomJob REST API
the real aiplatform client uses, and does what Vertex AI would do with the chief worker pool: it
runs the container's command and args (here on this machine, in place of the GPU image) and
reports the job's state from that process. Through kfp.local, the pipeline's train tasks then
get their outputs from work done "inside" the CustomJob, exactly as on Vertex AI via /gcs/.
"""

import dataclasses
import functools
import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest
import yaml

from adanas import config, customjob, images
from conftest import ROOT, tiny_config_dict
from standin import StandIn

PROJECT, REGION = "test-project", "europe-west4"
JOBS = f"/v1/projects/{PROJECT}/locations/{REGION}/customJobs"


class FakeVertex:
    """CustomJob create / get / list (with a label filter) / cancel; each job runs its chief
    pool's command locally. `deny_gets`: answer the single-job GET with 403 (a poll error)."""

    def __init__(self):
        self.jobs = {}
        self.lock = threading.Lock()
        self.deny_gets = False

    def routes(self):
        return {("POST", JOBS + "/"): self.cancel, ("POST", JOBS): self.create,
                ("GET", JOBS + "/"): self.get, ("GET", JOBS): self.list}

    def create(self, path, query, body):
        with self.lock:
            job_id = str(1000 + len(self.jobs))
            container = body["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]
            proc = subprocess.Popen([*container.get("command", []), *container.get("args", [])],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            self.jobs[job_id] = {"body": body, "proc": proc, "cancelled": False}
        return 200, self._resource(job_id)

    def get(self, path, query, body):
        if self.deny_gets:
            return 403, {"error": {"code": 403, "message": "permission denied", "status": "PERMISSION_DENIED"}}
        return 200, self._resource(path.rsplit("/", 1)[-1])

    def list(self, path, query, body):
        (text,) = urllib.parse.parse_qs(query).get("filter", [""])
        terms = text.split(" AND ") if text else []
        wanted = dict(re.fullmatch(r'labels\.([a-z0-9_-]+)="([^"]*)"', t).groups() for t in terms)
        found = [self._resource(i) for i, job in self.jobs.items()
                 if all(job["body"].get("labels", {}).get(k) == v for k, v in wanted.items())]
        return 200, {"customJobs": found}

    def cancel(self, path, query, body):
        job_id = path.rsplit("/", 1)[-1].split(":")[0]
        job = self.jobs[job_id]
        job["cancelled"] = True
        job["proc"].kill()
        return 200, {}

    def stop_all(self):
        for job in self.jobs.values():
            if job["proc"].poll() is None:
                job["proc"].kill()
            job["proc"].communicate()

    def _resource(self, job_id):
        job = self.jobs[job_id]
        rc = job["proc"].poll()
        state = ("JOB_STATE_CANCELLED" if job["cancelled"] else "JOB_STATE_RUNNING" if rc is None
                 else "JOB_STATE_SUCCEEDED" if rc == 0 else "JOB_STATE_FAILED")
        out = {**job["body"], "name": f"projects/{PROJECT}/locations/{REGION}/customJobs/{job_id}",
               "state": state, "createTime": f"2026-11-28T00:00:{int(job_id) - 1000:02d}Z"}
        if state == "JOB_STATE_FAILED":
            out["error"] = {"code": 3, "message": f"The replica workerpool0-0 exited with a non-zero status of {rc}."}
        return out


@pytest.fixture
def vertex():
    fake = FakeVertex()
    yield fake
    fake.stop_all()


def _options(url, **kw):
    """Options as Vertex AI would hand them to the launcher: placeholders resolved."""
    return customjob.JobOptions(**{
        "machine_type": "n1-standard-4", "image": "img:1", "base_output_dir": "gs://b/x",
        "poll_seconds": 0.2, "project": PROJECT, "location": REGION, "service_account": "",
        "network": "", "pipeline_job_id": "4711", "pipeline_job_name": "adanas-20261128",
        "task_name": "train-candidate", "api_endpoint": url, **kw})


def _task_args(tmp_path, name="i1_c0"):
    """A KFP Python component's arguments: the executor input names the candidate and the
    task's executor output file (beside which the launcher keeps its gcp_resources record)."""
    executor_input = {"inputs": {"parameterValues": {"candidate": json.dumps({"name": name})}},
                      "outputs": {"outputFile": str(tmp_path / "task" / "executor_output.json")}}
    return ["--executor_input", json.dumps(executor_input)]


def _start(argv, log_path):
    with open(log_path, "w") as log:
        return subprocess.Popen([sys.executable, "-m", "adanas.customjob", *argv], cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT, text=True)


def _wait_for(condition, what, timeout=60):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _creates(server):
    return [r for r in server.requests if r["method"] == "POST" and r["path"] == JOBS]


# --- options, names, worker pools --------------------------------------------------------------

def test_options_are_one_json_argument_with_vertex_placeholders_by_default():
    from kfp import dsl
    opts = customjob.JobOptions(machine_type="a2-highgpu-4g", image="i", labels={"team": "nas"})
    argv = opts.launcher_args(["sh", "-c", "prog", "--"], ["--executor_input", "{{$}}"])
    assert argv[0] == "--options" and argv[2] == "--" and argv[3:] == ["sh", "-c", "prog", "--",
                                                                      "--executor_input", "{{$}}"]
    back = customjob.JobOptions.from_json(argv[1])
    assert back == dataclasses.replace(opts, command_length=4)
    # Runtime values are Vertex AI placeholders (kfp.dsl's where kfp has them).
    assert (back.project, back.location) == ("{{$.pipeline_google_cloud_project_id}}",
                                             "{{$.pipeline_google_cloud_location}}")
    assert (back.service_account, back.network) == ("{{$.pipeline_service_account}}",
                                                    "{{$.pipeline_network}}")
    assert (back.pipeline_job_id, back.pipeline_job_name, back.task_name) == (
        dsl.PIPELINE_JOB_ID_PLACEHOLDER, dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        dsl.PIPELINE_TASK_NAME_PLACEHOLDER)
    assert customjob.resolved(back.service_account) is None and customjob.resolved("") is None
    with pytest.raises(ValueError, match="unknown CustomJob options: machine"):
        customjob.JobOptions.from_json('{"machine": "x"}')


def test_job_identity_names_the_candidate_and_labels_run_and_task(tmp_path, monkeypatch):
    monkeypatch.setenv("VERTEX_AI_PIPELINES_RUN_LABELS", '{"vertex-ai-pipelines-run-billing-id": "99"}')
    opts = _options(None, pipeline_job_id="Run/" + "X" * 80, pipeline_job_name="adanas-" + "r" * 200)
    ident = customjob.job_identity(opts, _task_args(tmp_path))
    assert ident.display_name.startswith("adanas-i1_c0-adanas-rrr") and len(ident.display_name) == 128
    run = ident.labels["adanas_run"]
    assert len(run) == 63 and re.fullmatch(r"[a-z0-9_-]+", run) and run.startswith("run-xxx")
    assert ident.keys == {"adanas_run": run, "adanas_task": ident.labels["adanas_task"]}
    assert ident.labels["adanas_name"] == "i1_c0" and ident.labels["vertex-ai-pipelines-run-billing-id"] == "99"
    # The task key is stable for the same task and inputs, distinct for another candidate.
    assert customjob.job_identity(opts, _task_args(tmp_path)).keys == ident.keys
    other = customjob.job_identity(opts, _task_args(tmp_path, "i1_c1")).keys
    assert other["adanas_task"] != ident.keys["adanas_task"]
    assert customjob.label_filter(ident.keys) == (f'labels.adanas_run="{run}" AND '
                                                 f'labels.adanas_task="{ident.keys["adanas_task"]}"')
    # Outside Vertex AI (placeholders unresolved) nothing can be found again: no keys.
    assert customjob.job_identity(customjob.JobOptions(machine_type="m"), []).keys == {}


EXECUTOR_INPUT = {
    "inputs": {"parameterValues": {"candidate": "{}"},
               "artifacts": {"dataset": {"artifacts": [{"uri": "gs://b/run/augment/dataset"}]}}},
    "outputs": {"artifacts": {"model": {"artifacts": [{"uri": "gs://b/run/train/model"}]},
                              "metrics": {"artifacts": [{"uri": "gs://b/run/train/metrics"}]}},
                "outputFile": "/gcs/b/run/train/executor_output.json"},
}


def test_worker_pools_chief_writes_outputs_other_workers_write_scratch():
    args = ["--executor_input", json.dumps(EXECUTOR_INPUT), "--function_to_execute", "train_candidate"]
    opts = customjob.JobOptions(machine_type="a2-highgpu-4g", image="r/adanas-gpu:0.1.0",
                                accelerator_type="NVIDIA_TESLA_A100", accelerator_count=4, replica_count=3)
    pools = customjob.worker_pool_specs(opts, ["sh", "-ec", "prog"], args)
    assert [p["replica_count"] for p in pools] == [1, 2]
    for p in pools:
        assert p["machine_spec"] == {"machine_type": "a2-highgpu-4g",
                                     "accelerator_type": "NVIDIA_TESLA_A100", "accelerator_count": 4}
        assert p["container_spec"]["image_uri"] == "r/adanas-gpu:0.1.0"
        assert p["container_spec"]["command"] == ["sh", "-ec", "prog"]
    assert pools[0]["container_spec"]["args"] == args  # the chief runs the task unchanged
    worker = json.loads(pools[1]["container_spec"]["args"][1])
    assert worker["inputs"] == EXECUTOR_INPUT["inputs"]  # same inputs...
    uris = [a["uri"] for g in worker["outputs"]["artifacts"].values() for a in g["artifacts"]]
    assert all(u.startswith(customjob.WORKER_SCRATCH) for u in uris)  # ...outputs off the bucket
    assert worker["outputs"]["outputFile"].startswith(customjob.WORKER_SCRATCH)
    assert customjob.staging_dir(args) == "gs://b/run/train/custom_job"
    assert customjob.record_path(args) == "/gcs/b/run/train/" + customjob.RECORD_NAME
    # CPU-only machines carry no accelerator fields; a single replica is one pool.
    (pool,) = customjob.worker_pool_specs(customjob.JobOptions(machine_type="n1-standard-8", image="i"),
                                          ["python3"], [])
    assert pool["machine_spec"] == {"machine_type": "n1-standard-8"}
    with pytest.raises(ValueError, match="--executor_input"):
        customjob.worker_pool_specs(customjob.JobOptions(machine_type="n1-standard-8", image="i",
                                                         replica_count=2), ["sh"], ["x"])


def test_tpu_vm_machine_spec_is_machine_type_and_topology():
    tpu = customjob.JobOptions(machine_type="ct5lp-hightpu-4t", accelerator_type="TPU_V5_LITEPOD",
                               accelerator_count=1, tpu_topology="2x2")
    # The machine type fixes the chips (4 x v5e): no accelerator count to disagree with it.
    assert customjob.machine_spec(tpu) == {"machine_type": "ct5lp-hightpu-4t", "tpu_topology": "2x2"}
    legacy = customjob.JobOptions(machine_type="cloud-tpu", accelerator_type="TPU_V3", accelerator_count=8)
    assert customjob.machine_spec(legacy) == {"machine_type": "cloud-tpu", "accelerator_type": "TPU_V3",
                                              "accelerator_count": 8}


# --- config and compile ------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, path, message", [
    ({"resources": {"custom_job": {"enabled": True}}}, "resources.custom_job.machine_type", "required"),
    ({"resources": {"custom_job": {"enabled": True, "machine_type": "A2 big"}}},
     "resources.custom_job.machine_type", "machine type"),
    ({"resources": {"custom_job": {"enabled": True, "machine_type": "n1-standard-8", "replica_count": 2}}},
     "resources.custom_job.replica_count", "keras-team/keras#20585"),
    ({"resources": {"train": {"accelerator_type": "TPU_V5_LITEPOD", "accelerator_count": 4}}},
     "training.distribution", "'tpu'"),
    ({"resources": {"custom_job": {"base_output_dir": "/tmp/x"}}}, "resources.custom_job.base_output_dir", "gs://"),
])
def test_custom_job_config_errors_name_the_key(overrides, path, message):
    data = config.merge(tiny_config_dict(), overrides)
    with pytest.raises(config.ConfigError) as e:
        config.from_dict(data)
    assert e.value.path == path and message in str(e.value)


def _custom_job_config(**job):
    return config.from_dict(config.merge(tiny_config_dict(), {
        "image": "us-docker.pkg.dev/p/r/adanas",
        "training": {"distribution": "mirrored"},
        "resources": {"train": {"accelerator_type": "NVIDIA_H100_80GB", "accelerator_count": 8,
                                "retries": 2},
                      "custom_job": {"enabled": True, "machine_type": "a3-highgpu-8g", **job}}}))


def test_compiled_train_tasks_launch_the_train_component_as_a_custom_job(tmp_path):
    from components import build
    from pipelines.adanas_pipeline import compile_pipeline
    cfg = _custom_job_config(spot=True)
    spec = yaml.safe_load(compile_pipeline(cfg, tmp_path / "p.yaml").read_text())
    plain = build(cfg.image_uri(), cfg.train_image_uri()).train_candidate.component_spec.implementation.container
    executors = {k: v["container"] for k, v in spec["deploymentSpec"]["executors"].items()}
    train = [c for k, c in executors.items() if k.startswith("exec-train-candidate")]
    assert len(train) == cfg.search.boosting_iterations
    launcher = cfg.resources.custom_job.launcher
    for c in train:
        assert c["image"] == cfg.image_uri() == images.image_ref("us-docker.pkg.dev/p/r/adanas")  # the launcher: CPU image
        assert c["command"] == ["python3", "-m", "adanas.customjob"]
        # The launcher task's own small resources; the job holds the GPUs.
        assert "accelerator" not in json.dumps(c.get("resources", {}))
        assert c["resources"]["resourceCpuLimit"] == launcher.cpu_limit
        assert c["resources"]["resourceMemoryLimit"] == launcher.memory_limit
        assert c["args"][0] == "--options" and c["args"][2] == "--"
        assert c["args"][3:] == [*plain.command, *plain.args]  # the train task's command, unchanged
        opts = customjob.JobOptions.from_json(c["args"][1])  # all options: one JSON argument
        assert opts == dataclasses.replace(customjob.JobOptions.from_config(cfg),
                                           command_length=len(plain.command))
        assert opts.image == images.image_ref("us-docker.pkg.dev/p/r/adanas", "gpu")
        assert (opts.machine_type, opts.accelerator_type, opts.accelerator_count, opts.spot) == (
            "a3-highgpu-8g", "NVIDIA_H100_80GB", 8, True)
        # The run's project, region, service account and network unless the config sets them.
        assert opts.project == "{{$.pipeline_google_cloud_project_id}}"
        assert opts.service_account == "{{$.pipeline_service_account}}"
        assert opts.network == "{{$.pipeline_network}}"
    # Retries of resources.train stay on the launcher tasks: a retry attaches to its job.
    text = json.dumps(spec)
    assert text.count('"maxRetryCount": 2') == cfg.search.boosting_iterations
    # A TPU VM: the job's machine spec is the machine type and topology; a configured service
    # account replaces the run's.
    cfg = config.from_dict(config.merge(tiny_config_dict(), {
        "training": {"distribution": "tpu"},
        "resources": {"train": {"accelerator_type": "TPU_V5_LITEPOD", "accelerator_count": 4},
                      "custom_job": {"enabled": True, "machine_type": "ct5lp-hightpu-4t",
                                     "tpu_topology": "2x2",
                                     "service_account": "sa@p.iam.gserviceaccount.com"}}}))
    spec = yaml.safe_load(compile_pipeline(cfg, tmp_path / "tpu.yaml").read_text())
    (c, *_) = [e["container"] for k, e in spec["deploymentSpec"]["executors"].items()
               if k.startswith("exec-train-candidate")]
    opts = customjob.JobOptions.from_json(c["args"][1])
    assert opts.image == cfg.train_image_uri() and opts.image.split(":")[0].endswith("-tpu")
    assert customjob.machine_spec(opts) == {"machine_type": "ct5lp-hightpu-4t", "tpu_topology": "2x2"}
    assert opts.service_account == "sa@p.iam.gserviceaccount.com"


def test_kubernetes_target_refuses_custom_jobs(tmp_path):
    from pipelines.adanas_pipeline import compile_pipeline
    with pytest.raises(ValueError, match="vertex target only"):
        compile_pipeline(_custom_job_config(), tmp_path / "k.yaml", target="kubernetes")


# --- the launcher against the stand-in ----------------------------------------------------------

def test_created_job_runs_as_the_pipeline_service_account_on_a_tpu_vm(tmp_path, vertex):
    opts = _options(None, service_account="pipelines@p.iam.gserviceaccount.com", network="",
                    machine_type="ct5lp-hightpu-4t", accelerator_type="TPU_V5_LITEPOD",
                    accelerator_count=4, tpu_topology="2x2", poll_seconds=0.1)
    with StandIn(vertex.routes()) as server:
        argv = dataclasses.replace(opts, api_endpoint=server.url).launcher_args(
            ["sh", "-c", "true"], _task_args(tmp_path))
        assert customjob.main(argv) == 0
    (create,) = _creates(server)
    body = create["body"]
    assert body["jobSpec"]["serviceAccount"] == "pipelines@p.iam.gserviceaccount.com"
    assert "network" not in body["jobSpec"]  # the run set no network: {{$.pipeline_network}} is ""
    assert body["displayName"] == "adanas-i1_c0-adanas-20261128"
    assert body["labels"]["adanas_run"] == "4711" and body["labels"]["adanas_name"] == "i1_c0"
    (pool,) = body["jobSpec"]["workerPoolSpecs"]
    assert pool["machineSpec"] == {"machineType": "ct5lp-hightpu-4t", "tpuTopology": "2x2"}
    record = json.loads((tmp_path / "task" / customjob.RECORD_NAME).read_text())
    assert record == {"resources": [{"resourceType": "CustomJob", "resourceUri":
                                     f"{server.url}/v1/projects/{PROJECT}/locations/{REGION}/customJobs/1000"}]}


def test_failed_custom_job_fails_the_task_with_vertex_message(vertex):
    with StandIn(vertex.routes()) as server:
        with pytest.raises(RuntimeError, match="JOB_STATE_FAILED: The replica workerpool0-0 exited "
                                               "with a non-zero status of 3"):
            customjob.main(_options(server.url).launcher_args(["sh", "-c"], ["exit 3"]))
    (create,) = _creates(server)
    body = create["body"]
    assert body["displayName"] == "adanas-train-candidate-adanas-20261128"
    assert body["jobSpec"]["baseOutputDirectory"] == {"outputUriPrefix": "gs://b/x"}
    assert "serviceAccount" not in body["jobSpec"]
    (pool,) = body["jobSpec"]["workerPoolSpecs"]
    assert pool["machineSpec"] == {"machineType": "n1-standard-4"}
    assert pool["containerSpec"] == {"imageUri": "img:1", "command": ["sh", "-c"], "args": ["exit 3"]}
    assert not any(r["path"].endswith(":cancel") for r in server.requests)  # it ended by itself


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_cancels_the_custom_job(tmp_path, vertex, signum):
    with StandIn(vertex.routes()) as server:
        proc = _start(_options(server.url).launcher_args(["sleep", "60"], []), tmp_path / "log")
        _wait_for(lambda: any(r["method"] == "GET" and "/customJobs/" in r["path"]
                              for r in server.requests), "the launcher to poll")
        proc.send_signal(signum)
        proc.wait(timeout=60)
    out = (tmp_path / "log").read_text()
    assert proc.returncode == 128 + signum, out
    assert any(r["path"].endswith("/1000:cancel") for r in server.requests), out
    assert vertex.jobs["1000"]["cancelled"]


def test_error_in_the_poll_loop_cancels_the_custom_job(vertex):
    from google.api_core import exceptions
    vertex.deny_gets = True  # polling fails with 403 (not transient) right after the create
    with StandIn(vertex.routes()) as server:
        with pytest.raises(exceptions.Forbidden):
            customjob.main(_options(server.url).launcher_args(["sleep", "60"], []))
    assert len(_creates(server)) == 1
    assert any(r["path"].endswith("/1000:cancel") for r in server.requests)
    assert vertex.jobs["1000"]["cancelled"]


@pytest.mark.parametrize("found_by", ["record", "labels"])
def test_killed_launcher_attaches_to_its_running_job_instead_of_creating_another(tmp_path, vertex, found_by):
    go = tmp_path / "go"
    with StandIn(vertex.routes()) as server:
        argv = _options(server.url).launcher_args(
            ["sh", "-c", f"while [ ! -f {go} ]; do sleep 0.1; done"], _task_args(tmp_path))
        first = _start(argv, tmp_path / "first.log")
        _wait_for(lambda: any(r["method"] == "GET" and "/customJobs/" in r["path"]
                              for r in server.requests), "the first launcher to poll")
        first.kill()  # SIGKILL: no chance to cancel
        first.wait(timeout=30)
        assert vertex.jobs["1000"]["proc"].poll() is None and not vertex.jobs["1000"]["cancelled"]
        record = tmp_path / "task" / customjob.RECORD_NAME
        assert record.exists()
        if found_by == "labels":  # e.g. killed before it could write the record
            record.unlink()
        second = _start(argv, tmp_path / "second.log")
        _wait_for(lambda: "attaching" in (tmp_path / "second.log").read_text(), "the rerun to attach")
        go.touch()  # now the job succeeds
        second.wait(timeout=60)
    out = (tmp_path / "second.log").read_text()
    assert second.returncode == 0, out
    assert len(_creates(server)) == 1 and len(vertex.jobs) == 1, out  # exactly one CustomJob
    assert vertex.jobs["1000"]["proc"].returncode == 0
    lists = [r for r in server.requests if r["method"] == "GET" and r["path"] == JOBS]
    # The first launcher looked for its job by labels before creating it; the rerun found it
    # through the record, or without one by the same label filter.
    assert len(lists) == (2 if found_by == "labels" else 1)
    keys = customjob.job_identity(_options(server.url), _task_args(tmp_path)).keys
    for listed in lists:
        assert urllib.parse.parse_qs(listed["query"])["filter"] == [customjob.label_filter(keys)]
    assert "projects/test-project/locations/europe-west4/customJobs/1000" in record.read_text()


@pytest.mark.slow
def test_pipeline_trains_candidates_through_custom_jobs(tmp_path, monkeypatch, vertex):
    import pipelines.adanas_pipeline as pipeline_module
    from components.custom_job import as_custom_job
    from pipelines.local_run import run_local

    cfg = config.from_dict(config.merge(tiny_config_dict(boosting_iterations=1), {"resources": {
        "custom_job": {"enabled": True, "machine_type": "n1-standard-4", "project": PROJECT,
                       "location": REGION, "base_output_dir": "gs://b/adanas", "poll_seconds": 0.2}}}))
    with StandIn(vertex.routes()) as server:
        # kfp.local resolves the run and task placeholders but not the service account and
        # network ones (Vertex AI's): give those.
        monkeypatch.setattr(pipeline_module, "as_custom_job", functools.partial(
            as_custom_job, api_endpoint=server.url, service_account="sa@p.iam.gserviceaccount.com",
            network=""))
        report, _ = run_local(cfg, tmp_path / "root")
    # Both candidates were trained inside "CustomJobs", and their outputs reached the pipeline.
    assert len(vertex.jobs) == cfg.search.candidates_per_iteration
    assert all(j["proc"].returncode == 0 for j in vertex.jobs.values())
    assert report["ensemble_size"] == 1 and 0.0 <= report["test_error"] <= 1.0
    names = sorted(j["body"]["displayName"] for j in vertex.jobs.values())
    assert [n.split("-")[:2] for n in names] == [["adanas", "i0_c0"], ["adanas", "i0_c1"]]
    for job in vertex.jobs.values():
        (pool,) = job["body"]["jobSpec"]["workerPoolSpecs"]
        assert pool["machineSpec"] == {"machineType": "n1-standard-4"}
        assert pool["containerSpec"]["imageUri"] == cfg.train_image_uri()
        assert job["body"]["jobSpec"]["serviceAccount"] == "sa@p.iam.gserviceaccount.com"
        assert {"adanas_run", "adanas_task", "adanas_name"} <= set(job["body"]["labels"])
    trained = list((tmp_path / "root").glob("*/*/train-candidate*/model/model.keras"))
    assert len(trained) == cfg.search.candidates_per_iteration
