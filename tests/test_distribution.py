"""tf.distribute: a candidate trains under MirroredStrategy, here over two logical CPU devices
(the code path multi-GPU tasks take)."""

import json
import os
import subprocess
import sys

from adanas import config, generators
from conftest import ROOT, tiny_config_dict

SCRIPT = """
import json, logging, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s", force=True)
from adanas import config, train
spec, training, dataset, out = json.loads(sys.argv[1])
metrics = train.train_candidate(spec, config.section_from_json("training", training), dataset, out)
print("METRICS", json.dumps(metrics))
"""


def test_mirrored_strategy_over_two_cpu_devices(digits_dir, tmp_path):
    cfg = config.from_dict({**tiny_config_dict(), "training": {
        "max_iteration_steps": 4, "train_epochs": None, "batch_size": 16, "distribution": "mirrored"}})
    spec = generators.propose(cfg.search, 0, 0, None)[0]
    args = [spec, config.section_json(cfg, "training"), str(digits_dir), str(tmp_path / "out")]
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(args)], cwd=ROOT, text=True,
                          capture_output=True, timeout=600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "on 2 replica(s)" in proc.stdout
    metrics = json.loads(proc.stdout.split("METRICS ", 1)[1])
    assert metrics["train_steps"] == 4 and metrics["params"] > 0
    assert (tmp_path / "out" / "model.keras").exists()

