"""Which device a launch uses, why, and where the CPU default keeps its assets.

A leaf module: it imports neither verl nor any GPU package, so the launchers, the CPU support and
the evaluation application can all ask it without paying for (or being changed by) a verl import.

The decision (:func:`decide_device`), in this order:

1. ``REVISUAL_DEVICE=cpu|gpu`` in the environment, or a ``<profile group>=cpu|gpu`` override on
   the command line (the two must agree when both are given);
2. with ``RAY_ADDRESS`` set (a user joining a cluster, or ``ray job submit``, which sets it for
   the entrypoint): the GPUs the *cluster* declares (``ray.cluster_resources()``), never the
   launching machine's, which is often a GPU-less login or head node;
3. otherwise the GPUs of this machine, where a local Ray is started.

A CPU chosen in step 3 is a fallback: a command that names model or data paths of its own (not the
CPU default's tiny model and synthetic data) then stops with exit status 2 before Ray starts, and
says how to choose (:func:`refuse_cpu_fallback_for_a_real_job`).

Run ``python -m verl_ext.devices`` to see the decision a launcher would take here.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

DEVICES = ("cpu", "gpu")
# Set by Ray's job supervisor for a `ray job submit` entrypoint; holds the job's runtime env.
RAY_JOB_CONFIG_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"
# RAY_ADDRESS values that start a new local Ray rather than join a running cluster.
_LOCAL_RAY_ADDRESSES = ("", "local")

CPU_CLUSTER_HINT = (
    "verl places one worker per GPU unit of a Ray cluster, and revisual's CPU platform does too. "
    "A cluster of CPU machines declares logical units on every node, e.g. "
    "`ray start --head --num-cpus=16 --num-gpus=1`, and the job sets REVISUAL_DEVICE=cpu (docs/cpu.md)."
)


def gpu_available() -> bool:
    """True where CUDA sees a device, or where nvidia-smi exists (Ray drivers may hide devices)."""
    import torch

    return torch.cuda.is_available() or shutil.which("nvidia-smi") is not None


def cpu_mode_requested() -> bool:
    """CPU mode is on when the user asks for it or when verl's platform is already the CPU one."""
    return os.environ.get("REVISUAL_DEVICE", "").lower() == "cpu" or os.environ.get("VERL_PLATFORM", "") == "cpu"


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the CPU default keeps its tiny model and data: ``$REVISUAL_CACHE`` (of ``environ``, default this
    process's) or ``<repo>/.cache/revisual``."""
    env = os.environ if environ is None else environ
    return Path(env.get("REVISUAL_CACHE") or REPO_ROOT / ".cache" / "revisual").resolve()


@dataclass(frozen=True)
class DeviceChoice:
    """The device profile of a launch and the evidence it was chosen on."""

    device: str
    """``cpu`` or ``gpu``."""
    reason: str
    """One sentence naming what decided it (an explicit setting, the cluster, or this machine)."""
    cluster_gpus: float | None = None
    """GPU units the joined Ray cluster declares; None when no cluster was asked."""
    fallback: bool = False
    """True when the CPU was chosen only because this machine showed no GPU (nobody asked for it)."""

    def __post_init__(self):
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")

    def describe(self) -> str:
        return f"[revisual] device={self.device}: {self.reason}"


def joined_ray_address(env: Mapping[str, str]) -> str | None:
    """The running Ray cluster a launch joins, or None when it starts its own local Ray."""
    address = env.get("RAY_ADDRESS", "").strip()
    return None if address.lower() in _LOCAL_RAY_ADDRESSES else address


def in_ray_job(env: Mapping[str, str]) -> bool:
    """True inside the entrypoint of a `ray job submit` (the job supervisor sets this variable)."""
    return RAY_JOB_CONFIG_ENV in env


def ray_job_env_vars(env: Mapping[str, str]) -> dict[str, str]:
    """The ``env_vars`` of the submitted job's runtime env (``--runtime-env-json``); {} outside a job."""
    if not in_ray_job(env):
        return {}
    job = json.loads(env[RAY_JOB_CONFIG_ENV] or "{}")
    return dict((job.get("runtime_env") or {}).get("env_vars") or {})


@functools.lru_cache(maxsize=None)
def cluster_gpu_count(address: str) -> float:
    """GPU units the Ray cluster at ``address`` declares, over all its nodes (``ray.cluster_resources()``).

    Connects as a short-lived driver; a process that is already connected is asked directly.
    Asked once per address and process (a stage entry and the RL entry it calls share the answer).
    """
    import ray

    if ray.is_initialized():
        return float(ray.cluster_resources().get("GPU", 0.0))
    _refuse_unreachable(address)
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    except Exception as err:  # ray raises ConnectionError, ValueError, RuntimeError... depending on the address
        raise SystemExit(
            f"[revisual] RAY_ADDRESS={address} is set, but no Ray cluster answered there ({err}). "
            "Unset RAY_ADDRESS to start a local Ray, or start the cluster first."
        ) from err
    try:
        return float(ray.cluster_resources().get("GPU", 0.0))
    finally:
        ray.shutdown()


def _refuse_unreachable(address: str, timeout_s: float = 10.0) -> None:
    """Fail in seconds on a ``host:port`` nobody listens on (``ray.init`` would retry for minutes)."""
    import re
    import socket

    match = re.fullmatch(r"(?:ray://)?\[?([^\[\]/]+?)\]?:(\d+)", address)
    if match is None:  # "auto" and other forms: leave them to Ray
        return
    try:
        socket.create_connection((match.group(1), int(match.group(2))), timeout=timeout_s).close()
    except OSError as err:
        raise SystemExit(
            f"[revisual] RAY_ADDRESS={address} is set, but nothing listens there ({err}). "
            "Unset RAY_ADDRESS to start a local Ray, or start the cluster first."
        ) from err


def _explicit_device(env: Mapping[str, str], profile_override: str | None, profile_group: str) -> DeviceChoice | None:
    requested = env.get("REVISUAL_DEVICE", "").strip().lower()
    if requested not in ("", "auto", *DEVICES):
        raise ValueError(f"REVISUAL_DEVICE={env['REVISUAL_DEVICE']!r}: use cpu, gpu or auto (or leave it unset)")
    if profile_override is not None and profile_override not in DEVICES:
        raise ValueError(f"{profile_group}={profile_override!r}: use {profile_group}=cpu or {profile_group}=gpu")
    if requested in DEVICES and profile_override is not None and profile_override != requested:
        raise ValueError(
            f"REVISUAL_DEVICE={requested} contradicts {profile_group}={profile_override} on the command line: drop one"
        )
    if requested in DEVICES:
        return DeviceChoice(requested, f"REVISUAL_DEVICE={requested} is set")
    if profile_override is not None:
        return DeviceChoice(profile_override, f"{profile_group}={profile_override} is on the command line")
    return None


def decide_device(
    env: Mapping[str, str],
    profile_override: str | None = None,
    profile_group: str = "device_profile",
    *,
    local_gpu: Callable[[], bool] = gpu_available,
    cluster_gpus: Callable[[str], float] = cluster_gpu_count,
) -> DeviceChoice:
    """Choose the device profile of a launch (the order is in this module's docstring).

    ``profile_override`` is the value of a ``<profile_group>=`` command-line override, if any.
    ``local_gpu`` and ``cluster_gpus`` are the probes of this machine and of a Ray cluster; only
    the one the decision needs is called.
    """
    explicit = _explicit_device(env, profile_override, profile_group)
    if explicit is not None:
        return explicit
    address = joined_ray_address(env)
    if address is not None:
        where = f"the Ray cluster of this Ray job ({address})" if in_ray_job(env) else f"the Ray cluster at RAY_ADDRESS={address}"
        gpus = cluster_gpus(address)
        if gpus > 0:
            return DeviceChoice("gpu", f"{where} declares {gpus:g} GPU(s); the launching machine is not asked", gpus)
        return DeviceChoice("cpu", f"{where} declares no GPU", 0.0)
    if local_gpu():
        return DeviceChoice("gpu", "this machine has a GPU and RAY_ADDRESS is unset (a local Ray is started)")
    return DeviceChoice("cpu", "this machine has no GPU and RAY_ADDRESS is unset (a local Ray is started)", fallback=True)


# The model and data keys of a launch, per profile group: the CPU default fills them with its own tiny
# model and synthetic data, so a command line that names others is a real job.
JOB_PATH_KEYS = {
    "device_profile": ("actor_rollout_ref.model.path", "data.train_files", "data.val_files"),
    "sft_profile": ("model.path", "data.train_files", "data.val_files"),
}


def job_paths(argv: list[str], keys: tuple[str, ...], env: Mapping[str, str]) -> list[str]:
    """The ``key=value`` model and data overrides in ``argv`` that point outside the CPU default's cache."""
    cache = default_cache_dir(env)
    found = []
    for arg in argv:
        key, sep, value = arg.lstrip("+").partition("=")
        if not sep or key not in keys or value.strip() in ("", "null", "~"):
            continue
        # A list override ([a.parquet,b.parquet]) names several files; one outside the cache is enough.
        items = [item.strip().strip("'\"") for item in value.strip("[]").split(",") if item.strip()]
        if any("${oc.env:REVISUAL_CACHE}" not in item and not Path(item).resolve().is_relative_to(cache)
               for item in items):
            found.append(f"{key}={value}")
    return found


def refuse_cpu_fallback_for_a_real_job(choice: DeviceChoice, paths: list[str]) -> None:
    """Stop (exit 2) when the CPU was only a fallback but the command names a real model or data set.

    Without this a 7B launch on a machine whose GPUs are not visible (a login node, a container started
    without them) would run on the CPU profile after a one-line notice and look like a working job.
    """
    if not (choice.device == "cpu" and choice.fallback and paths):
        return
    import sys

    print(
        "[revisual] stopped before starting: the command names a real job "
        f"({', '.join(paths)}), but this machine shows no GPU (torch.cuda sees none and there is no "
        "nvidia-smi) and RAY_ADDRESS is unset, so it would run on the CPU profile. Choose the profile:\n"
        "  REVISUAL_DEVICE=gpu  the GPU profile (GPUs this check cannot see, or Ray workers that will have them)\n"
        "  REVISUAL_DEVICE=cpu  these paths on the CPU profile (CPU backends, small batches)\n"
        "  RAY_ADDRESS=<head>:6379  join a Ray cluster with GPUs (or submit with `ray job submit`)\n"
        "Without model and data paths the CPU profile runs its own tiny model and synthetic data.",
        file=sys.stderr,
        flush=True,
    )
    raise SystemExit(2)


# What every Ray worker must see, also on nodes that do not inherit the launching shell.
FORWARDED_ENV = (
    "VERL_USE_EXTERNAL_MODULES",
    "VERL_PLATFORM",
    "REVISUAL_DEVICE",
    "REVISUAL_CACHE",
    "VERL_FILE_LOGGER_PATH",
    "TOKENIZERS_PARALLELISM",
    "HF_HUB_OFFLINE",
    "WANDB_MODE",
    "WANDB_DIR",
    "TENSORBOARD_DIR",
    "REVISUAL_ACTOR_TRACE",
)


def ray_worker_env(environ: Mapping[str, str], device: str) -> tuple[dict[str, str], bool]:
    """The variables a launcher adds to the Ray runtime env, and whether they must override the job's own.

    * A GPU run never passes ``VERL_PLATFORM=cpu`` on; where the submitted job's own runtime env
      carries it, the workers get ``VERL_PLATFORM=""`` instead (empty: verl detects the platform).
    * A variable that the job's runtime env already holds with the same value reaches every worker
      anyway, and naming it again is a conflict for ``ray.init``: it is left out.
    * A variable the job holds with another value (the launcher added to it) is passed, and the
      second value says that the launcher's values must win (``RAY_OVERRIDE_JOB_RUNTIME_ENV=1``).
    """
    job = ray_job_env_vars(environ)
    env = {name: environ[name] for name in FORWARDED_ENV if name in environ}
    if device == "gpu":
        if env.get("VERL_PLATFORM", "").strip().lower() == "cpu":
            del env["VERL_PLATFORM"]
        if job.get("VERL_PLATFORM", "").strip().lower() == "cpu" and "VERL_PLATFORM" not in env:
            env["VERL_PLATFORM"] = ""
    env = {name: value for name, value in env.items() if job.get(name) != value}
    return env, any(name in job for name in env)


def profile_override_in(argv: list[str], profile_group: str) -> str | None:
    """The value of the last ``<profile_group>=VALUE`` override in ``argv`` (Hydra keeps the last one)."""
    values = [arg.split("=", 1)[1] for arg in argv if arg.startswith(profile_group + "=")]
    return values[-1] if values else None


def main() -> None:
    """Print the decision a launcher would take here, without launching anything."""
    import sys

    choice = decide_device(os.environ, profile_override_in(sys.argv[1:], "device_profile"))
    print(choice.describe())


if __name__ == "__main__":
    main()
