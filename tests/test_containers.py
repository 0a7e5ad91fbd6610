"""The images: pinned bases, a dependency layer before the code, pinned accelerator wheels, a
non-root user, the GPU driver's paths, and one tag, `<version>-<content hash>`, shared by what
`make images` and Cloud Build build and what the compiled pipeline runs. (No Docker engine runs
here, so the images themselves are not built in tests: these checks read the Dockerfiles.)"""

import importlib.metadata
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
import yaml

from adanas import __version__, config, images
from pipelines.adanas_pipeline import compile_pipeline
from pipelines.vertex import template_images
from conftest import ROOT

DOCKERFILES = {"Dockerfile": "cpu", "Dockerfile.gpu": "gpu", "Dockerfile.tpu": "tpu"}
REPO = "us-docker.pkg.dev/p/r/adanas"


def _instructions(name):
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = (ROOT / "containers" / name).read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(m.group(1).upper(), m.group(2).strip())
            for m in re.finditer(r"^\s*([A-Za-z]+)\s+(.*)$", joined, re.M)]


def _env(value, env):
    """Dockerfile variable substitution: $VAR, ${VAR}, ${VAR:-word}, ${VAR:+word}."""
    def sub(m):
        name, op, word = m.group(1) or m.group(4), m.group(2), m.group(3)
        if op == ":+":
            return _env(word, env) if env.get(name) else ""
        if op == ":-":
            return env.get(name) or _env(word, env)
        return env.get(name, "")
    return re.sub(r"\$\{(\w+)(?:(:[+-])((?:[^{}]|\{[^{}]*\})*))?\}|\$(\w+)", sub, value)


def _apply_env(args, env):
    """One ENV instruction (several KEY=VALUE): every value sees the variables from before it."""
    before = dict(env)
    for key, value in re.findall(r"(\w+)=(\S+)", args):
        env[key] = _env(value, before)
    return env


