"""Stage 3 entry: text-only RL (TRL) on the stage-2 model, through the RL entry of stage 2.

    python -m verl_ext.stages.text_rl [hydra overrides...]

It runs ``verl_ext.trainer.main`` (trainer mode ``revisual_sync``: PAD + annealed entropy) on
``revisual_stage2.yaml`` plus ``stage/text_rl.yaml`` (frozen vision tower, low-variance KL loss
2e-3, text data) and, on a machine without a GPU, ``text_rl_profile/cpu.yaml`` (the synthetic
text tasks). On a GPU it refuses to start without the stage-2 model and the text data, rather
than fall back to a default it would silently train on.
"""

from __future__ import annotations

import sys

STAGE_OVERRIDE = "+stage=text_rl"
CPU_PROFILE_OVERRIDE = "+text_rl_profile=cpu"
REQUIRED_ON_GPU = ("actor_rollout_ref.model.path", "data.train_files", "data.val_files")


def given_keys(argv: list[str]) -> set[str]:
    """Hydra override keys present on a command line (``key=value``, ``+key=value``, ``++key=value``)."""
    return {arg.split("=", 1)[0].lstrip("+") for arg in argv if "=" in arg and not arg.startswith("-")}


def stage3_argv(argv: list[str], device: str) -> list[str]:
    """The RL entry's command line for stage 3: config, stage overlay, CPU data, then the user's overrides."""
    if device != "cpu":
        missing = [key for key in REQUIRED_ON_GPU if key not in given_keys(argv)]
        if missing:
            raise SystemExit(
                f"stage 3 (text RL) needs {', '.join(missing)} on the command line: the stage-2 model "
                "(e.g. actor_rollout_ref.model.path=outputs/stage2_mrl/hf) and the text-only RL parquet files"
            )
    extra = [STAGE_OVERRIDE] + ([CPU_PROFILE_OVERRIDE] if device == "cpu" else [])
    return ["--config-name", "revisual_stage2", *extra, *argv]


def main() -> None:
    from verl_ext.trainer import main as rl_main

    argv = sys.argv[1:]
    device = rl_main.choose_device(argv)
    sys.argv = [sys.argv[0], *stage3_argv(argv, device)]
    rl_main.main()


if __name__ == "__main__":
    main()
