"""Actor-side hook for the annealed entropy bonus.

verl's actor reads a fixed ``entropy_coeff`` from its config. The trainer computes the scheduled
coefficient and sends it with each update batch; this wrapper around verl's ``ppo_loss`` applies
it inside the actor worker, then hands over to verl's loss unchanged.
"""

from __future__ import annotations

import functools

from verl.utils import tensordict_utils as tu
from verl.workers.utils import losses as verl_losses

from verl_ext.trainer.pad_trainer import ENTROPY_COEFF_KEY


@functools.wraps(verl_losses.ppo_loss)
def ppo_loss_with_scheduled_entropy(config, model_output, data, dp_group=None):
    coeff = tu.get_non_tensor_data(data, ENTROPY_COEFF_KEY, None)
    if coeff is not None:
        # ActorConfig fields are frozen after construction; the schedule is the one owner of this one.
        object.__setattr__(config, "entropy_coeff", float(coeff))
    return verl_losses.ppo_loss(config, model_output, data, dp_group)


def install_scheduled_entropy_loss() -> None:
    """Point verl's engine worker at the wrapper; it binds ``ppo_loss`` by name when it builds the actor."""
    from verl.workers import engine_workers

    if engine_workers.ppo_loss is not ppo_loss_with_scheduled_entropy:
        engine_workers.ppo_loss = ppo_loss_with_scheduled_entropy
