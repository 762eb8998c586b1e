#!/usr/bin/env bash
# The real path's cost on one CUDA GPU, nothing downloaded (benchmarks/gpu_check.py): results/speed_gpu.json.
# Run from the repository root on a machine with the project's environment (make setup) and a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
timeout 480 "$PY" benchmarks/gpu_check.py --device cuda --out results/speed_gpu.json "$@"
