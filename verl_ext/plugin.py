"""verl plugin: registers revisual's pieces in verl's registries, in every process that imports verl.

Loaded two ways, both of which verl supports: the ``verl.plugins`` entry point (set up by
``pip install``), and ``VERL_USE_EXTERNAL_MODULES=verl_ext.plugin`` (set by our launcher, and
inherited by the Ray workers it starts). verl swallows entry-point errors, so the launcher and the
trainer call :func:`assert_registered` rather than trusting that loading worked.
"""

from __future__ import annotations

# The CPU platform must exist before any verl module asks for the current platform at import time.
import verl_ext.cpu.platform  # noqa: F401,I001
from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY, register_adv_est

from verl_ext.algos.grpo import compute_revisual_grpo_advantage
from verl_ext.cpu import enable_cpu_support

ESTIMATOR_NAME = "revisual_grpo"
TRAINER_MODE = "revisual_sync"
REWARD_MANAGER_NAME = "revisual"


def register_all() -> None:
    """Idempotent: safe to call from the entry point, the plugin import and tests."""
    if ADV_ESTIMATOR_REGISTRY.get(ESTIMATOR_NAME) is not compute_revisual_grpo_advantage:
        register_adv_est(ESTIMATOR_NAME)(compute_revisual_grpo_advantage)
    import verl_ext.trainer.pad_trainer  # noqa: F401  (registers the trainer mode)
    from verl_ext.losses import install_scheduled_entropy_loss

    install_scheduled_entropy_loss()
    try:
        import verl_ext.reward_manager  # noqa: F401  (registers the reward manager)
    except ModuleNotFoundError as err:
        if err.name != "verl_ext.reward_manager":
            raise
    enable_cpu_support()
    from verl_ext.verl_fixes import apply_verl_fixes

    apply_verl_fixes()


def registration_report() -> dict[str, bool]:
    """Which of revisual's names verl can resolve in this process."""
    from verl.experimental.reward_loop.reward_manager.registry import REWARD_MANAGER
    from verl.trainer.ppo.v1.trainer_base import TRAINER_REGISTRY

    return {
        f"adv_estimator:{ESTIMATOR_NAME}": ADV_ESTIMATOR_REGISTRY.get(ESTIMATOR_NAME) is compute_revisual_grpo_advantage,
        f"trainer:{TRAINER_MODE}": TRAINER_MODE in TRAINER_REGISTRY,
        f"reward_manager:{REWARD_MANAGER_NAME}": REWARD_MANAGER_NAME in REWARD_MANAGER,
    }


def assert_registered() -> None:
    """Raise with the missing names if verl did not load this plugin in this process."""
    missing = [name for name, ok in registration_report().items() if not ok]
    if missing:
        raise RuntimeError(
            f"revisual is not registered in verl in this process (missing: {', '.join(missing)}). "
            "Install the project (pip install -e .) or set VERL_USE_EXTERNAL_MODULES=verl_ext.plugin."
        )


register_all()
