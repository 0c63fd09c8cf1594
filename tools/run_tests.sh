#!/usr/bin/env bash
# README command 2: install into .venv, then run the whole test suite on the CPU.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/install.sh"
cd "$ROOT"
export REVISUAL_DEVICE=cpu TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 WANDB_MODE=disabled
exec .venv/bin/python -m pytest tests "$@"
