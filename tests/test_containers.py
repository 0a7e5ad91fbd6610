"""The images: pinned bases, the package installed at its pinned requirements, and the names
`make images` tags are the ones the compiled pipeline runs. (No Docker engine runs here, so the
images themselves are not built in tests.)"""

import re
import subprocess
import tomllib

import yaml

from adanas import __version__, config
from pipelines.adanas_pipeline import compile_pipeline
from conftest import ROOT


def test_dockerfiles_pin_their_base_and_install_this_package():
    for name, extra in (("Dockerfile", "cpu"), ("Dockerfile.gpu", "gpu"), ("Dockerfile.tpu", "tpu")):
        text = (ROOT / "containers" / name).read_text()
        base = re.search(r"^FROM (\S+)", text, re.M).group(1)
        assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base), base
        assert "latest" not in text
        assert f'pip install ".[{extra}]"' in text
        for copied in ("adanas", "components", "pipelines", "pyproject.toml"):
            assert re.search(rf"^COPY .*{copied}", text, re.M), (name, copied)


def test_every_requirement_is_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    for req in reqs:
        assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][0-9a-z.]*", req), req


def test_make_images_tags_what_the_pipeline_runs(tmp_path):
    repo = "us-docker.pkg.dev/p/r/adanas"
    dry = subprocess.run(["make", "-n", "images", f"IMAGE={repo}"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    tags = set(re.findall(r"docker build .* -t (\S+) \.", dry))
    assert tags == {f"{repo}{kind}:{__version__}" for kind in ("", "-gpu", "-tpu")}
    used = set()
    for overrides in ([], ["resources.train.accelerator_type=TPU_V5_LITEPOD", "training.distribution=tpu",
                           "resources.custom_job.enabled=true",
                           "resources.custom_job.machine_type=ct5lp-hightpu-4t"]):
        cfg = config.load_config(ROOT / "pipelines" / "configs" / "cifar10.yaml", [f"image={repo}", *overrides])
        spec = yaml.safe_load(compile_pipeline(cfg, tmp_path / "p.yaml").read_text())
        for e in spec["deploymentSpec"]["executors"].values():
            used.add(e["container"]["image"])
            args = e["container"].get("args", [])
            if "--image" in args:  # a CustomJob launcher: the image its workers run
                used.add(args[args.index("--image") + 1])
    assert used == tags


def test_cloud_build_builds_and_pushes_the_same_images():
    build = yaml.safe_load((ROOT / "containers" / "cloudbuild.yaml").read_text())
    repo, version = "us-docker.pkg.dev/p/r/adanas", __version__
    dry = subprocess.run(["make", "-n", "images", f"IMAGE={repo}"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    made = set(re.findall(r"docker build -f (\S+) -t (\S+) \.", dry))

    def sub(text):
        return text.replace("${_IMAGE}", repo).replace("${_VERSION}", version)
    built = {(step["args"][2], sub(step["args"][4])) for step in build["steps"]}
    assert built == made
    assert {sub(i) for i in build["images"]} == {tag for _, tag in made}
    for step in build["steps"]:
        assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*", step["name"])  # a pinned builder
