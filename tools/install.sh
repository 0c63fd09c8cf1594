#!/usr/bin/env bash
# Create a virtual environment (default .venv in the repo root) and install the project into it.
# Idempotent: a second run is fast.
#   bash tools/install.sh                # CPU machine (tests, CPU default)
#   EXTRAS=gpu bash tools/install.sh     # GPU node: torch 2.11.0, then flash-attn, then vLLM 0.24.0 and the rest
#
# Settings (environment):
#   VENV=DIR             the environment to create or reuse (default: <repo>/.venv)
#   FLASH_ATTN_WHEEL=X   GPU: install this prebuilt flash-attn wheel (path or URL) instead of building
#                        flash-attn from source (a build needs nvcc and takes long; MAX_JOBS bounds it)
#   DRY_RUN=DIR          resolve every step with `pip install --dry-run` (metadata only, nothing is
#                        installed) and write each step's pip report to DIR; see tools/check_gpu_install.sh
# The versions and why they differ between the CPU and the GPU set: docs/install.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON_BIN:-python3}"
VENV="${VENV:-$ROOT/.venv}"
EXTRAS="${EXTRAS:-}"
DRY_RUN="${DRY_RUN:-}"
# The GPU set's first step (vLLM 0.24.0 and verl 0.9.1's vllm extra pin these three) and flash-attn's
# version (verl 0.9.1's flash-attn extra); setup.py's `gpu` extra pins the same torch versions.
GPU_TORCH=("torch==2.11.0" "torchvision==0.26.0" "torchaudio==2.11.0")
FLASH_ATTN="flash-attn==2.8.3"
# What building flash-attn without build isolation imports besides torch.
FLASH_ATTN_BUILD_DEPS=("packaging" "ninja" "psutil" "wheel" "setuptools")

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PYTHON="$VENV/bin/python"
STAMP="$VENV/.revisual-installed"
if [ -z "$DRY_RUN" ] && [ -f "$STAMP" ] && [ "$STAMP" -nt setup.py ] && [ -z "$EXTRAS" ]; then
  exit 0
fi

step=0
pip_install() {  # pip install, or its dry run with a report per step
  step=$((step + 1))
  if [ -n "$DRY_RUN" ]; then
    mkdir -p "$DRY_RUN"
    "$PYTHON" -m pip install --quiet --dry-run --ignore-installed --use-feature=fast-deps \
      --report "$DRY_RUN/step$step.json" "$@"
  else
    "$PYTHON" -m pip install --quiet "$@"
  fi
}

[ -n "$DRY_RUN" ] || "$PYTHON" -m pip install --quiet --upgrade pip
case ",$EXTRAS," in *,gpu,*) GPU=1 ;; *) GPU="" ;; esac
if [ -z "$GPU" ]; then
  # The CPU build of torch first: asked for by name, pip takes the CPU wheel; left to verl's
  # requirements it would resolve a multi-GB CUDA build.
  pip_install "torch==2.13.0"
  pip_install -e ".[test${EXTRAS:+,$EXTRAS}]"
  # torchvision beside the CPU torch breaks transformers imports (see docs/cpu.md).
  if [ -z "$DRY_RUN" ] && "$PYTHON" -m pip show torchvision >/dev/null 2>&1; then
    "$PYTHON" -m pip uninstall --quiet -y torchvision
  fi
else
  # 1. torch first: flash-attn's build imports it.
  pip_install "${GPU_TORCH[@]}" "${FLASH_ATTN_BUILD_DEPS[@]}"
  # 2. flash-attn against that torch: a prebuilt wheel if given, else a source build without
  #    build isolation (isolation would hide the torch installed in step 1 from the build).
  if [ -n "${FLASH_ATTN_WHEEL:-}" ]; then
    pip_install "$FLASH_ATTN_WHEEL" "${GPU_TORCH[0]}"
  elif [ -n "$DRY_RUN" ]; then
    # A source package's requirements are only known after running its build, which needs torch
    # installed; a dry run can only check that the pinned version is on the index.
    "$PYTHON" -m pip index versions "${FLASH_ATTN%%==*}" >"$DRY_RUN/flash-attn-versions.txt"
    step=$((step + 1))
  else
    pip_install --no-build-isolation "$FLASH_ATTN"
  fi
  # 3. the project with vLLM and the rest; the pins of step 1 are repeated so nothing moves them.
  pip_install -e ".[test,${EXTRAS}]" "${GPU_TORCH[@]}"
fi
[ -n "$DRY_RUN" ] || touch "$STAMP"
