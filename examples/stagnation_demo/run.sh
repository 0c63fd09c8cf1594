#!/usr/bin/env bash
# The stagnation demo: stage-2 arms of the paper's Table 4 / Fig. 3 on the tiny CPU model (docs/stagnation_demo.md).
#
#   bash examples/stagnation_demo/run.sh [--quick] [--seeds N] [--arms grpo,filter,random,pad,official]
#                                        [--steps S] [--out DIR] [--eval-items N] [--eval-samples K]
#                                        [extra stage-2 hydra overrides...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3 )}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" "$ROOT/examples/stagnation_demo/stagnation_demo.py" "$@"
