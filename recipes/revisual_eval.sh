#!/usr/bin/env bash
# Evaluate a model on ReVisual-R1's ten benchmarks (and MMMU) and print the scores beside the paper's Table 2.
#
#   bash recipes/revisual_eval.sh MODEL_PATH DATA_ROOT [flags...]
#
# Runs `python -m revisual_eval run`: generate (resumable), then score, with the judged protocol
# beside the rules when --judge is given. The run folder is outputs/eval/<model folder name>
# unless `--out DIR` is given; rerunning the same command resumes an interrupted generation, and
# the judge's replies are cached in the run folder, so a rerun asks the judge nothing twice.
# Every flag of `python -m revisual_eval run --help` can follow, e.g.
#   --benchmarks mathvista,math500  --limit 20  --data-parallel 8  --ray  --backend hf
#   --judge http://judge-node:8000/v1 --judge-model Qwen2.5-72B-Instruct
# With no arguments it runs the CPU demo: the tiny model on fixture copies of the ten benchmarks.
# Docs: docs/evaluation.md (benchmarks, protocols, the judge, lmms-eval files).
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p;}' "$0"; exit 0 ;; esac
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3 )}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# The stopping wrapper forwards SIGTERM/SIGINT/SIGHUP to the stage and every process it starts (Ray's
# too), waits for them within REVISUAL_STOP_GRACE_S (60 s) and exits 128 + the signal.
STOP=("$PYTHON" -m verl_ext.stages.stopping --)

if [ "$#" -eq 0 ]; then
  exec "${STOP[@]}" "$PYTHON" -m revisual_eval demo
fi
if [ "$#" -lt 2 ]; then
  echo "usage: bash recipes/revisual_eval.sh MODEL_PATH DATA_ROOT [flags...]" >&2
  exit 2
fi
MODEL="$1"; DATA="$2"; shift 2
exec "${STOP[@]}" "$PYTHON" -m revisual_eval run --model "$MODEL" --data-root "$DATA" "$@"
