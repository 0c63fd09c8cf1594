"""The bridges between verl's vLLM rollout and vLLM's CPU backend, each on its own, without vLLM
installed (the end-to-end runs through them are in tests/vllm_cpu, in .venv-vllm)."""

import importlib.metadata
import platform
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from verl_ext.cpu import vllm_bridges, vllm_dist
from verl_ext.cpu.platform import PlatformCPU


def test_rollout_servers_get_vllms_cpu_settings_through_the_platform(monkeypatch):
    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND", raising=False)
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    assert PlatformCPU().rollout_env_vars() == {"VLLM_CPU_OMP_THREADS_BIND": "nobind"}
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "0-1")
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "2")
    assert PlatformCPU().rollout_env_vars() == {"VLLM_CPU_OMP_THREADS_BIND": "0-1", "VLLM_CPU_KVCACHE_SPACE": "2"}


def _emptying_dispatch(layer, remove_weight):
    """What vLLM-CPU's oneDNN dispatch does to a layer: a packed copy of the weight, an empty parameter."""
    packed = layer.weight.detach().clone()
    layer.cpu_linear = lambda x, weight, bias: torch.nn.functional.linear(x, packed, bias)
    if remove_weight:
        layer.weight = torch.nn.Parameter(torch.empty(0), requires_grad=False)


def test_kept_weights_let_an_in_place_weight_sync_reach_the_next_forward_pass():
    utils = SimpleNamespace(dispatch_cpu_unquantized_gemm=_emptying_dispatch)
    vllm_bridges.keep_linear_weights(utils)
    vllm_bridges.keep_linear_weights(utils)  # idempotent: the plugin may load twice in a process
    layer = torch.nn.Linear(4, 3)
    utils.dispatch_cpu_unquantized_gemm(layer, remove_weight=True)
    assert layer.weight.shape == (3, 4)
    x = torch.randn(2, 4)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(3, 4))  # what model.load_weights does on a sync
    assert torch.equal(layer.cpu_linear(x, layer.weight, layer.bias), torch.nn.functional.linear(x, layer.weight, layer.bias))


def test_a_layer_that_is_not_dense_keeps_vllms_own_handling():
    calls = []
    utils = SimpleNamespace(dispatch_cpu_unquantized_gemm=lambda layer, remove_weight: calls.append(remove_weight))
    vllm_bridges.keep_linear_weights(utils)
    conv = SimpleNamespace(weight=torch.zeros(3, 1, 4))
    utils.dispatch_cpu_unquantized_gemm(conv, remove_weight=True)
    assert calls == [True]


class _Transfer:
    """verl's receiver, reduced to the failure: the callback fails, then clean-up fails on the shm buffer."""

    def receive_weights(self, on_bucket_received):
        try:
            on_bucket_received()
        finally:
            raise BufferError("cannot close exported pointers exist")


def test_the_error_that_stopped_a_weight_transfer_is_the_one_raised():
    module = SimpleNamespace(BucketedWeightReceiver=type("R", (_Transfer,), {}))
    vllm_bridges.surface_transfer_errors(module)

    def load(*_):
        raise RuntimeError("Attempted to load weight (torch.Size([8, 8])) into parameter (torch.Size([0]))")

    with pytest.raises(RuntimeError, match="Attempted to load weight") as info:
        module.BucketedWeightReceiver().receive_weights(load)
    assert isinstance(info.value.__cause__, BufferError)


def test_a_clean_up_error_on_its_own_still_raises():
    module = SimpleNamespace(BucketedWeightReceiver=type("R", (_Transfer,), {}))
    vllm_bridges.surface_transfer_errors(module)
    with pytest.raises(BufferError):
        module.BucketedWeightReceiver().receive_weights(lambda: None)


def test_the_alias_distribution_names_vllm_cpu_as_vllm(tmp_path):
    # Any installed distribution stands in for vllm-cpu here; .venv-vllm checks the real alias.
    info = vllm_dist.write_alias(tmp_path, dist="pytest", alias="vllm")
    (alias,) = importlib.metadata.distributions(path=[str(tmp_path)])
    # The "+cpu" label is what makes vLLM choose its CPU platform, and verl still reads the version.
    assert alias.metadata["Name"] == "vllm" and alias.version == importlib.metadata.version("pytest") + "+cpu"
    assert info.name == f"vllm-{alias.version}.dist-info"


def test_vllm_cpus_requirements_are_installed_without_its_torch(monkeypatch):
    requires = ['torch==2.11.0+cpu; platform_machine == "x86_64"', "torchvision", "numpy", 'six>=1.16.0; python_version > "3.99"',
                'pandas; extra == "bench"', 'intel-openmp==2024.2.1; platform_machine == "x86_64"']
    monkeypatch.setattr(vllm_dist.metadata, "requires", lambda dist: requires)
    kept = vllm_dist.requirements()
    assert kept[0] == "numpy" and "six>=1.16.0" not in kept and "pandas" not in kept
    assert ("intel-openmp==2024.2.1" in kept) == (platform.machine().lower() in ("x86_64", "amd64"))

