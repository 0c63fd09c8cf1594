#!/usr/bin/env bash
# The whole ReVisual-R1 recipe: stage 1 (cold start SFT) -> stage 2 (multimodal RL) -> stage 3 (text RL).
# Each stage's merged Hugging Face model is the next stage's model. Rerunning the same command skips
# complete stages and resumes an interrupted one from its last checkpoint.
#
#   bash recipes/revisual_pipeline.sh [--run-dir outputs/pipeline] [--stages 1,2,3] [--verbose]
#
# Hydra overrides per stage and for all stages (shell-quoted lists):
#   STAGE1_ARGS="model.path=Qwen/Qwen2.5-VL-7B-Instruct data.train_files=..."   # revisual_stage1.yaml
#   STAGE2_ARGS="data.train_files=... data.val_files=..."                          # revisual_stage2.yaml
#   STAGE3_ARGS="data.train_files=... data.val_files=..."                          # revisual_stage3.yaml
#   COMMON_ARGS="trainer.project_name=myrun"   # keys valid in every stage: trainer.{project_name,logger,
#                                              #   nnodes,n_gpus_per_node,save_freq,resume_mode,seed...}
# Without a GPU every stage runs its tiny CPU default (minutes on 2 cores). With RAY_ADDRESS set, or
# as `ray job submit --working-dir . -- bash recipes/revisual_pipeline.sh`, the RL stages join the cluster.
# Docs: docs/pipeline.md (the driver, outputs, the CPU main job), docs/cpu.md.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p;}' "$0"; exit 0 ;; esac
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3 )}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m verl_ext.stages.pipeline "$@"
