"""Entry module for the RL stages: verl's ``main_ppo`` with revisual's config, plugin and CPU profile.

    python -m verl_ext.trainer.main --config-name revisual_stage2 [hydra overrides...]

What it adds around verl's own ``main_ppo`` body:
* loads :mod:`verl_ext.plugin` in this process and every Ray process (``VERL_USE_EXTERNAL_MODULES``,
  also forwarded through the Ray runtime env for clusters) and checks that it registered;
* picks the device profile (:mod:`verl_ext.devices`: ``REVISUAL_DEVICE``, else the joined Ray
  cluster's GPUs, else this machine's) and, for ``device_profile=cpu``, builds the tiny model and
  the synthetic data it needs;
* validates revisual's keys before Ray starts, and prints where logs, metrics and checkpoints go.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from verl_ext.devices import (
    CPU_CLUSTER_HINT,
    JOB_PATH_KEYS,
    DeviceChoice,
    decide_device,
    default_cache_dir,
    job_paths,
    joined_ray_address,
    profile_override_in,
    ray_worker_env,
    refuse_cpu_fallback_for_a_real_job,
)

PLUGIN_MODULE = "verl_ext.plugin"


def _append_env_list(name: str, value: str) -> None:
    items = [x for x in os.environ.get(name, "").split(",") if x]
    if value not in items:
        items.append(value)
    os.environ[name] = ",".join(items)


def choose_device(argv: list[str], profile_group: str = "device_profile") -> str:
    """``cpu`` or ``gpu``, decided by :func:`verl_ext.devices.decide_device` (explicit settings, the Ray cluster, this machine)."""
    return _decide(argv, profile_group).device


def _decide(argv: list[str], profile_group: str) -> DeviceChoice:
    try:
        return decide_device(os.environ, profile_override_in(argv, profile_group), profile_group)
    except ValueError as err:
        raise SystemExit(f"[revisual] {err}") from err


def prepare_process_environment(argv: list[str], profile_group: str = "device_profile") -> list[str]:
    """Set the environment verl reads at import time; returns argv with the device profile added.

    ``profile_group`` is the Hydra config group that holds the ``cpu``/``gpu`` profiles of the
    stage being launched (the SFT stage has its own). The decision is printed on one line and
    kept in ``REVISUAL_DEVICE``, so the workers and child processes take the same one.
    """
    _append_env_list("VERL_USE_EXTERNAL_MODULES", PLUGIN_MODULE)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    choice = _decide(argv, profile_group)
    print(choice.describe(), flush=True)
    if choice.device == "cpu" and choice.cluster_gpus == 0:
        raise SystemExit(f"[revisual] {CPU_CLUSTER_HINT}")
    refuse_cpu_fallback_for_a_real_job(choice, job_paths(argv, JOB_PATH_KEYS[profile_group], os.environ))
    os.environ["REVISUAL_DEVICE"] = choice.device
    if choice.device == "gpu":
        if os.environ.get("VERL_PLATFORM", "").strip().lower() == "cpu":
            del os.environ["VERL_PLATFORM"]  # inherited from a CPU shell; verl must detect the GPUs
        return argv
    os.environ["VERL_PLATFORM"] = "cpu"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("REVISUAL_CACHE", str(default_cache_dir()))
    if profile_override_in(argv, profile_group) is None:
        argv = [*argv, f"{profile_group}=cpu"]
    return argv


def ensure_cpu_assets(cache: Path) -> None:
    """Build the synthetic tasks and the warm-started tiny model once per recipe; later runs reuse them."""
    from verl_ext.cpu_default import build_assets

    build_assets(cache, keep_other_owners=True)


def forward_env_to_ray(config) -> None:
    """Workers on other nodes do not inherit this shell: pass the plugin settings in the runtime env."""
    from omegaconf import open_dict

    env, override_job_env = ray_worker_env(os.environ, os.environ.get("REVISUAL_DEVICE", "gpu"))
    if override_job_env:
        os.environ["RAY_OVERRIDE_JOB_RUNTIME_ENV"] = "1"  # ray.init: these values win over the job's
    with open_dict(config):
        # Node by node: DictConfig.setdefault returns the plain default, so writes to it would be lost.
        if config.ray_kwargs.get("ray_init") is None:
            config.ray_kwargs.ray_init = {}
        ray_init = config.ray_kwargs.ray_init
        if ray_init.get("runtime_env") is None:
            ray_init.runtime_env = {}
        if ray_init.runtime_env.get("env_vars") is None:
            ray_init.runtime_env.env_vars = {}
        env_vars = ray_init.runtime_env.env_vars
        for name, value in env.items():
            if name not in env_vars:
                env_vars[name] = value
        if joined_ray_address(os.environ) is not None:
            # Joining a running cluster: its resources are fixed, and ray.init rejects these.
            ray_init.pop("num_cpus", None)
            ray_init.pop("num_gpus", None)


def set_metrics_path(config) -> Path:
    """One JSONL file per launch, so a resumed run never truncates the metrics of the run before it."""
    out = Path(config.trainer.default_local_dir).resolve().parent / "metrics"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{config.trainer.experiment_name}-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    os.environ.setdefault("VERL_FILE_LOGGER_PATH", str(path))
    return Path(os.environ["VERL_FILE_LOGGER_PATH"])


REQUIRED_PATHS = JOB_PATH_KEYS["device_profile"]


def check_required_paths(config) -> None:
    """Refuse to start without the model and data, rather than fall back to verl's example defaults."""
    from omegaconf import OmegaConf

    missing = [key for key in REQUIRED_PATHS if OmegaConf.select(config, key) in (None, "", "???")]
    if missing:
        raise SystemExit(
            f"[revisual] missing {', '.join(missing)}: give them on the command line, e.g. "
            "actor_rollout_ref.model.path=outputs/pipeline/stage1_cold_start/hf "
            "data.train_files=/data/rl/train.parquet data.val_files=/data/rl/val.parquet"
        )


