"""Entry module for the RL stages: verl's ``main_ppo`` with revisual's config, plugin and CPU profile.

    python -m verl_ext.trainer.main --config-name revisual_stage2 [hydra overrides...]

What it adds around verl's own ``main_ppo`` body:
* loads :mod:`verl_ext.plugin` in this process and every Ray process (``VERL_USE_EXTERNAL_MODULES``,
  also forwarded through the Ray runtime env for clusters) and checks that it registered;
* picks the device profile: ``device_profile=cpu`` where no GPU is found (or ``REVISUAL_DEVICE=cpu``),
  after building the tiny model and the synthetic data it needs;
* validates revisual's keys before Ray starts, and prints where logs, metrics and checkpoints go.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from verl_ext.devices import default_cache_dir, gpu_available

PLUGIN_MODULE = "verl_ext.plugin"


def _append_env_list(name: str, value: str) -> None:
    items = [x for x in os.environ.get(name, "").split(",") if x]
    if value not in items:
        items.append(value)
    os.environ[name] = ",".join(items)


def choose_device(argv: list[str], profile_group: str = "device_profile") -> str:
    """``cpu`` or ``gpu``: an explicit ``<profile_group>=`` override wins, then ``REVISUAL_DEVICE``, then detection."""
    for arg in argv:
        if arg.startswith(profile_group + "="):
            return arg.split("=", 1)[1]
    requested = os.environ.get("REVISUAL_DEVICE", "auto").lower()
    if requested in ("cpu", "gpu"):
        return requested
    return "gpu" if gpu_available() else "cpu"


def prepare_process_environment(argv: list[str], profile_group: str = "device_profile") -> list[str]:
    """Set the environment verl reads at import time; returns argv with the device profile added.

    ``profile_group`` is the Hydra config group that holds the ``cpu``/``gpu`` profiles of the
    stage being launched (the SFT stage has its own).
    """
    _append_env_list("VERL_USE_EXTERNAL_MODULES", PLUGIN_MODULE)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    device = choose_device(argv, profile_group)
    if device == "cpu":
        os.environ["VERL_PLATFORM"] = "cpu"
        os.environ["REVISUAL_DEVICE"] = "cpu"
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("WANDB_MODE", "disabled")
        os.environ.setdefault("REVISUAL_CACHE", str(default_cache_dir()))
        if not any(a.startswith(profile_group + "=") for a in argv):
            argv = [*argv, f"{profile_group}=cpu"]
    return argv


def ensure_cpu_assets(cache: Path) -> None:
    """Build the synthetic tasks and the warm-started tiny model once per recipe; later runs reuse them."""
    from verl_ext.cpu_default import build_assets

    build_assets(cache)


def forward_env_to_ray(config) -> None:
    """Workers on other nodes do not inherit this shell: pass the plugin settings in the runtime env."""
    from omegaconf import open_dict

    names = ["VERL_USE_EXTERNAL_MODULES", "VERL_PLATFORM", "REVISUAL_DEVICE", "VERL_FILE_LOGGER_PATH",
             "TOKENIZERS_PARALLELISM", "HF_HUB_OFFLINE", "REVISUAL_ACTOR_TRACE"]
    with open_dict(config):
        ray_init = config.ray_kwargs.setdefault("ray_init", {})
        env_vars = ray_init.setdefault("runtime_env", {}).setdefault("env_vars", {})
        for name in names:
            if name in os.environ and name not in env_vars:
                env_vars[name] = os.environ[name]
        if os.environ.get("RAY_ADDRESS"):
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


REQUIRED_PATHS = ("actor_rollout_ref.model.path", "data.train_files", "data.val_files")


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
    from verl_ext.plugin import assert_registered
    from verl_ext.settings import validate_revisual_config

    check_required_paths(config)
    validate_revisual_config(config)
    assert_registered()
    from verl_ext.preflight import prepare_rl_run

    prepare_rl_run(config)  # lock, intact checkpoint, decodable images, Ray-safe Python path; exit 2 if not
    metrics_path = set_metrics_path(config)
    forward_env_to_ray(config)
    ckpt = Path(config.trainer.default_local_dir).resolve()
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
