"""Which device this machine offers, and where the CPU default keeps its assets.

A leaf module: it imports neither verl nor any GPU package, so the launchers, the CPU support and
the evaluation application can all ask it without paying for (or being changed by) a verl import.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def gpu_available() -> bool:
    """True where CUDA sees a device, or where nvidia-smi exists (Ray drivers may hide devices)."""
    import torch

    return torch.cuda.is_available() or shutil.which("nvidia-smi") is not None


def cpu_mode_requested() -> bool:
    """CPU mode is on when the user asks for it or when verl's platform is already the CPU one."""
    return os.environ.get("REVISUAL_DEVICE", "").lower() == "cpu" or os.environ.get("VERL_PLATFORM", "") == "cpu"


def default_cache_dir() -> Path:
    """Where the CPU default keeps its tiny model and data: ``$REVISUAL_CACHE`` or ``<repo>/.cache/revisual``."""
    return Path(os.environ.get("REVISUAL_CACHE") or REPO_ROOT / ".cache" / "revisual").resolve()
