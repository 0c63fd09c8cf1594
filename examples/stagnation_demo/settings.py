"""Everything the stagnation demo fixes in advance: its task mix, the stage-1 and stage-2 settings shared by
every arm, the arms, and the paper's Table 4 numbers it is shown beside.

Change the numbers here, nowhere else: every arm reads them, so the arms differ only in
``algorithm.pad.variant`` (and the seed).
"""

from __future__ import annotations

from verl_ext.cpu_default import CPU_DEFAULT, AssetRecipe

DEMO_RECIPE = AssetRecipe(
    tasks={
        # Easy rows (the warm-started tiny model mostly answers them: all-correct groups), a medium task,
        # and a hard spec it mostly fails (all-wrong groups): many groups carry no GRPO signal, which is
        # the situation PAD is for. Repeating a spec weights it.
        "mmrl": ["fill_colour", "fill_colour", "majority_colour", "count_squares:3"],
        "textrl": list(CPU_DEFAULT.tasks["textrl"]),
        "sft": list(CPU_DEFAULT.tasks["sft"]),
    },
)
"""The demo's own synthetic tasks and warm-started tiny model (``verl_ext.cpu_default.build_assets``)."""

ARMS = ("grpo", "filter", "random", "pad", "official")
"""Values of ``algorithm.pad.variant``, in the order the table lists them."""
DEFAULT_ARMS = ("grpo", "filter", "random", "pad")
"""The four arms of the paper's Table 4 (``official`` is the released code's PAD; add it with ``--arms``)."""

PAPER_TABLE4 = {
    "grpo": ("GRPO-Baseline", 45.1),
    "filter": ("GRPO-Filter", 46.0),
    "random": ("Random-Sampling", 46.2),
    "pad": ("Full PAD", 47.7),
    "official": ("(released code; not in Table 4)", None),
}
"""Per arm: its row in the paper's Table 4 and the average accuracy (%) over the six multimodal benchmarks
after stage 2 (multimodal RL)."""

DEFAULT_STEPS = 30
"""Stage-2 steps per run (the paper's Fig. 3 covers about 30)."""
QUICK_STEPS = 8
"""Stage-2 steps per run with ``--quick``."""
DEFAULT_SEEDS = 3
COLD_START_STEPS = 4
"""Stage-1 (SFT) steps of the cold start every arm starts from."""


def stage2_settings(steps: int) -> list[str]:
    """Hydra overrides of stage 2 shared by every arm and seed: 8 prompts x 4 rollouts per step, one optimizer
    step per rollout step (for the whole batch), one checkpoint at the end, no in-training validation
    (the driver evaluates the merged models itself)."""
    return [
        "data.train_batch_size=8",
        "actor_rollout_ref.actor.ppo_mini_batch_size=8",
        f"trainer.total_training_steps={steps}",
        f"trainer.save_freq={steps}",
        "trainer.test_freq=-1",
    ]


def seed_settings(seed: int) -> list[str]:
    """What a seed changes: the data order (``data.seed``, verl's shuffling sampler), the rollout's sampling
    seed (``actor_rollout_ref.rollout.seed``, vLLM's on a GPU) and PAD's draws (``algorithm.pad.seed``)."""
    return [f"data.seed={seed}", f"actor_rollout_ref.rollout.seed={seed}", f"algorithm.pad.seed={seed}"]
