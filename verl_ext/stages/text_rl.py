"""Stage 3 entry: text-only RL (TRL) on the stage-2 model, through the RL entry of stage 2.

    python -m verl_ext.stages.text_rl [hydra overrides...]

It runs ``verl_ext.trainer.main`` (trainer mode ``revisual_sync``: PAD + annealed entropy) on
``revisual_stage3.yaml`` (the MRL settings plus ``stage/text_rl.yaml``: frozen vision tower,
low-variance KL loss 2e-3, text data) and, on a machine without a GPU, ``text_rl_profile=cpu``
(the synthetic text tasks). Missing model or data paths are refused by the RL entry.
"""

from __future__ import annotations

import sys

CONFIG_NAME = "revisual_stage3"
CPU_PROFILE_OVERRIDE = "text_rl_profile=cpu"


def stage3_argv(argv: list[str], device: str) -> list[str]:
    """The RL entry's command line for stage 3: its config, the CPU text data where needed, the user's overrides."""
    extra = [CPU_PROFILE_OVERRIDE] if device == "cpu" and not any(a.startswith("text_rl_profile=") for a in argv) else []
    return ["--config-name", CONFIG_NAME, *extra, *argv]


def main() -> None:
    from verl_ext.trainer import main as rl_main

    argv = sys.argv[1:]
    device = rl_main.choose_device(argv)
    sys.argv = [sys.argv[0], *stage3_argv(argv, device)]
    rl_main.main()


if __name__ == "__main__":
    main()
