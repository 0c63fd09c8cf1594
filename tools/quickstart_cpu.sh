#!/usr/bin/env bash
# README command 1: install into .venv, then run the main job on the tiny CPU default: the whole
# pipeline (cold start SFT -> multimodal RL with PAD -> text RL) on the synthetic tasks.
# Per-stage Hydra overrides go through STAGE1_ARGS / STAGE2_ARGS / STAGE3_ARGS (see docs/pipeline.md);
# arguments are the pipeline's own (--run-dir, --stages, --verbose).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/install.sh"
cd "$ROOT"
export REVISUAL_DEVICE=cpu
exec bash recipes/revisual_pipeline.sh "$@"
