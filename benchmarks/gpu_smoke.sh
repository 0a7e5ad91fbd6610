#!/usr/bin/env bash
# On a machine with one NVIDIA GPU: installs the GPU build into .venv-gpu and runs the smoke test.
set -euo pipefail
cd "$(dirname "$0")/.."
python3.11 -m venv .venv-gpu
.venv-gpu/bin/pip install --quiet -e '.[gpu]'
.venv-gpu/bin/python benchmarks/gpu_smoke.py "$@"
