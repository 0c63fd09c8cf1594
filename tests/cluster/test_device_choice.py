"""The launcher's device choice: explicit settings win; on a Ray cluster the cluster's GPUs decide.

The first tests drive the decision with probes that record whether they were asked; the last
ones start real Ray heads on this machine (one declaring a GPU, one declaring none) and ask them
the way a user's shell and a `ray job submit` entrypoint do.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from verl_ext.devices import (
    CPU_CLUSTER_HINT,
    JOB_PATH_KEYS,
    RAY_JOB_CONFIG_ENV,
    decide_device,
    gpu_available,
    job_paths,
    profile_override_in,
    ray_worker_env,
)

REPO = Path(__file__).resolve().parents[2]


class Probe:
    """A stand-in for the machine or cluster probe that records the calls it gets."""

    def __init__(self, answer):
        self.answer = answer
        self.calls = []

    def __call__(self, *args):
        self.calls.append(args)
        return self.answer


def _decide(env, override=None, local=False, cluster=0.0):
    local_probe, cluster_probe = Probe(local), Probe(cluster)
    choice = decide_device(env, override, local_gpu=local_probe, cluster_gpus=cluster_probe)
    return choice, local_probe.calls, cluster_probe.calls


def _job_env(env_vars: dict) -> str:
    return json.dumps({"runtime_env": {"env_vars": env_vars, "working_dir": "gcs://_ray_pkg_x.zip"}, "metadata": {}})


@pytest.mark.parametrize("requested", ["cpu", "gpu", "CPU"])
def test_revisual_device_wins_and_no_probe_is_asked(requested):
    choice, local_calls, cluster_calls = _decide(
        {"REVISUAL_DEVICE": requested, "RAY_ADDRESS": "10.0.0.1:6379"}, local=True, cluster=8
    )
    assert choice.device == requested.lower()
    assert choice.reason == f"REVISUAL_DEVICE={requested.lower()} is set"
    assert local_calls == [] and cluster_calls == []


def test_a_profile_override_wins_over_the_cluster():
    choice, _, cluster_calls = _decide({"RAY_ADDRESS": "10.0.0.1:6379"}, override="cpu", cluster=8)
    assert (choice.device, cluster_calls) == ("cpu", [])
    assert "device_profile=cpu is on the command line" in choice.reason


def test_the_same_device_twice_is_fine_and_contradicting_settings_are_refused():
    assert _decide({"REVISUAL_DEVICE": "cpu"}, override="cpu")[0].device == "cpu"
    with pytest.raises(ValueError, match="REVISUAL_DEVICE=gpu contradicts device_profile=cpu"):
        _decide({"REVISUAL_DEVICE": "gpu"}, override="cpu")


@pytest.mark.parametrize("env,override", [({"REVISUAL_DEVICE": "cuda"}, None), ({}, "tpu")])
def test_unknown_values_are_refused(env, override):
    with pytest.raises(ValueError, match="use"):
        _decide(env, override=override)


@pytest.mark.parametrize("gpus,device", [(8.0, "gpu"), (0.5, "gpu"), (0.0, "cpu")])
def test_with_ray_address_the_cluster_decides_not_this_machine(gpus, device):
    # This machine says the opposite of the cluster each time; it must not be asked.
    choice, local_calls, cluster_calls = _decide({"RAY_ADDRESS": "10.0.0.1:6379"}, local=device == "cpu", cluster=gpus)
    assert choice.device == device
    assert choice.cluster_gpus == gpus
    assert cluster_calls == [("10.0.0.1:6379",)] and local_calls == []
    assert "RAY_ADDRESS=10.0.0.1:6379" in choice.reason


def test_inside_a_ray_job_the_reason_names_the_job():
    env = {"RAY_ADDRESS": "10.0.0.1:6379", RAY_JOB_CONFIG_ENV: _job_env({})}
    choice, _, _ = _decide(env, cluster=4)
    assert choice.describe() == (
        "[revisual] device=gpu: the Ray cluster of this Ray job (10.0.0.1:6379) declares 4 GPU(s); "
        "the launching machine is not asked"
    )


@pytest.mark.parametrize("address", ["", "local", "  "])
def test_a_local_ray_address_means_this_machine(address):
    choice, local_calls, cluster_calls = _decide({"RAY_ADDRESS": address}, local=True, cluster=0)
    assert (choice.device, len(local_calls), cluster_calls) == ("gpu", 1, [])


def test_the_last_profile_override_counts_like_hydra():
    assert profile_override_in(["a=1", "device_profile=cpu", "device_profile=gpu"], "device_profile") == "gpu"
    assert profile_override_in(["sft_profile=cpu"], "device_profile") is None


_names = st.sampled_from(["VERL_PLATFORM", "REVISUAL_DEVICE", "VERL_USE_EXTERNAL_MODULES", "HF_HUB_OFFLINE", "OTHER"])
_values = st.sampled_from(["cpu", "CPU", "gpu", "", "verl_ext.plugin", "1"])


@given(
    shell=st.dictionaries(_names, _values),
    job=st.dictionaries(_names, _values),
    device=st.sampled_from(["cpu", "gpu"]),
)
def test_worker_env_never_gives_a_gpu_run_the_cpu_platform_and_never_conflicts_silently(shell, job, device):
    # In a job, the entrypoint inherits the job's variables, then the shell (the entrypoint command) adds its own.
    environ = {**job, **shell, RAY_JOB_CONFIG_ENV: _job_env(job)}
    forwarded, override = ray_worker_env(environ, device)
    # What a worker sees: Ray merges the driver's runtime env into the job's, the driver winning only with override.
    assert override == any(name in job for name in forwarded)
    seen = {**job, **forwarded}
    if device == "gpu":
        assert seen.get("VERL_PLATFORM", "").lower() != "cpu"
    else:
        for name, value in environ.items():
            if name in ("VERL_PLATFORM", "REVISUAL_DEVICE", "VERL_USE_EXTERNAL_MODULES", "HF_HUB_OFFLINE"):
                assert seen[name] == value


def test_worker_env_outside_a_job_forwards_the_launcher_settings():
    environ = {"VERL_PLATFORM": "cpu", "REVISUAL_DEVICE": "cpu", "PATH": "/bin", "REVISUAL_CACHE": "/c"}
    assert ray_worker_env(environ, "cpu") == (
        {"VERL_PLATFORM": "cpu", "REVISUAL_DEVICE": "cpu", "REVISUAL_CACHE": "/c"},
        False,
    )
    assert ray_worker_env(environ, "gpu")[0] == {"REVISUAL_DEVICE": "cpu", "REVISUAL_CACHE": "/c"}


# ---- no silent CPU fallback for a real job ---------------------------------------------------

SEVEN_B = ["actor_rollout_ref.model.path=/models/Qwen2.5-VL-7B-Instruct", "data.train_files=/data/mmrl/train.parquet",
           "data.val_files=/data/mmrl/val.parquet"]  # fmt: skip


def test_only_a_cpu_found_by_default_is_a_fallback():
    assert _decide({}, local=False)[0].fallback
    assert not _decide({"REVISUAL_DEVICE": "cpu"})[0].fallback
    assert not _decide({}, override="cpu")[0].fallback
    assert not _decide({}, local=True)[0].fallback


def test_job_paths_are_the_model_and_data_outside_the_cpu_defaults_cache(tmp_path):
    env = {"REVISUAL_CACHE": str(tmp_path / "cache")}
    keys = JOB_PATH_KEYS["device_profile"]
    own = [f"data.train_files={tmp_path}/cache/data/mmrl/train.parquet", "actor_rollout_ref.model.path=${oc.env:REVISUAL_CACHE}/tiny-qwen25vl",
           "data.val_files=null", "trainer.default_local_dir=/elsewhere", "data.max_prompt_length=64"]  # fmt: skip
    assert job_paths(own, keys, env) == []
    assert job_paths([*own, *SEVEN_B], keys, env) == SEVEN_B
    listed = f"++data.train_files=[{tmp_path}/cache/data/a.parquet,/data/b.parquet]"
    assert job_paths([listed], keys, env) == [listed.lstrip("+")]
    assert job_paths(["model.path=/models/7b"], JOB_PATH_KEYS["sft_profile"], env) == ["model.path=/models/7b"]


def _launcher_env(**extra) -> dict:
    # tools/run_tests.sh exports REVISUAL_DEVICE=cpu: this test needs the launcher's own decision.
    env = {k: v for k, v in os.environ.items() if k not in ("REVISUAL_DEVICE", "RAY_ADDRESS", "VERL_PLATFORM", RAY_JOB_CONFIG_ENV)}
    return {**env, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(REPO), "PYTHON": sys.executable, **extra}


def _refusal(proc: subprocess.CompletedProcess, paths: list[str]) -> None:
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    for path in paths:
        assert path in proc.stderr
    for words in ("shows no GPU", "RAY_ADDRESS is unset", "REVISUAL_DEVICE=gpu", "REVISUAL_DEVICE=cpu"):
        assert words in proc.stderr
    assert "Ray runtime started" not in proc.stdout + proc.stderr and "ray.init" not in proc.stderr


@pytest.mark.skipif(gpu_available(), reason="this machine has a GPU: the launcher would take the GPU profile")
@pytest.mark.parametrize(
    "recipe,args",
    [("revisual_stage2.sh", SEVEN_B), ("revisual_stage3.sh", SEVEN_B[:1]),
     ("revisual_stage1.sh", ["model.path=/models/Qwen2.5-VL-7B-Instruct", "data.train_files=/data/sft/train.parquet"])],
)  # fmt: skip
def test_a_real_job_on_a_machine_without_a_gpu_stops_before_ray(recipe, args, tmp_path):
    proc = subprocess.run(["bash", str(REPO / "recipes" / recipe), *args], cwd=tmp_path, env=_launcher_env(),
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    _refusal(proc, args)
    # Nothing was started and nothing written but the console's log of the refused launch.
    written = [p for p in (tmp_path / "outputs").rglob("*") if p.is_file()] if (tmp_path / "outputs").exists() else []
    assert all(p.parent.name == "logs" and p.suffix == ".log" for p in written), written


@pytest.mark.skipif(gpu_available(), reason="this machine has a GPU: the pipeline would take the GPU profile")
def test_the_pipeline_refuses_a_real_job_before_its_first_stage(tmp_path):
    env = _launcher_env(STAGE2_ARGS=" ".join(SEVEN_B[1:]), COMMON_ARGS="trainer.logger=[console]")
    proc = subprocess.run(["bash", str(REPO / "recipes" / "revisual_pipeline.sh"), "--run-dir", str(tmp_path / "run")],
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    _refusal(proc, SEVEN_B[1:])
    assert not (tmp_path / "run").exists()


# ---- real Ray heads, started here ------------------------------------------------------------


def _devices_cli(env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "verl_ext.devices"], env=env, capture_output=True, text=True, timeout=300
    )


def _probe_line(proc: subprocess.CompletedProcess) -> dict:
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    assert lines, proc.stdout[-4000:] + proc.stderr[-4000:]
    return json.loads(lines[-1][len("PROBE "):])


def _with_repo_on_path(env: dict) -> dict:
    return {**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def test_a_head_declaring_a_gpu_is_a_gpu_cluster_also_for_a_job_with_a_cpu_leftover(ray_cluster):
    ray_cluster.start_head(num_cpus=4, num_gpus=1)

    # From a shell on a machine without a GPU (this one), with RAY_ADDRESS set.
    proc = _devices_cli(_with_repo_on_path(ray_cluster.client_env()))
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = f"[revisual] device=gpu: the Ray cluster at RAY_ADDRESS={ray_cluster.address} declares 1 GPU(s)"
    assert proc.stdout.startswith(line)

    # As `ray job submit`, with VERL_PLATFORM=cpu left in the job's runtime env.
    job = ray_cluster.submit(["python", "tests/cluster/job_probe.py"], {"VERL_PLATFORM": "cpu"}, timeout_s=300)
    assert job.returncode == 0, job.stdout[-4000:] + job.stderr[-4000:]
    assert "[revisual] device=gpu: the Ray cluster of this Ray job" in job.stdout
    report = _probe_line(job)
    assert not any(arg.startswith("device_profile=") for arg in report["argv"])  # no tiny-model paths
    assert report["driver_verl_platform"] is None
    assert report["forwarded"]["VERL_PLATFORM"] == ""
    assert report["worker"]["VERL_PLATFORM"] == ""  # verl detects the platform; never "cpu"
    assert report["worker"]["REVISUAL_DEVICE"] == "gpu"
    assert "verl_ext.plugin" in report["worker"]["VERL_USE_EXTERNAL_MODULES"]
    assert "num_gpus" not in report["ray_init_keys"] and "num_cpus" not in report["ray_init_keys"]


def test_a_head_without_a_gpu_is_a_cpu_cluster_and_the_launcher_says_how_to_declare_one(ray_cluster):
    ray_cluster.start_head(num_cpus=4, num_gpus=0)

    proc = _devices_cli(_with_repo_on_path(ray_cluster.client_env()))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == (
        f"[revisual] device=cpu: the Ray cluster at RAY_ADDRESS={ray_cluster.address} declares no GPU"
    )

    # A run cannot be placed there (verl places one worker per GPU unit): the launcher stops first.
    launch = subprocess.run(
        [sys.executable, "-c", "from verl_ext.trainer.main import prepare_process_environment as p; p([])"],
        env=_with_repo_on_path(ray_cluster.client_env()),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert launch.returncode == 1
    assert CPU_CLUSTER_HINT in launch.stderr


def test_forwarding_writes_into_verls_own_ray_init_section(monkeypatch):
    # verl's ppo_trainer.yaml has ray_init.runtime_env without env_vars: the variables must still land in the config.
    import importlib.util

    from omegaconf import OmegaConf

    from verl_ext.trainer.main import forward_env_to_ray

    verl_dir = Path(importlib.util.find_spec("verl").submodule_search_locations[0])
    config = OmegaConf.create({"ray_kwargs": OmegaConf.load(verl_dir / "trainer/config/ppo_trainer.yaml").ray_kwargs})
    OmegaConf.set_struct(config, True)
    for name in ("RAY_ADDRESS", RAY_JOB_CONFIG_ENV, "VERL_PLATFORM", "REVISUAL_CACHE", "WANDB_MODE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VERL_USE_EXTERNAL_MODULES", "verl_ext.plugin")
    monkeypatch.setenv("REVISUAL_DEVICE", "gpu")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.delenv("VERL_FILE_LOGGER_PATH", raising=False)
    forward_env_to_ray(config)
    assert OmegaConf.to_container(config.ray_kwargs.ray_init.runtime_env.env_vars) == {
        "VERL_USE_EXTERNAL_MODULES": "verl_ext.plugin",
        "REVISUAL_DEVICE": "gpu",
        "TOKENIZERS_PARALLELISM": "false",
    }
