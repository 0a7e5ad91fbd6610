"""The `adanas` command line: help for every option, config errors before any compute."""

import subprocess
import sys

import pytest

from pipelines import cli
from conftest import ROOT


@pytest.mark.parametrize("command, options", [
    ("run", ["--config", "--set", "--pipeline-root", "--cache", "--in-process"]),
    ("compile", ["--config", "--set", "--output", "--target"]),
    ("submit", ["--project", "--region", "--pipeline-root", "--service-account", "--network", "--experiment",
                "--label", "--cache", "--job-id", "--template"]),
    ("validate", ["--config", "--show"]),
    ("components", ["--output-dir", "--image"]),
    ("kfp-submit", ["--host", "--experiment", "--run-name", "--namespace", "--cache"]),
])
def test_help_explains_every_option(command, options, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for option in options:
        assert option in out


def test_bad_config_fails_fast_with_the_key_path(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("search:\n  boosting_iterations: 0\n")
    assert cli.main(["run", "--config", str(bad), "--pipeline-root", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "search.boosting_iterations: must be >= 1" in err
    assert not (tmp_path / "r").exists()  # nothing ran


def test_validate_and_compile(tmp_path, capsys):
    assert cli.main(["validate"]) == 0
    out_yaml = tmp_path / "p.yaml"
    assert cli.main(["compile", "--set", "search.boosting_iterations=2", "--output", str(out_yaml)]) == 0
    assert "adanas-digits" in out_yaml.read_text()
    assert cli.main(["validate", "--set", "training.optimizer=lion"]) == 2
    assert "training.optimizer" in capsys.readouterr().err


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "pipelines.cli", "--help"], capture_output=True,
                         text=True, cwd=ROOT, check=True).stdout
    for command in ("run", "compile", "submit", "validate", "components"):
        assert command in out


@pytest.mark.parametrize("flag", ["--cache", "--no-cache", "--no-hermetic", "--hermetic", "--verbose"])
def test_in_process_refuses_the_options_only_kfp_local_reads(flag, tmp_path, capsys):
    assert cli.main(["run", "--in-process", flag, "--pipeline-root", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "--in-process runs the steps in this process, without kfp.local" in err and f"drop {flag}" in err
    assert not (tmp_path / "r").exists()  # nothing ran