def _make_images(repo=REPO):
    dry = subprocess.run(["make", "-n", "images", f"IMAGE={repo}"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return re.findall(r"docker build -f (\S+) --build-arg ADANAS_TAG=(\S+) -t (\S+) \.", dry)


def test_dockerfiles_pin_their_base_and_install_dependencies_before_the_code():
    for name, extra in DOCKERFILES.items():
        steps = _instructions(name)
        assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", steps[0][1]) and steps[0][0] == "FROM"
        assert "latest" not in (ROOT / "containers" / name).read_text()
        copies = [i for i, (op, _) in enumerate(steps) if op == "COPY"]
        runs = {i: args for i, (op, args) in enumerate(steps) if op == "RUN"}
        deps = next(i for i, args in runs.items() if "requirements.py" in args)
        code = next(i for i, args in runs.items() if "pip install --no-deps ." in args)
        # The dependency layer sees only what pins the dependencies...
        before = [steps[i][1] for i in copies if i < deps]
        assert before and all(set(a.split()[:-1]) <= {"pyproject.toml", "containers/requirements.py",
                                                      f"containers/constraints-{extra}.txt"}
                              for a in before), before
        assert f"requirements.py pyproject.toml {extra} " in runs[deps]
        assert "pip install -r" in runs[deps]
        # ...and the code comes after it, installed without resolving anything again.
        for copied in ("adanas", "components", "pipelines", "containers", "README.md"):
            assert any(re.match(rf"{copied} ", steps[i][1]) for i in copies if deps < i < code), (name, copied)
        assert "adanas.images stamp --root /opt/adanas" in runs[code]
        assert 'adanas.images check "$ADANAS_TAG"' in runs[code]


def test_accelerator_images_install_with_pinned_constraints():
    for name, kind in (("Dockerfile.gpu", "gpu"), ("Dockerfile.tpu", "tpu")):
        path = ROOT / "containers" / f"constraints-{kind}.txt"
        lines = path.read_text().splitlines()
        assert lines and all(re.fullmatch(r"[a-z0-9][a-z0-9_.\-]*==[0-9][0-9a-z.]*", line) for line in lines), lines
        runs = [a for op, a in _instructions(name) if op == "RUN" and "pip install -r" in a]
        assert runs and all(f"-c containers/constraints-{kind}.txt" in r for r in runs), name
    assert "constraints" not in (ROOT / "containers" / "Dockerfile").read_text()


def test_gpu_constraints_pin_exactly_the_cuda_wheels_tensorflow_declares():
    """tensorflow 2.21.0 (the tensorflow-cpu wheel here carries the same metadata) asks for its
    `and-cuda` wheels as ranges, `>=` the CUDA 12.5 / cuDNN 9.3 it is built against; left free,
    pip takes the newest 12.x. The image pins each to that minimum."""
    from packaging.requirements import Requirement
    dist = next((d for d in ("tensorflow", "tensorflow-cpu") if _installed(d) == "2.21.0"), None)
    if dist is None:
        pytest.skip("needs tensorflow(-cpu) 2.21.0's metadata")
    cuda = [Requirement(r) for r in importlib.metadata.requires(dist)
            if Requirement(r).marker and Requirement(r).marker.evaluate({"extra": "and-cuda"})]
    pins = dict(line.split("==") for line in
                (ROOT / "containers" / "constraints-gpu.txt").read_text().splitlines())
    assert set(pins) == {r.name for r in cuda}
    for r in cuda:
        (low,) = [s.version for s in r.specifier if s.operator == ">="]
        assert pins[r.name] == low and r.specifier.contains(pins[r.name]), r
    # tensorflow-tpu 2.20.0's METADATA asks for libtpu~=0.0.14 (the only one it names).
    assert (ROOT / "containers" / "constraints-tpu.txt").read_text().split() == ["libtpu==0.0.14"]


def _installed(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def test_requirements_script_lists_pyprojects_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for extra in DOCKERFILES.values():
        out = subprocess.run([sys.executable, "containers/requirements.py", "pyproject.toml", extra],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
        assert out == project["dependencies"] + project["optional-dependencies"][extra]
    bad = subprocess.run([sys.executable, "containers/requirements.py", "pyproject.toml", "gpus"],
                         cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode != 0 and "no extra 'gpus'" in bad.stderr


def test_each_image_pins_the_tensorboard_of_its_tensorflow():
    """tensorflow-tpu 2.20.0 asks for tensorboard~=2.20.0 (checked with pip's resolver on
    2026-12-01: with 2.21.0 the TPU image's requirements are ResolutionImpossible). TF 2.21 asks
    for none, and the summaries need one: each image gets its TensorFlow's minor release."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for extra in DOCKERFILES.values():
        pins = dict(re.sub(r"\[.*\]", "", r).split("==")
                    for r in project["dependencies"] + project["optional-dependencies"][extra])
        (tf,) = [v for k, v in pins.items() if k in ("tensorflow", "tensorflow-cpu", "tensorflow-tpu")]
        assert pins.get("tensorboard", "").rsplit(".", 1)[0] == tf.rsplit(".", 1)[0], (extra, pins.get("tensorboard"), tf)


def test_every_requirement_is_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    for req in reqs:
        assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][0-9a-z.]*", req), req


def test_images_run_as_a_non_root_user_with_a_writable_home():
    for name in DOCKERFILES:
        steps = _instructions(name)
        assert steps[-1] == ("USER", "1000"), name         # numeric: runAsNonRoot can verify it
        useradd = next(a for op, a in steps if op == "RUN" and "useradd" in a)
        assert "--uid 1000" in useradd and "--create-home --home-dir /home/adanas" in useradd
        assert "chmod 0775 /home/adanas" in useradd       # group 0 (arbitrary uids) may write too
        env = {}
        for op, args in steps:
            if op == "ENV":
                _apply_env(args, env)
        assert env["HOME"] == "/home/adanas"               # ~/.keras, ~/tensorflow_datasets
        assert ("WORKDIR", "/home/adanas") in steps[-3:]
        assert any("chmod -R a+rX /opt/adanas" in a for op, a in steps if op == "RUN")


def test_gpu_image_puts_the_node_driver_on_its_paths():
    """GKE and Vertex AI mount the NVIDIA driver at /usr/local/nvidia."""
    base = {"PATH": "/usr/local/bin:/usr/bin:/bin"}           # python:3.11-slim sets no LD_LIBRARY_PATH
    for start, want in ((base, "/usr/local/nvidia/lib64:/usr/local/nvidia/lib"),
                        ({**base, "LD_LIBRARY_PATH": "/opt/x"}, "/usr/local/nvidia/lib64:/usr/local/nvidia/lib:/opt/x")):
        env = dict(start)
        for op, args in _instructions("Dockerfile.gpu"):
            if op == "ENV":
                _apply_env(args, env)
        assert env["LD_LIBRARY_PATH"] == want                 # no empty entry (= the current dir)
        assert env["PATH"] == "/usr/local/nvidia/bin:/usr/local/bin:/usr/bin:/bin"
    for name in ("Dockerfile", "Dockerfile.tpu"):
        assert "nvidia" not in (ROOT / "containers" / name).read_text()


def test_make_images_tags_what_the_pipeline_runs(tmp_path):
    tag = images.image_tag()
    assert re.fullmatch(rf"{re.escape(__version__)}-[0-9a-f]{{12}}", tag)
    made = _make_images()
    assert {f for f, _, _ in made} == {f"containers/{n}" for n in DOCKERFILES}
    assert all(arg == tag for _, arg, _ in made)              # the build checks its sources' hash
    tags = {t for _, _, t in made}
    assert tags == {images.image_ref(REPO, kind) for kind in images.KINDS}
    assert tags == {f"{REPO}{kind}:{tag}" for kind in ("", "-gpu", "-tpu")}
    used = set()
    for overrides in ([], ["resources.train.accelerator_type=TPU_V5_LITEPOD", "training.distribution=tpu",
                           "resources.custom_job.enabled=true",
                           "resources.custom_job.machine_type=ct5lp-hightpu-4t",
                           "kubernetes.accelerator_resource=null"]):
        cfg = config.load_config(ROOT / "pipelines" / "configs" / "cifar10.yaml", [f"image={REPO}", *overrides])
        used |= set(template_images(compile_pipeline(cfg, tmp_path / "p.yaml")))
    assert used == tags
    py = subprocess.run([sys.executable, "-m", "adanas.images", "tag"], cwd=ROOT, capture_output=True,
                        text=True, check=True).stdout.strip()
    assert py == tag


def test_cloud_build_builds_and_pushes_the_same_images():
    build = yaml.safe_load((ROOT / "containers" / "cloudbuild.yaml").read_text())
    made = _make_images()
    tag = made[0][1]
    dry = subprocess.run(["make", "-n", "cloudbuild", f"IMAGE={REPO}"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert f"--substitutions=_IMAGE={REPO},_TAG={tag} ." in dry

    def sub(text):
        return text.replace("${_IMAGE}", REPO).replace("${_TAG}", tag)
    built = set()
    for step in build["steps"]:
        args = [sub(a) for a in step["args"]]
        assert args[0] == "build" and args[-1] == "."
        built.add((args[args.index("-f") + 1], args[args.index("--build-arg") + 1].split("=", 1)[1],
                   args[args.index("-t") + 1]))
        assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*", step["name"])  # a pinned builder
    assert built == set(made)
    assert {sub(i) for i in build["images"]} == {t for _, _, t in made}


def _copy_sources(dest):
    for rel in images.hashed_files(ROOT):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest / rel)
    return dest


def test_the_tag_changes_with_any_file_that_goes_into_the_images(tmp_path):
    src = _copy_sources(tmp_path / "src")
    tag = images.image_tag(src)
    assert tag == images.image_tag()
    assert {"adanas/images.py", "pyproject.toml", "containers/constraints-gpu.txt",
            "containers/constraints-tpu.txt", "containers/Dockerfile.gpu",
            "pipelines/configs/paper/base_cifar10.yaml"} <= set(images.hashed_files(src))
    # Not in an image, or not code: no new tag.
    (src / "adanas" / "__pycache__").mkdir(exist_ok=True)
    (src / "adanas" / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"\0")
    (src / "README.md").write_text("docs\n")
    (src / "containers" / "train.py").write_text("x = 1\n")
    assert images.image_tag(src) == tag
    # Windows line endings hash like Unix ones.
    p = src / "adanas" / "__init__.py"
    p.write_bytes(p.read_bytes().replace(b"\n", b"\r\n"))
    assert images.image_tag(src) == tag
    seen = {tag}
    for rel, change in (("adanas/ensemble.py", "\n# a comment\n"), ("components/__init__.py", "\n"),
                        ("pipelines/configs/cifar10.yaml", "\n# x\n"), ("pyproject.toml", "\n"),
                        ("containers/constraints-gpu.txt", "nvidia-nccl-cu12==2.28.3\n"),
                        ("containers/Dockerfile", "\n# x\n")):
        with open(src / rel, "a") as f:
            f.write(change)
        new = images.image_tag(src)
        assert new not in seen, rel
        seen.add(new)
    (src / "adanas" / "extra.py").write_text("")          # a new module
    assert images.image_tag(src) not in seen
    (src / "adanas" / "extra.py").rename(src / "adanas" / "extra2.py")  # a rename
    assert images.image_tag(src) not in seen


def test_an_installed_package_uses_the_hash_recorded_at_build(tmp_path):
    """A wheel has no source tree: the image build records the installed tree's hash
    (`stamp`), and `check` fails the build if that is not the tag it was given."""
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "adanas", site / "adanas", ignore=shutil.ignore_patterns("__pycache__", "SOURCE_HASH"))

    def run(*args):
        code = f"import sys; sys.path.insert(0, {str(site)!r}); from adanas.images import main; sys.exit(main({list(args)!r}))"
        return subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True)

    missing = run("tag")
    assert missing.returncode != 0 and "installed without its source tree" in missing.stderr
    tag = images.image_tag()
    # The image build's own commands, run against this tree as its /opt/adanas.
    for name in DOCKERFILES:
        (install,) = [a for op, a in _instructions(name) if op == "RUN" and "adanas.images" in a]
        commands = re.findall(r"python -I -m adanas\.images ([^&;}]+)", install)
        assert [c.split()[0] for c in commands] == ["stamp", "check"], name
        for command in commands:
            words = command.replace("/opt/adanas", str(ROOT)).replace('"$ADANAS_TAG"', tag).split()
            result = run(*words)
            assert result.returncode == 0, (name, command, result.stderr)
        assert run("tag").stdout.strip() == tag
    stale = run("check", f"{__version__}-000000000000")
    assert stale.returncode == 1 and "is not this source tree's" in stale.stderr


def test_image_refs_and_registry_hosts():
    assert images.image_ref("r.io/p/adanas", "gpu") == f"r.io/p/adanas-gpu:{images.image_tag()}"
    with pytest.raises(ValueError, match="unknown image kind 'cuda'"):
        images.image_ref("r.io/p/adanas", "cuda")
    for image, host in (("adanas", None), ("me/adanas", None), ("localhost/adanas", "localhost"),
                        ("localhost:5000/adanas", "localhost:5000"), ("us-docker.pkg.dev/p/r/a", "us-docker.pkg.dev"),
                        ("docker.io/me/adanas", "docker.io"), ("adanas:0.1.0", None)):
        assert images.registry_host(image) == host, image
    assert images.docker_hub_name("adanas") == "docker.io/library/adanas"
    assert images.docker_hub_name("me/adanas") == "docker.io/me/adanas"
