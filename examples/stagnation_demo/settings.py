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
    name="stagnation_demo",
)
"""The demo's own synthetic tasks and warm-started tiny model (``verl_ext.cpu_default.build_assets``)."""

ARMS = ("grpo", "filter", "random", "pad", "official", "filter+schedule", "pad+schedule")
"""Values of ``algorithm.pad.variant``, in the order the table lists them; ``+schedule`` adds the prompt
scheduler (``algorithm.schedule.enable=true``) to the variant."""
DEFAULT_ARMS = ("grpo", "filter", "random", "pad")
"""The four arms of the paper's Table 4 (``official`` is the released code's PAD; add it with ``--arms``)."""

PAPER_TABLE4 = {
    "grpo": ("GRPO-Baseline", 45.1),
    "filter": ("GRPO-Filter", 46.0),
    "random": ("Random-Sampling", 46.2),
    "pad": ("Full PAD", 47.7),
    "official": ("(released code; not in Table 4)", None),
    "filter+schedule": ("(GRPO-Filter + prompt scheduler; not in the paper)", None),
    "pad+schedule": ("(Full PAD + prompt scheduler; not in the paper)", None),
}
"""Per arm: its row in the paper's Table 4 and the average accuracy (%) over the six multimodal benchmarks
after stage 2 (multimodal RL)."""

DEFAULT_STEPS = 30
"""Stage-2 steps per run (the paper's Fig. 3 covers about 30)."""
QUICK_STEPS = 8
"""Stage-2 steps per run with ``--quick``."""
DEFAULT_SEEDS = 3
def cold_start_settings() -> list[str]:
    """Hydra overrides of the cold start (stage 1) every arm starts from: the CPU main job's stage 1
    (``verl_ext/config/cpu_main_job.yaml``: one epoch of the synthetic SFT rows)."""
    from verl_ext.stages.pipeline import cpu_main_job_args

    return cpu_main_job_args()[1]


def stage2_settings(steps: int) -> list[str]:
    """Hydra overrides of stage 2 shared by every arm and seed: the CPU main job's stage 2
    (``verl_ext/config/cpu_main_job.yaml``: 8 prompts x 4 rollouts per step, one mini-batch of the whole
    batch, its learning rate) at ``steps`` steps, the entropy warm-up kept at the same share of the run,
    one checkpoint at the end and no in-training validation (the driver evaluates the merged models)."""
    from verl_ext.stages.pipeline import cpu_main_job_args, override_value

    main_job = cpu_main_job_args()[2]
    share = int(override_value(main_job, "algorithm.entropy_anneal.warmup_steps")) / int(
        override_value(main_job, "trainer.total_training_steps"))
    return [
        *main_job,
        f"trainer.total_training_steps={steps}",
        f"trainer.save_freq={steps}",
        f"algorithm.entropy_anneal.warmup_steps={round(share * steps)}",
        "trainer.test_freq=-1",
    ]


def seed_settings(seed: int) -> list[str]:
    """What a seed changes: the data order (``data.seed``, verl's shuffling sampler), the rollout's sampling
    seed (``actor_rollout_ref.rollout.seed``, vLLM's on a GPU) and PAD's draws (``algorithm.pad.seed``)."""
    return [f"data.seed={seed}", f"actor_rollout_ref.rollout.seed={seed}", f"algorithm.pad.seed={seed}"]


def arm_settings(arm: str) -> list[str]:
    """What an arm changes: the PAD variant, and the prompt scheduler for the ``+schedule`` arms."""
    variant, _, extra = arm.partition("+")
    return [f"algorithm.pad.variant={variant}"] + (["algorithm.schedule.enable=true"] if extra == "schedule" else [])
