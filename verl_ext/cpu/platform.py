"""verl platform for machines without an accelerator.

verl 0.9.1 knows nvidia, huawei and amd platforms only and falls back to nvidia, which then
asks for NCCL. This platform keeps every tensor on the CPU and uses gloo. Ray still schedules
the workers on the "GPU" resource, which the CPU launcher declares as logical units, so verl's
placement-group code runs unchanged. On a Ray cluster of CPU machines every node declares them
(`ray start --num-gpus=N`) and the job sets REVISUAL_DEVICE=cpu (docs/cpu.md).
"""

from __future__ import annotations

import os
from contextlib import contextmanager, nullcontext
from types import ModuleType
from typing import Any, Optional

import torch
from verl.plugin.platform.platform_base import PlatformBase
from verl.plugin.platform.platform_manager import PlatformRegistry


class _CPUDeviceModule(ModuleType):
    """``torch.cpu`` plus the CUDA-style memory queries verl calls on ``device_module``.

    The CPU has no caching allocator, so the memory counters read 0 and cache calls do nothing.
    """

    _ZERO = ("memory_reserved", "memory_allocated", "max_memory_allocated", "max_memory_reserved")
    _NOOP = ("empty_cache", "reset_peak_memory_stats", "set_device", "ipc_collect")

    def __getattr__(self, name):
        if name in self._ZERO:
            return lambda *args, **kwargs: 0
        if name in self._NOOP:
            return lambda *args, **kwargs: None
        if name == "get_device_name":
            return lambda *args, **kwargs: "CPU"
        if name == "mem_get_info":
            return _cpu_mem_get_info
        if name in ("get_rng_state", "set_rng_state"):
            # Checkpoint resume restores the device RNG under the device name, here "cpu".
            return getattr(torch, name)
        return getattr(torch.cpu, name)


def _cpu_mem_get_info(*args, **kwargs) -> tuple[int, int]:
    pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    free = os.sysconf("SC_AVPHYS_PAGES") * page_size
    return free, pages * page_size


_DEVICE_MODULE = _CPUDeviceModule("revisual_cpu_device")


@PlatformRegistry.register(platform="cpu")
class PlatformCPU(PlatformBase):
    """Every device call is a no-op on the CPU; collectives go through gloo."""

    @property
    def device_name(self) -> str:
        return "cpu"

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self) -> ModuleType:
        return _DEVICE_MODULE

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check=False) -> bool:
        # Never auto-detected: the CPU platform is chosen explicitly with VERL_PLATFORM=cpu.
        return False

    def current_device(self):
        return torch.device("cpu")

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        return None

    def synchronize(self, device_index: Optional[int] = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0) -> tuple[Optional[int], Optional[int]]:
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        return "CUDA_VISIBLE_DEVICES"

    @contextmanager
    def nvtx_range(self, msg: str):
        with nullcontext():
            yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def ray_resource_name(self) -> str:
        return "GPU"

    def ray_noset_envvars(self) -> list[str]:
        return ["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"]

    def is_ipc_supported(self) -> bool:
        return False

    def rollout_env_vars(self) -> dict[str, str]:
        # vLLM's CPU settings for the rollout servers verl starts (thread binding, KV space).
        from verl_ext.cpu.vllm_bridges import rollout_env

        return rollout_env(os.environ)

    def cudart(self) -> Any:
        return None
