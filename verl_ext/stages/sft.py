"""Stage 1 entry: verl's own SFT trainer with revisual's config, plugin and CPU profile, then the merge.

    torchrun --nproc_per_node=N -m verl_ext.stages.sft [hydra overrides...]
    python -m verl_ext.stages.sft [hydra overrides...]          # one process, no torchrun needed

What it adds around ``verl.trainer.sft_trainer.run_sft``:
* loads :mod:`verl_ext.plugin` here (the CPU backends and the text-only VL fix; verl's SFT trainer
  runs in this process, so nothing has to reach Ray workers);
* picks ``sft_profile=cpu`` where no GPU is found (or ``REVISUAL_DEVICE=cpu``), after building the
  tiny model and the synthetic data it needs;
* sets the single-process rendezvous variables when not launched by torchrun;
* after training, rank 0 merges the last checkpoint into ``revisual.output_dir`` with verl's model
  merger (:mod:`verl_ext.stages.merge`).
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

PROFILE_GROUP = "sft_profile"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def set_single_process_rendezvous() -> None:
    """verl's SFT trainer reads torchrun's variables; provide a world of one when they are absent."""
    if "RANK" in os.environ:
        return
    os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", LOCAL_WORLD_SIZE="1", MASTER_ADDR="127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(_free_port()))


def merged_output_dir(config) -> Path:
    """``revisual.output_dir``, or ``<checkpoints>/../hf`` when it is null."""
    explicit = config.get("revisual", {}).get("output_dir")
    if explicit:
        return Path(explicit).resolve()
    return Path(config.trainer.default_local_dir).resolve().parent / "hf"


def validate_sft_config(config) -> None:
    """The checks verl's SFT trainer makes on its config before it builds anything, without a GPU.

    verl runs them inside ``SFTTrainer.__init__`` (its ``_build_config``: the model, engine, optimizer,
    checkpoint and profiler dataclasses) and its data loader (the global batch must split evenly over
    the data-parallel ranks); here they run before any process group or dataset exists.
    """
    from types import SimpleNamespace

    from verl.trainer.sft_trainer import SFTTrainer

    SFTTrainer._build_config(SimpleNamespace(config=config, _validate_profiler_interval=lambda: None))
    SFTTrainer._validate_profiler_interval(SimpleNamespace(profiler_interval=config.trainer.profile_interval))
    world = config.trainer.n_gpus_per_node * config.trainer.nnodes
    if config.data.train_batch_size % world:
        raise ValueError(
            f"data.train_batch_size ({config.data.train_batch_size}) must be divisible by the number of "
            f"data-parallel ranks (trainer.n_gpus_per_node x trainer.nnodes = {world})"
        )


def run(config) -> None:
    """Train with verl's SFT trainer, then (rank 0) merge the last checkpoint into a Hugging Face folder."""
    import torch.distributed as dist
    from omegaconf import OmegaConf, open_dict
    from verl.trainer import sft_trainer
    from verl.utils.device import auto_set_device

    from verl_ext.registration import assert_registered
    from verl_ext.stages.merge import merge_latest_checkpoint

    assert_registered()
    from verl_ext.preflight import prepare_sft_run

    prepare_sft_run(config, rank=int(os.environ.get("RANK", "0")))  # lock and intact checkpoint; exit 2 if not
    revisual = OmegaConf.to_container(config.get("revisual", {}), resolve=True) or {}
    output_dir = merged_output_dir(config)
    with open_dict(config):
        config.pop("revisual", None)  # verl's SFT trainer logs the config; keep only its own keys
    ckpt = Path(config.trainer.default_local_dir).resolve()
    from verl_ext.trainer.main import set_metrics_path

    metrics_path = set_metrics_path(config)
    from verl_ext.tracking import configure_tracking

    if int(os.environ.get("RANK", "0")) == 0:
        configure_tracking(config, ckpt.parent)
    if int(os.environ.get("RANK", "0")) == 0:
        print(
            f"[revisual] stage 1 (cold start SFT) device={os.environ.get('REVISUAL_DEVICE', 'gpu')} "
            f"model={config.model.path}\n[revisual] checkpoints -> {ckpt}\n[revisual] metrics (jsonl) -> {metrics_path}",
            flush=True,
        )
    auto_set_device(config)
    sft_trainer.run_sft(config)
    if revisual.get("merge", True) and int(os.environ.get("RANK", "0")) == 0:
        merged = merge_latest_checkpoint(ckpt, output_dir, source_model=config.model.path)
        print(f"[revisual] merged HF model -> {merged}", flush=True)
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def main() -> None:
    from verl_ext.trainer.main import prepare_process_environment

    argv = prepare_process_environment(sys.argv[1:], profile_group=PROFILE_GROUP)
    sys.argv = [sys.argv[0], *argv]
    if os.environ.get("REVISUAL_DEVICE") == "cpu":
        from verl_ext.trainer.main import ensure_cpu_assets

        ensure_cpu_assets(Path(os.environ["REVISUAL_CACHE"]))
    set_single_process_rendezvous()
    import hydra

    import verl_ext.plugin  # noqa: F401  (CPU backends + verl fixes before Hydra builds anything)

    hydra.main(config_path="../config", config_name="revisual_stage1", version_base=None)(run)()


if __name__ == "__main__":
    main()
