#!/usr/bin/env bash
# Stage 2 of ReVisual-R1: multimodal GRPO with PAD and the efficient-length reward, on verl.
#
#   bash recipes/revisual_stage2.sh data.train_files=... data.val_files=... actor_rollout_ref.model.path=...
#
# Every argument is a Hydra override of verl_ext/config/revisual_stage2.yaml. With RAY_ADDRESS set
# (or under `ray job submit`) it joins that Ray cluster; otherwise it starts a local one. Without a
# GPU (in that cluster, or on this machine for a local Ray) it runs the tiny CPU default
# (REVISUAL_DEVICE=cpu|gpu forces a profile; the choice and its reason are printed on one line).
# Console: the stage's [revisual] lines, one line per training step and the warnings that matter;
# verl's full output goes to outputs/logs/<stage>-<time>.log (REVISUAL_LOG_DIR), whose path is printed
# first. REVISUAL_VERBOSE=1 echoes every line as well. On failure the first real error is shown.
# Main overrides: data.train_files, data.val_files, actor_rollout_ref.model.path, trainer.total_training_steps,
#   algorithm.pad.variant, reward.terms, trainer.logger.
# Docs: docs/pipeline.md (stages, outputs), docs/pad.md (PAD), docs/rewards.md (reward terms).
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p;}' "$0"; exit 0 ;; esac
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3 )}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# The stopping wrapper forwards SIGTERM/SIGINT/SIGHUP to the stage and every process it starts (Ray's
# too), waits for them within REVISUAL_STOP_GRACE_S (60 s) and exits 128 + the signal.
STOP=("$PYTHON" -m verl_ext.stages.stopping --)
exec "${STOP[@]}" "$PYTHON" -m verl_ext.console --name stage2_mrl -- "$PYTHON" -m verl_ext.trainer.main --config-name revisual_stage2 "$@"
