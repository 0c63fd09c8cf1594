#!/usr/bin/env bash
# GPU smoke test of the production path on one GPU, in under 8 minutes: PASS, FAIL or SKIP per part
# (vLLM-sized tiny Qwen2.5-VL; stages 2 and 3 through vLLM; PAD with repeats and padding; frozen
# vision tower; stage-1 SFT and merge; eval generation through vLLM, one process and data parallel).
#
#   bash tools/gpu_smoke.sh [--out DIR] [--budget-s 470]
#
# Without a GPU every part prints SKIP and it exits 0. Details: tools/gpu_smoke.py.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3 )}"
exec "$PYTHON" "$ROOT/tools/gpu_smoke.py" "$@"
