"""Whether revisual's names and patches are in verl's registries in this process.

A leaf module: the plugin (which installs the registrations) and the trainer (which checks them at
start) both import it, and it imports neither of them.
"""

from __future__ import annotations

from verl_ext.names import ESTIMATOR_NAME, REWARD_MANAGER_NAME, TRAINER_MODE


def registration_report() -> dict[str, bool]:
    """Which of revisual's names and patches verl has in this process (imports the registries)."""
    from verl.experimental.reward_loop.reward_manager.registry import REWARD_MANAGER
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY
    from verl.trainer.ppo.v1.trainer_base import TRAINER_REGISTRY
    from verl.workers import engine_workers
    from verl.workers.rollout.replica import RolloutReplicaRegistry

    from verl_ext.algos.grpo import compute_revisual_grpo_advantage
    from verl_ext.patch_ppo_loss import is_patched
    from verl_ext.verl_fixes import fixes_applied

    return {
        f"adv_estimator:{ESTIMATOR_NAME}": ADV_ESTIMATOR_REGISTRY.get(ESTIMATOR_NAME) is compute_revisual_grpo_advantage,
        f"trainer:{TRAINER_MODE}": TRAINER_MODE in TRAINER_REGISTRY,
        f"reward_manager:{REWARD_MANAGER_NAME}": REWARD_MANAGER_NAME in REWARD_MANAGER,
        "rollout:hf": "hf" in RolloutReplicaRegistry._registry,
        "patch:actor_entropy_schedule": is_patched(engine_workers),
        **{f"fix:{name}": applied for name, applied in fixes_applied().items()},
    }


def assert_registered() -> None:
    """Raise with the missing names if verl did not load this plugin in this process."""
    missing = [name for name, ok in registration_report().items() if not ok]
    if missing:
        raise RuntimeError(
            f"revisual is not registered in verl in this process (missing: {', '.join(missing)}). "
            "Install the project (pip install -e .) or set VERL_USE_EXTERNAL_MODULES=verl_ext.plugin."
        )
