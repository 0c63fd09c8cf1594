"""verl loads revisual's plugin by itself in fresh processes, including Ray workers."""

import os
import subprocess
import sys

import pytest
import ray

CHECK = """
import sys, verl
from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY
from verl.experimental.reward_loop.reward_manager.registry import REWARD_MANAGER
from verl.trainer.ppo.v1.trainer_base import TRAINER_REGISTRY
from verl.workers.rollout.replica import RolloutReplicaRegistry
print("revisual_grpo" in ADV_ESTIMATOR_REGISTRY, "revisual" in REWARD_MANAGER,
      "revisual_sync" in TRAINER_REGISTRY, "hf" in RolloutReplicaRegistry._registry)
"""


def _fresh_process(env_extra):
    env = {k: v for k, v in os.environ.items() if k not in ("VERL_USE_EXTERNAL_MODULES", "VERL_USE_EXTERNAL_PLUGINS")}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def test_entry_point_registers_everything_on_import_verl():
    assert _fresh_process({}) == "True True True True"


def test_external_modules_variable_registers_everything_without_entry_points():
    env = {"VERL_USE_EXTERNAL_PLUGINS": "none", "VERL_USE_EXTERNAL_MODULES": "verl_ext.plugin"}
    assert _fresh_process(env) == "True True True True"


def test_without_the_plugin_nothing_is_registered():
    # The check above must be able to fail: with both loading paths off, verl knows none of the names.
    assert _fresh_process({"VERL_USE_EXTERNAL_PLUGINS": "none"}) == "False False False False"


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_registration_happens_in_ray_workers(local_ray):
    @ray.remote
    def probe():
        import sys

        import verl  # noqa: F401  (verl loads the plugin through its entry points)
        from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY
        from verl.experimental.reward_loop.reward_manager.registry import REWARD_MANAGER

        # Read the registries without importing verl_ext ourselves, which would register it anyway.
        return os.getpid(), "verl_ext.plugin" in sys.modules, "revisual_grpo" in ADV_ESTIMATOR_REGISTRY, "revisual" in REWARD_MANAGER

    pid, loaded, estimator, manager = ray.get(probe.remote())
    assert pid != os.getpid()
    assert (loaded, estimator, manager) == (True, True, True)


def test_cpu_path_never_imports_gpu_only_packages():
    code = (
        "import sys, verl_ext, verl_ext.plugin, reward_fns, data_preprocess\n"
        "import verl_ext.cpu.hf_rollout, verl_ext.trainer.pad_trainer\n"
        "print(sorted(m for m in ('vllm', 'flash_attn', 'sglang') if m in sys.modules))"
    )
    env = {**os.environ, "VERL_PLATFORM": "cpu"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
