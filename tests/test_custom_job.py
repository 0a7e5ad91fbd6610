"""Candidates trained as Vertex AI CustomJobs (adanas/customjob.py, components/custom_job.py).

Vertex AI cannot be reached from here. The stand-in on 127.0.0.1 speaks the CustomJob REST API
the real aiplatform client uses, and does what Vertex AI would do with the chief worker pool: it
runs the container's command and args (here on this machine, in place of the GPU image) and
reports the job's state from that process. Through kfp.local, the pipeline's train tasks then
get their outputs from work done "inside" the CustomJob, exactly as on Vertex AI via /gcs/.
"""

import functools
import json
import signal
import subprocess
import sys
import threading
import time

import pytest
import yaml

from adanas import config, customjob
from conftest import ROOT, tiny_config_dict
from standin import StandIn

PROJECT, REGION = "test-project", "europe-west4"
JOBS = f"/v1/projects/{PROJECT}/locations/{REGION}/customJobs"


class FakeVertex:
    """CustomJob create / get / cancel; each job runs its chief pool's command locally."""

    def __init__(self):
        self.jobs = {}
        self.lock = threading.Lock()

    def routes(self):
        return {("POST", JOBS + "/"): self.cancel, ("POST", JOBS): self.create,
                ("GET", JOBS + "/"): self.get}

    def create(self, path, query, body):
        with self.lock:
            job_id = str(1000 + len(self.jobs))
            container = body["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]
            proc = subprocess.Popen([*container.get("command", []), *container.get("args", [])],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            self.jobs[job_id] = {"body": body, "proc": proc, "cancelled": False}
        return 200, self._resource(job_id)

    def get(self, path, query, body):
        return 200, self._resource(path.rsplit("/", 1)[-1])

    def cancel(self, path, query, body):
        job_id = path.rsplit("/", 1)[-1].split(":")[0]
        job = self.jobs[job_id]
        job["cancelled"] = True
        job["proc"].kill()
        return 200, {}

    def _resource(self, job_id):
        job = self.jobs[job_id]
        rc = job["proc"].poll()
        state = ("JOB_STATE_CANCELLED" if job["cancelled"] else "JOB_STATE_RUNNING" if rc is None
                 else "JOB_STATE_SUCCEEDED" if rc == 0 else "JOB_STATE_FAILED")
        out = {**job["body"], "name": f"projects/{PROJECT}/locations/{REGION}/customJobs/{job_id}",
               "state": state, "createTime": "2026-11-28T00:00:00Z"}
        if state == "JOB_STATE_FAILED":
            out["error"] = {"code": 3, "message": f"The replica workerpool0-0 exited with a non-zero status of {rc}."}
        return out


def _launcher_argv(url, *task, extra=()):
    return ["--project", PROJECT, "--location", REGION, "--display-name", "t", "--image", "img:1",
            "--machine-type", "n1-standard-4", "--base-output-dir", "gs://b/x", "--poll-seconds", "0.2",
            "--api-endpoint", url, "--command-length", "2", *extra, "--", *task]


# --- worker pools ------------------------------------------------------------------------------

EXECUTOR_INPUT = {
    "inputs": {"parameterValues": {"candidate": "{}"},
               "artifacts": {"dataset": {"artifacts": [{"uri": "gs://b/run/augment/dataset"}]}}},
    "outputs": {"artifacts": {"model": {"artifacts": [{"uri": "gs://b/run/train/model"}]},
                              "metrics": {"artifacts": [{"uri": "gs://b/run/train/metrics"}]}},
                "outputFile": "/gcs/b/run/train/executor_output.json"},
}


def test_worker_pools_chief_writes_outputs_other_workers_write_scratch():
    args = ["--executor_input", json.dumps(EXECUTOR_INPUT), "--function_to_execute", "train_candidate"]
    pools = customjob.worker_pool_specs(["sh", "-ec", "prog"], args, image="r/adanas-gpu:0.1.0",
                                        machine_type="a2-highgpu-4g", accelerator_type="NVIDIA_TESLA_A100",
                                        accelerator_count=4, replica_count=3)
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
    # CPU-only machines carry no accelerator fields; a single replica is one pool.
    (pool,) = customjob.worker_pool_specs(["python3"], [], image="i", machine_type="n1-standard-8")
    assert pool["machine_spec"] == {"machine_type": "n1-standard-8"}
    with pytest.raises(ValueError, match="--executor_input"):
        customjob.worker_pool_specs(["sh"], ["x"], image="i", machine_type="n1-standard-8", replica_count=2)


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
    cfg = _custom_job_config(spot=True, service_account="sa@p.iam.gserviceaccount.com")
    spec = yaml.safe_load(compile_pipeline(cfg, tmp_path / "p.yaml").read_text())
    plain = build(cfg.image_uri(), cfg.train_image_uri()).train_candidate.component_spec.implementation.container
    executors = {k: v["container"] for k, v in spec["deploymentSpec"]["executors"].items()}
    train = [c for k, c in executors.items() if k.startswith("exec-train-candidate")]
    assert len(train) == cfg.search.boosting_iterations
    for c in train:
        assert c["image"] == "us-docker.pkg.dev/p/r/adanas:0.1.0"  # the launcher: CPU image
        assert c["command"] == ["python3", "-m", "adanas.customjob"]
        assert "accelerator" not in json.dumps(c.get("resources", {}))  # the job holds the GPUs
        own, task = c["args"][:c["args"].index("--")], c["args"][c["args"].index("--") + 1:]
        assert task == [*plain.command, *plain.args]  # the train task's own command, unchanged
        flags = dict(zip(own[::2], own[1::2]))
        assert flags["--image"] == "us-docker.pkg.dev/p/r/adanas-gpu:0.1.0"
        assert flags["--machine-type"] == "a3-highgpu-8g"
        assert (flags["--accelerator-type"], flags["--accelerator-count"]) == ("NVIDIA_H100_80GB", "8")
        assert flags["--project"] == "{{$.pipeline_google_cloud_project_id}}"
        assert flags["--service-account"] == "sa@p.iam.gserviceaccount.com"
        assert "--spot" in own
    # Retries stay on the train tasks: a retried launcher starts a new job, which resumes.
    text = json.dumps(spec)
    assert text.count('"maxRetryCount": 2') == cfg.search.boosting_iterations


def test_kubernetes_target_refuses_custom_jobs(tmp_path):
    from pipelines.adanas_pipeline import compile_pipeline
    with pytest.raises(ValueError, match="vertex target only"):
        compile_pipeline(_custom_job_config(), tmp_path / "k.yaml", target="kubernetes")


# --- the launcher against the stand-in ----------------------------------------------------------

def test_failed_custom_job_fails_the_task_with_vertex_message():
    vertex = FakeVertex()
    with StandIn(vertex.routes()) as server:
        with pytest.raises(RuntimeError, match="JOB_STATE_FAILED: The replica workerpool0-0 exited "
                                               "with a non-zero status of 3"):
            customjob.main(_launcher_argv(server.url, "sh", "-c", "exit 3"))
    (create,) = [r for r in server.requests if r["method"] == "POST"]
    body = create["body"]
    assert body["displayName"] == "t"
    assert body["jobSpec"]["baseOutputDirectory"] == {"outputUriPrefix": "gs://b/x"}
    (pool,) = body["jobSpec"]["workerPoolSpecs"]
    assert pool["machineSpec"] == {"machineType": "n1-standard-4"}
    assert pool["containerSpec"] == {"imageUri": "img:1", "command": ["sh", "-c"], "args": ["exit 3"]}


def test_sigterm_cancels_the_custom_job():
    vertex = FakeVertex()
    with StandIn(vertex.routes()) as server:
        proc = subprocess.Popen([sys.executable, "-m", "adanas.customjob",
                                 *_launcher_argv(server.url, "sleep", "60")], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 60
        while not any(r["method"] == "GET" for r in server.requests) and time.time() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, out
    assert any(r["path"].endswith(":cancel") for r in server.requests), out
    assert vertex.jobs["1000"]["cancelled"]


@pytest.mark.slow
def test_pipeline_trains_candidates_through_custom_jobs(tmp_path, monkeypatch):
    import pipelines.adanas_pipeline as pipeline_module
    from components.custom_job import as_custom_job
    from pipelines.local_run import run_local

    vertex = FakeVertex()
    cfg = config.from_dict(config.merge(tiny_config_dict(boosting_iterations=1), {"resources": {
        "custom_job": {"enabled": True, "machine_type": "n1-standard-4", "project": PROJECT,
                       "location": REGION, "base_output_dir": "gs://b/adanas", "poll_seconds": 0.2}}}))
    with StandIn(vertex.routes()) as server:
        monkeypatch.setattr(pipeline_module, "as_custom_job",
                            functools.partial(as_custom_job, api_endpoint=server.url))
        report, _ = run_local(cfg, tmp_path / "root")
    # Both candidates were trained inside "CustomJobs", and their outputs reached the pipeline.
    assert len(vertex.jobs) == cfg.search.candidates_per_iteration
    assert all(j["proc"].returncode == 0 for j in vertex.jobs.values())
    assert report["ensemble_size"] == 1 and 0.0 <= report["test_error"] <= 1.0
    for job in vertex.jobs.values():
        (pool,) = job["body"]["jobSpec"]["workerPoolSpecs"]
        assert pool["machineSpec"] == {"machineType": "n1-standard-4"}
        assert pool["containerSpec"]["imageUri"] == cfg.train_image_uri()
    trained = list((tmp_path / "root").glob("*/*/train-candidate*/model/model.keras"))
    assert len(trained) == cfg.search.candidates_per_iteration
