#!/usr/bin/env bash
# Stage 3 of ReVisual-R1: text-only RL from the stage-2 model, with the vision tower frozen, the
# low-variance KL loss (coefficient 2e-3), the annealed entropy bonus (0.02, x0.985 per optimizer
# step after the warm-up, floor 0) and PAD. The entropy schedule's state is checkpointed and resumed.
#
#   bash recipes/revisual_stage3.sh actor_rollout_ref.model.path=outputs/stage2_mrl/hf \
#       data.train_files=textrl/train.parquet data.val_files=textrl/val.parquet
#
# Every argument is a Hydra override of verl_ext/config/revisual_stage3.yaml.
# The trained actor stays a verl checkpoint; merge it with
#   python -m verl_ext.stages.merge --checkpoints outputs/stage3_trl/checkpoints --out outputs/stage3_trl/hf
# (the pipeline does this for you). RAY_ADDRESS / `ray job submit` join a cluster; without a GPU
# (in that cluster, or on this machine for a local Ray) it runs the tiny CPU default.
# Console: the stage's [revisual] lines, one line per training step and the warnings that matter;
# verl's full output goes to outputs/logs/<stage>-<time>.log (REVISUAL_LOG_DIR), whose path is printed
# first. REVISUAL_VERBOSE=1 echoes every line as well. On failure the first real error is shown.
# Docs: docs/pipeline.md (stage 3 and the pipeline), docs/pad.md.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p;}' "$0"; exit 0 ;; esac
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3 )}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# The stopping wrapper forwards SIGTERM/SIGINT/SIGHUP to the stage and every process it starts (Ray's
# too), waits for them within REVISUAL_STOP_GRACE_S (60 s) and exits 128 + the signal.
STOP=("$PYTHON" -m verl_ext.stages.stopping --)
exec "${STOP[@]}" "$PYTHON" -m verl_ext.console --name stage3_trl -- "$PYTHON" -m verl_ext.stages.text_rl "$@"
