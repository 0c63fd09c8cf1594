"""verl plugin: registers revisual's pieces in verl's registries, in every process that imports verl.

Loaded two ways, both of which verl supports: the ``verl.plugins`` entry point (set up by
``pip install``), and ``VERL_USE_EXTERNAL_MODULES=verl_ext.plugin`` (set by our launcher, and
inherited by the Ray workers it starts).

Loading costs a plain verl job nothing measurable: this module imports no verl module. Each
registration and each patch runs when the verl module it touches is first imported (see
:mod:`verl_ext.import_hooks`), so a process that never imports, say, verl's engine workers never
pays for the entropy-loss patch, and verl's platform is not fixed during ``import verl`` (a
hardware plugin that registers after this one is still detected).

verl swallows entry-point errors, so the launcher and the trainer call :func:`assert_registered`
rather than trusting that loading worked.
"""

from __future__ import annotations

from verl_ext.import_hooks import when_imported
from verl_ext.names import ESTIMATOR_NAME, REWARD_MANAGER_NAME, TRAINER_MODE


def _register_estimator(core_algos) -> None:
    from verl_ext.algos.grpo import compute_revisual_grpo_advantage

    if core_algos.ADV_ESTIMATOR_REGISTRY.get(ESTIMATOR_NAME) is not compute_revisual_grpo_advantage:
        core_algos.register_adv_est(ESTIMATOR_NAME)(compute_revisual_grpo_advantage)


def _register_trainer(_v1) -> None:
    import verl_ext.trainer.pad_trainer  # noqa: F401  (its class decorator registers the trainer mode)


def _register_reward_manager(_package) -> None:
    import verl_ext.reward_manager  # noqa: F401  (registers at import)


def _patch_actor_worker(engine_workers) -> None:
    from verl_ext.patch_ppo_loss import patch_engine_workers

    patch_engine_workers(engine_workers)


def _install_hooks() -> None:
    from verl_ext import cpu, verl_fixes

    when_imported("verl.trainer.ppo.core_algos", _register_estimator)
    when_imported("verl.trainer.ppo.v1", _register_trainer)
    when_imported("verl.experimental.reward_loop.reward_manager", _register_reward_manager)
    when_imported("verl.workers.engine_workers", _patch_actor_worker)
    verl_fixes.install_hooks(when_imported)
    cpu.install_hooks(when_imported)


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


_install_hooks()
