#!/usr/bin/env bash
# Stage 1 of ReVisual-R1: cold start. Full-parameter SFT of a Qwen2.5-VL-class model on text-only,
# multi-turn think-format data, with verl's own SFT trainer; the last checkpoint is merged into a
# Hugging Face folder (default outputs/stage1_cold_start/hf) that stage 2 loads.
#
#   bash recipes/revisual_stage1.sh model.path=Qwen/Qwen2.5-VL-7B-Instruct \
#       data.train_files=grammar_sft/train.parquet [optim.lr=1e-5  # the released code's LR]
#
# Every argument is a Hydra override of verl_ext/config/revisual_stage1.yaml (paper defaults: lr 2e-5,
# 5 epochs, cosine with 5% warm-up, max length 32768, bf16). NPROC_PER_NODE (default: the number of
# GPUs) processes are started with torchrun. Without a GPU it runs the tiny CPU default
# (REVISUAL_DEVICE=cpu|gpu forces a profile).
# Console: the stage's [revisual] lines, one line per training step and the warnings that matter;
# verl's full output goes to outputs/logs/<stage>-<time>.log (REVISUAL_LOG_DIR), whose path is printed
# first. REVISUAL_VERBOSE=1 echoes every line as well. On failure the first real error is shown.
# Docs: docs/pipeline.md (stages, overrides, outputs), docs/cpu.md (the CPU default), docs/data.md.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p;}' "$0"; exit 0 ;; esac
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3 )}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# The stopping wrapper forwards SIGTERM/SIGINT/SIGHUP to the stage and every process it starts (Ray's
# too), waits for them within REVISUAL_STOP_GRACE_S (60 s) and exits 128 + the signal.
STOP=("$PYTHON" -m verl_ext.stages.stopping --)
NPROC="${NPROC_PER_NODE:-$("$PYTHON" -c 'import torch; print(max(1, torch.cuda.device_count()))' 2>/dev/null || echo 1)}"
if [ "$NPROC" -gt 1 ]; then
  exec "${STOP[@]}" "$PYTHON" -m verl_ext.console --name stage1_cold_start -- "$PYTHON" -m torch.distributed.run --standalone --nproc_per_node="$NPROC" -m verl_ext.stages.sft "$@"
fi
exec "${STOP[@]}" "$PYTHON" -m verl_ext.console --name stage1_cold_start -- "$PYTHON" -m verl_ext.stages.sft "$@"
