"""Everything verl 0.9.1 lacks to train on a machine without a GPU.

Nothing here changes a GPU run: the registrations add names that only a CPU config selects
(platform ``cpu``, rollout ``hf``, FSDP engine for device ``cpu``), and the patches apply only
when CPU mode is on (``VERL_PLATFORM=cpu``, which the launcher sets when no GPU is found or when
``REVISUAL_DEVICE=cpu`` asks for it).
"""

from __future__ import annotations

import functools

from verl_ext.devices import cpu_mode_requested, gpu_available  # noqa: F401  (re-exported)


def _register_platform(_platform_manager) -> None:
    from verl_ext.cpu import platform  # noqa: F401  (its class decorator registers "cpu")


def _register_engines(transformer_impl) -> None:
    from verl.workers.engine.base import EngineRegistry

    engines = (("language_model", transformer_impl.FSDPEngineWithLMHead),
               ("value_model", transformer_impl.FSDPEngineWithValueHead))
    for model_type, engine_cls in engines:
        # verl's registry refuses a second registration of the same key; this may run twice in a process.
        if EngineRegistry._engines.get(model_type, {}).get("fsdp2", {}).get("cpu") is not engine_cls:
            EngineRegistry.register(model_type=model_type, backend=["fsdp", "fsdp2"], device="cpu")(engine_cls)


def _load_hf_replica():
    from verl_ext.cpu.hf_rollout import HFReplica

    return HFReplica


def _register_rollout_replica(replica) -> None:
    replica.RolloutReplicaRegistry.register("hf", _load_hf_replica)


def _register_rollout_server(rollout_base) -> None:
    rollout_base._ROLLOUT_REGISTRY[("hf", "async")] = "verl_ext.cpu.hf_rollout.HFServerAdapter"


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

    factory.__revisual_patched__ = True
    return factory


def _patch_process_group(c10d) -> None:
    import torch.distributed as dist

    if not getattr(c10d.init_process_group, "__revisual_patched__", False):
        patched = _gloo_only_backend(c10d.init_process_group)
        dist.init_process_group = patched
        c10d.init_process_group = patched


def _patch_offload_policy(transformer_impl) -> None:
    policy = transformer_impl.CPUOffloadPolicy
    if policy is not None and not getattr(policy, "__revisual_patched__", False):
        transformer_impl.CPUOffloadPolicy = _unpinned_offload_policy(policy)


def _register_processor(_tokenizer_module) -> None:
    from verl_ext.cpu.processor import register_torchvision_free_processor

    register_torchvision_free_processor()


def install_hooks(when_imported) -> None:
    """Register the CPU backends when verl imports their registries; in CPU mode also patch verl.

    The registrations add names that only a CPU config selects, so they are made on every machine;
    the patches change behaviour and are made only when CPU mode is on.
    """
    when_imported("verl.plugin.platform.platform_manager", _register_platform)
    when_imported("verl.workers.engine.fsdp.transformer_impl", _register_engines)
    when_imported("verl.workers.rollout.replica", _register_rollout_replica)
    when_imported("verl.workers.rollout.base", _register_rollout_server)
    if cpu_mode_requested():
        when_imported("torch.distributed.distributed_c10d", _patch_process_group)
        when_imported("verl.workers.engine.fsdp.transformer_impl", _patch_offload_policy)
        when_imported("verl.utils.tokenizer", _register_processor)
        # The vLLM rollout on the CPU (the production-parity tests, cpu_rollout=vllm); inert without vLLM.
        from verl_ext.cpu import vllm_bridges

        vllm_bridges.install_hooks(when_imported)


def enable_cpu_support() -> None:
    """Register and patch now (for processes that start the CPU backends without the plugin's hooks)."""
    from verl.workers.engine.fsdp import transformer_impl
    from verl.workers.rollout import base, replica

    import torch.distributed.distributed_c10d as c10d

    _register_platform(None)
    _register_engines(transformer_impl)
    _register_rollout_replica(replica)
    _register_rollout_server(base)
    if cpu_mode_requested():
        _patch_process_group(c10d)
        _patch_offload_policy(transformer_impl)
        _register_processor(None)