def run(config) -> None:
    """Validate, print the output locations, then run verl's own PPO main body."""
    from verl_ext.registration import assert_registered
    from verl_ext.settings import validate_revisual_config

    from verl_ext.preflight import check_settings, refuse

    check_required_paths(config)
    check_settings(config)  # numbers of the wrong type, before anything converts them; exit 2 if not
    try:
        validate_revisual_config(config)
    except ValueError as err:
        # A setting error is the user's to fix before any cluster starts: one line, exit 2.
        refuse(err)
    assert_registered()
    from verl_ext.preflight import prepare_rl_run

    prepare_rl_run(config)  # lock, intact checkpoint, decodable images, Ray-safe Python path; exit 2 if not
    metrics_path = set_metrics_path(config)
    from verl_ext.tracking import configure_tracking

    ckpt = Path(config.trainer.default_local_dir).resolve()
    configure_tracking(config, ckpt.parent)
    forward_env_to_ray(config)  # after: the trainer's tracker runs in a Ray actor and needs these variables
    print(
        f"[revisual] device={os.environ.get('REVISUAL_DEVICE', 'gpu')} model={config.actor_rollout_ref.model.path}\n"
        f"[revisual] checkpoints -> {ckpt}\n[revisual] metrics (jsonl) -> {metrics_path}",
        flush=True,
    )
    from verl.trainer import main_ppo

    main_ppo.main.__wrapped__(config)
    print(
        f"[revisual] done. checkpoints: {ckpt}\n[revisual] metrics: {metrics_path}",
        flush=True,
    )


def main() -> None:
    sys.argv = [sys.argv[0], *prepare_process_environment(sys.argv[1:])]
    if os.environ.get("REVISUAL_DEVICE") == "cpu":
        ensure_cpu_assets(Path(os.environ["REVISUAL_CACHE"]))
    import hydra

    import verl_ext.plugin  # noqa: F401  (register before Hydra builds anything)

    hydra_main = hydra.main(config_path="../config", config_name="revisual_stage2", version_base=None)(run)
    hydra_main()


if __name__ == "__main__":
    main()
