"""verl's own shipped CPU tests give the same outcome, test by test, with and without revisual loaded.

verl loads every ``verl.plugins`` entry point during ``import verl``, so revisual is in every verl
process once installed. These are the shipped tests closest to what the plugin registers into or
patches: the platform registry, the estimators and losses, configs, the multimodal position ids.
"""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import verl

SHIPPED_TESTS = Path(verl.__file__).resolve().parent.parent / "tests"
SUBSET = [
    "plugin/test_platform_abstraction.py",
    "trainer/ppo/test_core_algos_on_cpu.py",
    "trainer/ppo/test_dynamic_policy_losses_on_cpu.py",
    "trainer/ppo/test_loss_aggregation_on_cpu.py",
    "trainer/ppo/test_metric_utils_on_cpu.py",
    "trainer/test_multi_trajectories_advantage_on_cpu.py",
    "test_base_config_on_cpu.py",
    "experimental/agent_loop/test_multimodal_position_ids_on_cpu.py",
]


def outcomes(policy: str, tmp_path: Path) -> dict[str, str]:
    report = tmp_path / f"{policy}.xml"
    env = {k: v for k, v in os.environ.items() if k not in ("VERL_USE_EXTERNAL_MODULES", "VERL_PLATFORM")}
    env["VERL_USE_EXTERNAL_PLUGINS"] = policy
    files = [str(SHIPPED_TESTS / name) for name in SUBSET]
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *files],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900,
    )
    result = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        result[f"{case.get('classname')}::{case.get('name')}"] = kinds[0] if kinds else "passed"
    return result


def test_verls_shipped_cpu_tests_are_unchanged_by_the_plugin(tmp_path):
    assert all((SHIPPED_TESTS / name).exists() for name in SUBSET)
    without, with_plugin = outcomes("none", tmp_path), outcomes("auto", tmp_path)
    assert len(without) > 60 and list(without.values()).count("passed") > 60
    assert with_plugin == without
