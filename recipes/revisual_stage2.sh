#!/usr/bin/env bash
# Stage 2 of ReVisual-R1: multimodal GRPO with PAD and the efficient-length reward, on verl.
#
#   bash recipes/revisual_stage2.sh data.train_files=... data.val_files=... actor_rollout_ref.model.path=...
#
# Every argument is a Hydra override of verl_ext/config/revisual_stage2.yaml. With RAY_ADDRESS set
# (or under `ray job submit`) it joins that Ray cluster; otherwise it starts a local one. Without a
# GPU (in that cluster, or on this machine for a local Ray) it runs the tiny CPU default
# (REVISUAL_DEVICE=cpu|gpu forces a profile; the choice and its reason are printed on one line).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3 )}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# The stopping wrapper forwards SIGTERM/SIGINT/SIGHUP to the stage and every process it starts (Ray's
# too), waits for them within REVISUAL_STOP_GRACE_S (60 s) and exits 128 + the signal.
STOP=("$PYTHON" -m verl_ext.stages.stopping --)
exec "${STOP[@]}" "$PYTHON" -m verl_ext.trainer.main --config-name revisual_stage2 "$@"
