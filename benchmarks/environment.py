"""The machine and versions the benchmark tables were measured with (`make bench` writes it).

    python benchmarks/environment.py [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from orchestration import write_section  # noqa: E402

PACKAGES = ["adanas", "tensorflow", "tensorflow-cpu", "keras", "kfp", "google-cloud-aiplatform",
            "numpy", "scikit-learn", "keras-tuner", "autokeras", "tensorboard"]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpus() -> str:
    if not shutil.which("nvidia-smi"):
        return "none"
    out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                         capture_output=True, text=True)
    return ", ".join(out.stdout.split("\n")).strip(", ") or "none"


def describe() -> str:
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return "\n".join([
        f"- Date: {time.strftime('%Y-%m-%d')}",
        f"- CPU: {cpu_model()}, {len(os.sched_getaffinity(0))} cores available, {mem:.0f} GiB memory",
        f"- GPU: {gpus()}",
        f"- Python {platform.python_version()} on {platform.platform()}",
        f"- Packages: {', '.join(versions)}",
        "- Seeds: each table states its own (searches use config seeds 0..4; timing runs seed 0).",
    ])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--write", type=Path)
    args = p.parse_args()
    text = describe()
    print(text)
    if args.write:
        write_section(args.write, text, "environment", "Machine and versions")


if __name__ == "__main__":
    main()
