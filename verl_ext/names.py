"""Names revisual registers in verl and keys it passes through verl's batches.

A leaf module (no imports), so the plugin, the trainer, the reward manager and the actor-side
patches can share these strings without importing each other.
"""

ESTIMATOR_NAME = "revisual_grpo"
"""``algorithm.adv_estimator`` of the stagnation-aware GRPO estimator."""

TRAINER_MODE = "revisual_sync"
"""``trainer.v1.trainer_mode`` of the PAD trainer."""

REWARD_MANAGER_NAME = "revisual"
"""``reward.reward_manager.name`` of the composite reward manager."""

ENTROPY_SCHEDULE_KEY = "revisual_entropy_schedule"
"""Batch meta key: the entropy schedule and the optimizer step an actor update starts at."""

ENTROPY_COEFF_KEY = "revisual_entropy_coeff"
"""Mini-batch meta key: the entropy coefficient of that optimizer step, read by the actor's loss."""

OPTIMIZER_STEP_KEY = "revisual_optimizer_step"
"""Mini-batch meta key: the 0-based optimizer step the mini-batch is trained at."""

ACTOR_TRACE_ENV = "REVISUAL_ACTOR_TRACE"
"""When set to a folder, each actor worker writes what it trained on there (one JSONL per process)."""

AT_LIMIT_KEY = "response_length/at_limit_frac"
"""Logged metric: the share of a step's responses that reached the response-length limit, where verl's
``response_length/clip_ratio`` (TransferQueue trainer) compares each response with the batch's longest."""
