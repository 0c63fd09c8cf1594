#!/usr/bin/env bash
# Show on any machine, without a GPU, that `EXTRAS=gpu bash tools/install.sh` resolves.
#
#   bash tools/check_gpu_install.sh
#
# It runs install.sh's GPU steps as `pip install --dry-run` in a throwaway environment under /tmp,
# against PyPI only: pip reads each wheel's metadata with HTTP range requests (fast-deps) and
# downloads no wheel. Then tools/gpu_install_report.py checks the resolved versions against the
# pins in verl 0.9.1's and vLLM 0.24.0's own metadata and prints the stack as a table.
# Needs network access to PyPI (about a minute); installs nothing outside its temporary folder.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON_BIN:-python3}"
WORK="$(mktemp -d /tmp/revisual-gpu-check.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

# PyPI alone: a machine's own pip settings may add local wheel folders or indexes (CPU builds).
export PIP_CONFIG_FILE=/dev/null PIP_INDEX_URL="${PIP_INDEX_URL:-https://pypi.org/simple}"
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_NO_INDEX
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --quiet "pip==26.3"  # has fast-deps (metadata by range requests)
VENV="$WORK/venv" DRY_RUN="$WORK/reports" EXTRAS=gpu bash "$ROOT/tools/install.sh"
"$WORK/venv/bin/python" "$ROOT/tools/gpu_install_report.py" "$WORK/reports"
