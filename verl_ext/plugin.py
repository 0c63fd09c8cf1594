"""verl plugin: registers revisual's pieces in verl's registries, in every process that imports verl.

Loaded two ways, both of which verl supports: the ``verl.plugins`` entry point (set up by
``pip install``), and ``VERL_USE_EXTERNAL_MODULES=verl_ext.plugin`` (set by our launcher, and
inherited by the Ray workers it starts).

Loading costs a plain verl job nothing measurable: this module imports no verl module. Each
registration and each patch runs when the verl module it touches is first imported (see
:mod:`verl_ext.import_hooks`), so a process that never imports, say, verl's engine workers never
pays for the entropy-loss patch, and verl's platform is not fixed during ``import verl`` (a
hardware plugin that registers after this one is still detected).

verl swallows entry-point errors, so the launcher and the trainer call
:func:`verl_ext.registration.assert_registered` rather than trusting that loading worked.
"""

from __future__ import annotations

from verl_ext.import_hooks import when_imported
from verl_ext.names import ESTIMATOR_NAME, REWARD_MANAGER_NAME, TRAINER_MODE
from verl_ext.registration import assert_registered, registration_report  # noqa: F401  (the public check)


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


_install_hooks()
