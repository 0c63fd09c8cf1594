"""Everything verl 0.9.1 lacks to train on a machine without a GPU.

Nothing here changes a GPU run: the registrations add names that only a CPU config selects
(platform ``cpu``, rollout ``hf``, FSDP engine for device ``cpu``), and the patches apply only
when CPU mode is on (``VERL_PLATFORM=cpu``, which the launcher sets when no GPU is found or when
``REVISUAL_DEVICE=cpu`` asks for it).
"""

from __future__ import annotations

import functools

from verl_ext.devices import cpu_mode_requested, gpu_available  # noqa: F401  (re-exported)

_registered = False
_patched = False


def register_cpu_backends() -> None:
    """Add the CPU platform, the FSDP engine for ``cpu`` and the ``hf`` rollout to verl's registries."""
    global _registered
    if _registered:
        return
    from verl.workers.engine.base import EngineRegistry
    from verl.workers.engine.fsdp.transformer_impl import FSDPEngineWithLMHead, FSDPEngineWithValueHead
    from verl.workers.rollout import base as rollout_base
    from verl.workers.rollout.replica import RolloutReplicaRegistry

    from verl_ext.cpu import platform as _platform  # noqa: F401  (registers "cpu")

    EngineRegistry.register(model_type="language_model", backend=["fsdp", "fsdp2"], device="cpu")(
        FSDPEngineWithLMHead
    )
    EngineRegistry.register(model_type="value_model", backend=["fsdp", "fsdp2"], device="cpu")(
        FSDPEngineWithValueHead
    )

    def _load_hf_replica():
        from verl_ext.cpu.hf_rollout import HFReplica

        return HFReplica

    RolloutReplicaRegistry.register("hf", _load_hf_replica)
    rollout_base._ROLLOUT_REGISTRY[("hf", "async")] = "verl_ext.cpu.hf_rollout.HFServerAdapter"
    _registered = True


def _gloo_only_backend(init_process_group):
    """verl asks for ``cpu:gloo,<device>:<ccl>``; with device ``cpu`` that names cpu twice, which torch rejects."""

    @functools.wraps(init_process_group)
    def wrapper(*args, **kwargs):
        backend = kwargs.get("backend")
        if isinstance(backend, str) and backend.replace(" ", "") in ("cpu:gloo,cpu:gloo", "cpu:gloo"):
            kwargs["backend"] = "gloo"
        return init_process_group(*args, **kwargs)

    wrapper.__revisual_patched__ = True
    return wrapper


def _unpinned_offload_policy(policy_cls):
    """FSDP2's forward-only (reference) path pins CPU memory, which needs an accelerator."""

    @functools.wraps(policy_cls)
    def factory(*args, **kwargs):
        kwargs["pin_memory"] = False
        return policy_cls(*args, **kwargs)

    return factory


def apply_cpu_patches() -> None:
    """Patches that only make sense without a GPU. Idempotent."""
    global _patched
    if _patched:
        return
    import torch.distributed as dist
    import torch.distributed.distributed_c10d as c10d
    from verl.workers.engine.fsdp import transformer_impl

    from verl_ext.cpu.processor import register_torchvision_free_processor

    if not getattr(dist.init_process_group, "__revisual_patched__", False):
        patched = _gloo_only_backend(dist.init_process_group)
        dist.init_process_group = patched
        c10d.init_process_group = patched
    if transformer_impl.CPUOffloadPolicy is not None:
        transformer_impl.CPUOffloadPolicy = _unpinned_offload_policy(transformer_impl.CPUOffloadPolicy)
    register_torchvision_free_processor()
    _patched = True


def enable_cpu_support() -> None:
    """Register the CPU backends everywhere; patch verl only in CPU mode."""
    register_cpu_backends()
    if cpu_mode_requested():
        apply_cpu_patches()
