#!/usr/bin/env bash
# Create .venv in the repo root and install the project into it. Idempotent: a second run is fast.
#   bash tools/install.sh          # CPU machine (tests, CPU default)
#   EXTRAS=gpu bash tools/install.sh   # GPU cluster node: adds vLLM and flash-attn
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON_BIN:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
STAMP=".venv/.revisual-installed"
if [ -f "$STAMP" ] && [ "$STAMP" -nt setup.py ] && [ -z "${EXTRAS:-}" ]; then
  exit 0
fi
python -m pip install --quiet --upgrade pip
if [ -z "${EXTRAS:-}" ]; then
  # The CPU build of torch first: asked for by name, pip takes the CPU wheel; left to verl's
  # requirements it would resolve a multi-GB CUDA build.
  python -m pip install --quiet "torch==2.13.0"
  python -m pip install --quiet -e ".[test]"
else
  python -m pip install --quiet -e ".[test,${EXTRAS}]"
fi
# torchvision beside the CPU torch breaks transformers imports (see docs/cpu.md).
if [ -z "${EXTRAS:-}" ] && python -m pip show torchvision >/dev/null 2>&1; then
  python -m pip uninstall --quiet -y torchvision
fi
touch "$STAMP"
