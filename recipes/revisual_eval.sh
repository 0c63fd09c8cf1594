#!/usr/bin/env bash
# Evaluate a model on ReVisual-R1's ten benchmarks and print the scores beside the paper's Table 2.
#
#   bash recipes/revisual_eval.sh MODEL_PATH DATA_ROOT [generate flags...]
#
# Runs `python -m revisual_eval generate` then `score`. The run folder is outputs/eval/<model name>
# unless `--out DIR` is given; rerunning the same command resumes an interrupted generation.
# Every flag of `python -m revisual_eval generate --help` can follow, e.g.
#   --benchmarks mathvista,math500  --limit 20  --data-parallel 8  --ray  --backend hf
# With no arguments it runs the CPU demo: the tiny model on fixture copies of the ten benchmarks.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3 )}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

if [ "$#" -eq 0 ]; then
  exec "$PYTHON" -m revisual_eval demo
fi
if [ "$#" -lt 2 ]; then
  echo "usage: bash recipes/revisual_eval.sh MODEL_PATH DATA_ROOT [generate flags...]" >&2
  exit 2
fi
MODEL="$1"; DATA="$2"; shift 2

OUT=""
prev=""
for arg in "$@"; do
  if [ "$prev" = "--out" ]; then OUT="$arg"; fi
  case "$arg" in --out=*) OUT="${arg#--out=}" ;; esac
  prev="$arg"
done
EXTRA=()
if [ -z "$OUT" ]; then
  OUT="outputs/eval/$(basename "${MODEL%/}")"
  EXTRA=(--out "$OUT")
fi

status=0
"$PYTHON" -m revisual_eval generate --model "$MODEL" --data-root "$DATA" "${EXTRA[@]}" "$@" || status=$?
# Score whatever was generated, even if some benchmark failed to load.
"$PYTHON" -m revisual_eval score --data-root "$DATA" --run "$OUT" || status=$?
exit "$status"
