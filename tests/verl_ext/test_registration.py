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


def test_a_failing_registration_is_loud(tmp_path):
    # verl swallows entry-point errors; a deferred registration that fails must fail the import it hangs on.
    code = (
        "import verl, verl_ext.plugin\n"
        "from verl_ext.import_hooks import when_imported\n"
        "def broken(module): raise RuntimeError('boom')\n"
        "when_imported('json.tool', broken)\n"
        "import json.tool\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert "test_a_failing_registration_is_loud" not in out.stderr and "broken failed after importing json.tool" in out.stderr


FIRST_IMPORT = """
import importlib, sys
importlib.import_module(sys.argv[1])
from verl_ext.registration import registration_report
report = registration_report()
print(sorted(name for name, ok in report.items() if not ok), len(report))
"""

# The modules that take part in registration, each imported before anything else in a fresh process
# (verl loads the plugin through its entry point while that first import is still running).
PLUGIN_GRAPH = [
    "verl_ext.plugin", "verl_ext.patch_ppo_loss", "verl_ext.trainer.pad_trainer", "verl_ext.reward_manager",
    "verl_ext.verl_fixes", "verl_ext.cpu.hf_rollout", "verl_ext.trainer.main", "verl_ext.algos.selection",
]


def test_importing_any_module_first_leaves_the_plugin_fully_registered():
    env = {k: v for k, v in os.environ.items() if k not in ("VERL_USE_EXTERNAL_MODULES", "VERL_USE_EXTERNAL_PLUGINS")}
    # One fresh interpreter per module, all started at once (each spends its time importing verl).
    procs = {module: subprocess.Popen([sys.executable, "-c", FIRST_IMPORT, module], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for module in PLUGIN_GRAPH}
    for module, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, (module, stderr[-3000:])
        missing, checked = stdout.strip().splitlines()[-1].rsplit(" ", 1)
        assert missing == "[]" and int(checked) >= 7, (module, missing, checked)


def test_plain_import_of_verl_loads_no_verl_module_for_revisual():
    # The plugin costs a plain verl job nothing: loading it imports no verl module beyond what
    # `import verl` itself imports, and does not fix verl's platform during `import verl`.
    code = (
        "import sys, os\n"
        "os.environ['VERL_USE_EXTERNAL_PLUGINS'] = sys.argv[1]\n"
        "import verl\n"
        "from verl.plugin.platform import platform_manager\n"
        "print(sorted(m for m in sys.modules if m.startswith('verl.')).__len__(),"
        " platform_manager._current_platform is not None, 'verl_ext.plugin' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("VERL_USE_EXTERNAL_MODULES", "VERL_PLATFORM")}
    results = {}
    for policy in ("none", "auto"):
        out = subprocess.run([sys.executable, "-c", code, policy], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        results[policy] = out.stdout.strip().splitlines()[-1].split()
    assert results["none"] == [results["auto"][0], "False", "False"]
    assert results["auto"][1:] == ["False", "True"]


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
