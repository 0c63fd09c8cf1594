"""Patches verl's actor worker so the entropy bonus follows revisual's schedule, one value per optimizer step.

verl's actor reads one fixed ``actor.entropy_coeff``. ReVisual-R1 anneals the coefficient per
optimizer step. The trainer sends the schedule and the optimizer step the update starts at
(:data:`~verl_ext.names.ENTROPY_SCHEDULE_KEY`); inside the actor worker process:

* ``TrainingWorker.train_batch`` runs once per mini-batch, and each mini-batch is one optimizer
  step. The wrapper counts the mini-batches of the current update, computes that step's
  coefficient and attaches it (and the step index) to the mini-batch;
* verl's ``ppo_loss``, wrapped, sets that coefficient on the actor config before verl computes the
  loss of each micro-batch, then hands over to verl's loss unchanged.

With ``REVISUAL_ACTOR_TRACE=<folder>`` each worker also appends, per optimizer step, the rows it
trained on and, per micro-batch, the coefficient its loss used and how far the model's log-probs are
from the old ones it was given (:mod:`verl_ext.actor_trace`): a record of what the worker did, for
debugging and for tests that must observe the worker itself.
"""

from __future__ import annotations

import functools

from verl_ext.actor_trace import append_trace, trace_folder
from verl_ext.algos.entropy import annealed_entropy_coef
from verl_ext.names import ENTROPY_COEFF_KEY, ENTROPY_SCHEDULE_KEY, OPTIMIZER_STEP_KEY

_STEP_COUNTER_ATTR = "_revisual_update_steps"


def _non_tensor(data, key):
    from verl.utils import tensordict_utils as tu

    return tu.get_non_tensor_data(data, key, None)


def _rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def row_fingerprints(data) -> list[list]:
    """``[uid, sequence advantage, sum of old log-probs]`` per row: enough to tell every sequence apart."""
    from verl_ext.algos.rows import sequence_fingerprints

    return sequence_fingerprints(
        data["uid"], data["advantages"], data["old_log_probs"], data["response_mask"]
    )


def old_log_prob_gap(model_output, data) -> float:
    """Largest |log-prob now - old log-prob| / max(1, |old log-prob|) over this micro-batch's response tokens.

    On an update's first optimizer step the weights are still the ones the old log-probs were computed
    with, so this is an independent recomputation of them: it is at the level of the actor's rounding
    (relative, since bfloat16 rounds a log-prob of -6 to 2^-5) unless rows were paired with another row's
    old log-probs on the way to the actor."""
    import torch
    from verl.workers.utils.padding import no_padding_2_padding

    with torch.no_grad():
        log_prob = no_padding_2_padding(model_output["log_probs"], data).double()
        fields = data.select("response_mask", "old_log_probs").to_padded_tensor()
        mask = fields["response_mask"].to(torch.bool)
        old = fields["old_log_probs"].double()
        gap = (log_prob - old).abs() / old.abs().clamp_min(1.0)
        return float(gap[mask].max()) if mask.any() else 0.0


def _train_batch_with_scheduled_entropy(train_batch):
    @functools.wraps(train_batch)
    def wrapper(self, data, *args, **kwargs):
        schedule = _non_tensor(data, ENTROPY_SCHEDULE_KEY)
        if schedule is not None:
            from verl.utils import tensordict_utils as tu

            update, done = getattr(self, _STEP_COUNTER_ATTR, (None, 0))
            done = done if update == schedule["update"] else 0
            step = int(schedule["base_step"]) + done
            coeff = annealed_entropy_coef(
                step,
                init=schedule["init"],
                decay=schedule["decay"],
                floor=schedule["floor"],
                warmup_steps=schedule["warmup_steps"],
            )
            setattr(self, _STEP_COUNTER_ATTR, (schedule["update"], done + 1))
            tu.assign_non_tensor(data, **{ENTROPY_COEFF_KEY: coeff, OPTIMIZER_STEP_KEY: step})
            if trace_folder():
                append_trace(
                    {"kind": "step", "rank": _rank(), "update": schedule["update"], "optimizer_step": step,
                     "entropy_coeff": coeff, "rows": row_fingerprints(data)}
                )
        return train_batch(self, data, *args, **kwargs)

    wrapper.__revisual_patched__ = True
    return wrapper


def _ppo_loss_with_scheduled_entropy(ppo_loss):
    @functools.wraps(ppo_loss)
    def wrapper(config, model_output, data, dp_group=None):
        coeff = _non_tensor(data, ENTROPY_COEFF_KEY)
        if coeff is not None:
            # ActorConfig fields are frozen after construction; the schedule is the one owner of this one.
            object.__setattr__(config, "entropy_coeff", float(coeff))
            if trace_folder():
                append_trace(
                    {"kind": "loss", "rank": _rank(), "optimizer_step": _non_tensor(data, OPTIMIZER_STEP_KEY),
                     "entropy_coeff": config.entropy_coeff, "old_log_prob_gap": old_log_prob_gap(model_output, data)}
                )
        return ppo_loss(config, model_output, data, dp_group)

    wrapper.__revisual_patched__ = True
    return wrapper


def patch_engine_workers(engine_workers) -> None:
    """Wrap the actor's per-mini-batch step and the loss it binds by name when it builds the actor."""
    if not is_patched(engine_workers):
        worker = engine_workers.TrainingWorker
        worker.train_batch = _train_batch_with_scheduled_entropy(worker.train_batch)
        engine_workers.ppo_loss = _ppo_loss_with_scheduled_entropy(engine_workers.ppo_loss)


def is_patched(engine_workers) -> bool:
    return bool(
        getattr(engine_workers.ppo_loss, "__revisual_patched__", False)
        and getattr(engine_workers.TrainingWorker.train_batch, "__revisual_patched__", False)
    )
