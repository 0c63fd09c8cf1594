#!/usr/bin/env bash
# README command 1: install into .venv, then run the main job on the tiny CPU default.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/install.sh"
cd "$ROOT"
export REVISUAL_DEVICE=cpu
exec bash recipes/revisual_stage2.sh "$@"
