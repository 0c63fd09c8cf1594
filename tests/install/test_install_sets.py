"""The two install sets: the GPU pins agree with verl 0.9.1's own, the CPU set is the one installed here,
and tools/install.sh takes its GPU steps in the order a flash-attn build needs.

No network: install.sh runs against a stand-in interpreter that records each pip command.
"""

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
import gpu_install_report  # noqa: E402


def _setup_lists() -> tuple[list[str], dict[str, list[str]]]:
    values = {}
    for node in ast.parse((REPO / "setup.py").read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("INSTALL_REQUIRES", "EXTRAS"):
                values[node.targets[0].id] = ast.literal_eval(node.value)
    return values["INSTALL_REQUIRES"], values["EXTRAS"]


def _by_name(requirements) -> dict[str, Requirement]:
    parsed = [Requirement(r) for r in requirements]
    return {gpu_install_report.normalise(r.name): r for r in parsed}


def _pinned(requirement: Requirement) -> str:
    (spec,) = requirement.specifier
    assert spec.operator == "==", requirement
    return spec.version


def _verl_extra(extra: str) -> dict[str, Requirement]:
    reqs = [Requirement(r) for r in importlib.metadata.requires("verl")]
    return {gpu_install_report.normalise(r.name): r for r in reqs if r.marker and r.marker.evaluate({"extra": extra})}


def test_the_gpu_extra_pins_what_verls_vllm_extra_pins():
    _, extras = _setup_lists()
    ours = _by_name(extras["gpu"])
    verl_vllm = _verl_extra("vllm")
    for name in ("torch", "torchvision", "torchaudio", "vllm", "transformers"):
        assert _pinned(ours[name]) == _pinned(verl_vllm[name]), name
    assert "flash-attn" not in ours  # it cannot be resolved in the same pip call as torch


def test_every_gpu_pin_lies_inside_the_base_range_and_the_installed_cpu_set_satisfies_the_base():
    base, extras = _setup_lists()
    base_by_name = _by_name(base)
    for name, requirement in _by_name(extras["gpu"]).items():
        if name in base_by_name:
            assert base_by_name[name].specifier.contains(_pinned(requirement)), name
    # The environment the whole CPU suite runs in is the CPU set: setup.py must still describe it.
    for requirement in [Requirement(r) for r in base + extras["test"]]:
        installed = importlib.metadata.version(requirement.name)
        assert requirement.specifier.contains(installed, prereleases=True), (str(requirement), installed)


def _install_sh_value(name: str) -> str:
    return re.search(rf'^{name}=(.*)$', (REPO / "tools/install.sh").read_text(), re.M).group(1)


def test_install_sh_builds_the_flash_attn_that_verl_pins_against_the_torch_of_the_gpu_extra():
    _, extras = _setup_lists()
    gpu_torch = re.findall(r'"([^"]+)"', _install_sh_value("GPU_TORCH"))
    assert gpu_torch == [str(_by_name(extras["gpu"])[n]) for n in ("torch", "torchvision", "torchaudio")]
    verl_flash_attn = _verl_extra("flash-attn-cu130torch211")["flash-attn"]
    assert _install_sh_value("FLASH_ATTN") == f'"flash-attn=={_pinned(verl_flash_attn)}"'


@pytest.fixture
def recorded_install(tmp_path):
    """install.sh copied beside setup.py into a scratch repo, with a venv whose python records its arguments."""
    repo = tmp_path / "repo"
    (repo / "tools").mkdir(parents=True)
    shutil.copy(REPO / "tools" / "install.sh", repo / "tools" / "install.sh")
    shutil.copy(REPO / "setup.py", repo / "setup.py")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log = tmp_path / "pip.log"
    python = venv / "bin" / "python"
    # `pip show` answers "installed" so the CPU path's torchvision removal is exercised too.
    python.write_text(f'#!/usr/bin/env bash\necho "$*" >> {log}\nexit 0\n')
    python.chmod(0o755)

    def run(**env):
        proc = subprocess.run(
            ["bash", str(repo / "tools" / "install.sh")],
            env={**os.environ, "VENV": str(venv), **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        return log.read_text().splitlines()

    return run


def test_gpu_install_takes_torch_then_flash_attn_without_isolation_then_the_rest(recorded_install):
    lines = recorded_install(EXTRAS="gpu")
    assert lines == [
        "-m pip install --quiet --upgrade pip",
        "-m pip install --quiet torch==2.11.0 torchvision==0.26.0 torchaudio==2.11.0 packaging ninja psutil wheel setuptools",
        "-m pip install --quiet --no-build-isolation flash-attn==2.8.3",
        "-m pip install --quiet -e .[test,gpu] torch==2.11.0 torchvision==0.26.0 torchaudio==2.11.0",
    ]


def test_a_prebuilt_flash_attn_wheel_replaces_the_build(recorded_install):
    lines = recorded_install(EXTRAS="gpu", FLASH_ATTN_WHEEL="/wheels/flash_attn-2.8.3+cu130torch2.11-cp311-cp311-linux_x86_64.whl")
    assert lines[2] == "-m pip install --quiet /wheels/flash_attn-2.8.3+cu130torch2.11-cp311-cp311-linux_x86_64.whl torch==2.11.0"


def test_cpu_install_is_unchanged(recorded_install):
    assert recorded_install() == [
        "-m pip install --quiet --upgrade pip",
        "-m pip install --quiet torch==2.13.0",
        "-m pip install --quiet -e .[test]",
        "-m pip show torchvision",
        "-m pip uninstall --quiet -y torchvision",
    ]


def _report(path: Path, packages: dict[str, tuple[str, list[str]]]) -> None:
    install = [{"metadata": {"name": n, "version": v, "requires_dist": reqs, "provides_extra": ["vllm", "flash-attn-cu130torch211", "gpu"]}}
               for n, (v, reqs) in packages.items()]  # fmt: skip
    path.write_text(json.dumps({"install": install}))


def _reports(tmp_path: Path, transformers: str) -> Path:
    torch = {"torch": ("2.11.0", []), "torchvision": ("0.26.0", []), "torchaudio": ("2.11.0", [])}
    _report(tmp_path / "step1.json", torch)
    verl_reqs = ['transformers==5.9.0; extra == "vllm"', 'vllm==0.24.0; extra == "vllm"', "numpy>=2.0.0",
                 'flash-attn==2.8.3; extra == "flash-attn-cu130torch211"']  # fmt: skip
    _report(
        tmp_path / "step3.json",
        {**torch, "verl": ("0.9.1", verl_reqs), "vllm": ("0.24.0", ["torch==2.11.0"]),
         "transformers": (transformers, []), "revisual": ("0.1.0", ['numpy==2.3.5; extra == "gpu"']), "numpy": ("2.3.5", [])},
    )  # fmt: skip
    (tmp_path / "flash-attn-versions.txt").write_text("flash-attn (2.8.3.post2)\nAvailable versions: 2.8.3.post2, 2.8.3, 2.8.2\n")
    return tmp_path


def test_the_report_passes_a_stack_that_matches_verls_pins(tmp_path):
    results, table = gpu_install_report.check(_reports(tmp_path, "5.9.0"))
    assert all(ok for ok, _ in results), results
    assert ("transformers", "5.9.0", "verl 0.9.1 [vllm]") in table
    assert ("numpy", "2.3.5", "revisual [gpu] (setup.py)") in table


def test_the_report_fails_a_stack_that_drifts_from_verls_pins(tmp_path):
    results, _ = gpu_install_report.check(_reports(tmp_path, "5.10.4"))
    failed = [line for ok, line in results if not ok]
    assert failed == ["transformers: verl 0.9.1 [vllm] pins 5.9.0, resolved 5.10.4"]
