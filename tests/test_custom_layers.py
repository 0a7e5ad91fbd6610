"""Members built with a user's custom layers load in the evaluate step, which never ran the
builder: it imports the builder's module first, so its registered layers are known."""

import os
import subprocess
import sys
from pathlib import Path

from adanas import artifacts, config, ensemble, generators, train
from conftest import ROOT, tiny_config_dict

TESTS = Path(__file__).parent


def test_a_custom_layer_member_goes_through_select_and_evaluate(digits_dir, tmp_path):
    cfg = config.from_dict(tiny_config_dict(
        family="keras", builder="example_builders:with_custom_layer", architecture={"units": 8},
        generator="simple", candidates_per_iteration=1, boosting_iterations=1))
    (spec,) = generators.propose(cfg.search, 0, 0, None)
    train.train_step(spec, cfg.training, digits_dir, tmp_path / "c0")
    assert "failed" not in artifacts.read_candidate(tmp_path / "c0")[0]
    ensemble.select_step(cfg.search, 0, digits_dir, [tmp_path / "c0"], None, tmp_path / "ens")
    # A fresh process, as the evaluate task is: example_builders is importable, not imported.
    code = ("import sys; from adanas import evaluate; "
            "r = evaluate.evaluate_step(*sys.argv[1:5]); "
            "assert 'example_builders' in sys.modules; print(r['members'][0]['arch'])")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}
    out = subprocess.run([sys.executable, "-c", code, str(digits_dir), str(tmp_path / "ens"),
                          str(tmp_path / "model"), str(tmp_path / "report")],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("with_custom_layer")
    assert artifacts.read_report(tmp_path / "report")["test_error"] <= 1.0
    # The report names each member's builder: the distill step imports it before it loads the
    # exported ensemble.
    assert artifacts.read_report(tmp_path / "report")["members"][0]["builder"] == "example_builders:with_custom_layer"
    # A live distillation teacher loads the members before the candidate's model is built (which
    # would import the builder): a fresh process, as the next iteration's train task is.
    code = ("import sys; from adanas import train; "
            "t = train.live_teacher(sys.argv[1], 'adaptive', (8, 8, 1)); print(t.outputs[0].shape[-1])")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "ens")],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("10")
