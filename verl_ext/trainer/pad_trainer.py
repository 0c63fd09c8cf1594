"""verl's V1 sync PPO trainer with PAD between the advantage and the actor update.

verl 0.9.1's estimator API cannot change the batch, and its replay-buffer hook runs *before*
advantages exist, so a sampler would have to re-derive them and, worse, the estimator would
re-normalise the surviving part of each group. This subclass keeps verl's step intact and
overrides two stages of it:

* ``_compute_advantage``: verl's own advantage on the full batch, then the PAD variant
  (:mod:`verl_ext.algos.selection`) picks the rows to train on, sized in whole, equal optimizer
  mini-batches; the picked rows keep their original advantages and old log-probs, and the pick is
  balanced across data-parallel ranks with verl's ``_balance_batch``;
* ``_update_actor``: the update runs on that pick (or is skipped, with a warning, when nothing is
  eligible; ``official`` then trains on the whole batch, as the released code does) with the pick's
  own mini-batch size, and carries the entropy schedule, which the actor
  worker applies per optimizer step (:mod:`verl_ext.patch_ppo_loss`); the full batch is still what
  the step's metrics and clean-up see.

Registered as trainer mode ``revisual_sync``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from typing import Optional

import torch
import transfer_queue as tq
from transfer_queue import KVBatchMeta
from verl.trainer.ppo.v1 import PPOTrainerSync, register_trainer

from reward_fns import summarize_reward_infos

from verl_ext.actor_trace import SCHEDULE_FILE, TRAINER_FILE, append_trace, trace_folder
from verl_ext.algos.entropy import annealed_entropy_coef
from verl_ext.algos.grpo import dense_group_ids, estimator_call
from verl_ext.algos.pad import UpdatePlan, pad_temperature
from verl_ext.algos.rows import sequence_fingerprints, sequence_means
from verl_ext.algos.selection import PADSelection, eligible_rows, group_outcomes, select_update_rows
from verl_ext.names import AT_LIMIT_KEY, ENTROPY_SCHEDULE_KEY, TRAINER_MODE
from verl_ext.registration import assert_registered
from verl_ext.settings import RevisualSettings, validate_revisual_config
from verl_ext.trainer.prompt_schedule import PromptScheduler

logger = logging.getLogger(__name__)
logger.setLevel(os.getenv("VERL_LOGGING_LEVEL", "INFO"))

STATE_FILE = "revisual_state.json"
POLL_INTERVAL_S = 0.25
INERT_WARNING_AFTER_STEPS = 5
"""Steps of ``variant=pad`` after which a draw that never prioritised is reported once."""


def _reward_info(extra_fields) -> dict:
    """The reward manager's per-sample extra info, as TransferQueue stores it inside ``extra_fields``."""
    info = getattr(extra_fields, "data", extra_fields)
    return dict(info.get("reward_extra_info", {})) if isinstance(info, dict) else {}


def _failed(info: dict) -> bool:
    return bool(info.get("reward_timeout") or info.get("reward_error"))


def _accuracies(infos: list[dict], key: str, required: bool) -> Optional[torch.Tensor]:
    if all(key in info for info in infos):
        return torch.tensor([float(info[key]) for info in infos], dtype=torch.float64)
    if required:
        found = sorted(infos[0]) if infos else []
        raise KeyError(
            f"algorithm.pad.filter_on=reward_std needs the reward manager to report {key!r} per sample "
            f"(found {found}); use reward.reward_manager.name=revisual or set algorithm.pad.accuracy_key"
        )
    return None


@contextlib.contextmanager
def _intercepted(owner, name: str, wrap):
    """Temporarily replace ``owner.name`` (an instance attribute such as a worker-group method)."""
    original = getattr(owner, name)
    setattr(owner, name, wrap(original))
    try:
        yield
    finally:
        setattr(owner, name, original)


@register_trainer(TRAINER_MODE)
class RevisualPPOTrainer(PPOTrainerSync):
    """Sync PPO + a PAD variant + the per-optimizer-step entropy schedule (state saved with each checkpoint)."""

    def __init__(self, config):
        self.revisual: RevisualSettings = validate_revisual_config(config)
        assert_registered()
        self.optimizer_steps = 0
        self.stagnation_totals = {"dropped_tokens": 0.0, "stagnant_tokens": 0.0}
        self._selection: Optional[KVBatchMeta] = None
        self._selection_plan: Optional[UpdatePlan] = None
        self._owned_keys: list[str] = []
        self._balancing_selection = False
        self._train_whole_batch = False
        self._trace_rows: dict[str, list] = {}
        self._prioritised_steps: list[bool] = []
        self._scheduler: Optional[PromptScheduler] = None
        super().__init__(config)

    def _build_replay_buffer(self):
        # verl branches on trainer_mode == "sync" in several places; this trainer is a sync trainer.
        self.trainer_mode = "sync"
        buffer = super()._build_replay_buffer()
        # verl polls its local KV store every 2 s; on small batches that poll dominates the step.
        buffer.poll_interval = min(buffer.poll_interval, POLL_INTERVAL_S)
        return buffer

    # ------------------------------------------------------- prompt scheduler
    def _prompt_scheduler(self) -> Optional[PromptScheduler]:
        """The scheduler when ``algorithm.schedule.enable`` (built on first use: it needs the dataset)."""
        if not self.revisual.schedule.enable:
            return None
        if self._scheduler is None:
            from verl.utils.dataset.rl_dataset import collate_fn

            self._scheduler = PromptScheduler(self.revisual.schedule, self.train_dataset, collate_fn,
                                              seed=self.revisual.pad.seed,
                                              rollouts_per_prompt=self.config.actor_rollout_ref.rollout.n)
        return self._scheduler

    def _next_train_batch(self, num_prompts: Optional[int] = None):
        scheduler = self._prompt_scheduler()
        if scheduler is None:
            return super()._next_train_batch(num_prompts)
        from verl.utils import tensordict_utils as tu

        def fetch_prompt_ids() -> list[int]:
            ids = self._fetch_one_gen_batch()["index"]
            return [int(i) for i in (ids.tolist() if hasattr(ids, "tolist") else list(ids))]

        positions = scheduler.next_batch(fetch_prompt_ids, num_prompts or self.config.data.train_batch_size,
                                         self.global_steps)
        batch = tu.get_tensordict(scheduler.build_batch(positions))
        tu.assign_non_tensor_data(batch, "global_steps", self.global_steps)
        append_trace({"step": self.global_steps, "prompts": [scheduler.prompt_at[p] for p in positions],
                      "skipped": scheduler.last_skipped}, SCHEDULE_FILE)
        return batch

    # ------------------------------------------------------------------ PAD
    def _mini_batch_rows(self) -> int:
        return self.config.actor_rollout_ref.actor.ppo_mini_batch_size * self.config.actor_rollout_ref.rollout.n

    def _actor_dp_size(self) -> int:
        group = self.actor_rollout_wg
        if "actor" not in group._dispatch_info:
            group._dispatch_info["actor"] = group._query_dispatch_info("actor")
        return max(group._dispatch_info["actor"]) + 1

    def _update_row_multiple(self) -> int:
        """Rows per optimizer step must split into equal shares per rank, and with fixed-size
        micro-batches into whole micro-batches per rank (verl asserts both)."""
        actor = self.config.actor_rollout_ref.actor
        micro = 1 if actor.use_dynamic_bsz else int(actor.get("ppo_micro_batch_size_per_gpu") or 1)
        return self._actor_dp_size() * micro

    def _compute_advantage(self, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        self._selection, self._selection_plan, self._owned_keys = None, None, []
        self._train_whole_batch, self._trace_rows = False, {}
        pad = self.revisual.pad
        padding = [bool(tag.get("is_padding", False)) for tag in batch.tags]
        real = [i for i, is_padding in enumerate(padding) if not is_padding]
        scored = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=["extra_fields"])
        all_infos = [_reward_info(x) for x in scored["extra_fields"]]
        # verl's padding rows copy a real row's fields; they are no-ops and never count as failures.
        failed_all = torch.tensor([_failed(info) and not pad_row for info, pad_row in zip(all_infos, padding)],
                                  dtype=torch.bool)
        # The estimator leaves failed samples out of their group's statistics (verl_ext.algos.grpo).
        with estimator_call(failed_all) as call:
            batch = super()._compute_advantage(batch, metrics)
        if trace_folder() is not None and call.seq_advantages is not None:
            # What the estimator computed, before verl stored it: the reference the actor's rows must match.
            self._trace_rows["advantages"] = [[call.uids[i], round(float(call.seq_advantages[i]), 6)] for i in real]
            self._trace_rows["batch_padding_rows"] = len(padding) - len(real)
        real_keys = [batch.keys[i] for i in real]
        data = tq.kv_batch_get(keys=real_keys, partition_id=batch.partition_id,
                               select_fields=["advantages", "response_mask", "uid"])
        infos = [all_infos[i] for i in real]
        # verl logs reward_extra_info only in validation; the per-term training metrics come from here.
        metrics.update(summarize_reward_infos(infos))
        failed = failed_all[real]
        self._abort_if_scoring_failed(failed)
        mask = data["response_mask"]
        seq_adv = sequence_means(data["advantages"], mask)
        tokens = torch.tensor([float(m.sum()) for m in (mask.unbind() if mask.is_nested else mask)])
        uids = data["uid"].tolist() if hasattr(data["uid"], "tolist") else list(data["uid"])
        group = dense_group_ids(uids)
        accuracy = _accuracies(infos, pad.accuracy_key, required=pad.filter_on == "reward_std")
        eligible = eligible_rows(pad, seq_adv, accuracy, group, failed)
        self._log_stagnation(metrics, eligible, accuracy, group, failed, tokens, seq_adv)
        # verl's TransferQueue trainer pads responses to the longest of the batch before its metrics, so its
        # response_length/clip_ratio counts the rows as long as the longest one (1.0 when all have the same
        # length), not the rows cut at the limit. This is the share that reached the limit.
        limit = self.config.actor_rollout_ref.rollout.response_length
        metrics[AT_LIMIT_KEY] = float((tokens >= limit).float().mean()) if tokens.numel() else 0.0
        if self._prompt_scheduler() is not None:
            metrics.update(self._scheduler.observe([str(u) for u in uids], accuracy, failed, tokens, self.global_steps))
        if not pad.enabled:
            return batch

        tau = self._tau()
        generator = torch.Generator().manual_seed(pad.seed * 1_000_003 + self.global_steps)
        selection = select_update_rows(
            pad, seq_adv, eligible, failed, tau=tau if tau is not None else 1.0,
            mini_batch=self._mini_batch_rows(), row_multiple=self._update_row_multiple(), generator=generator,
        )
        self._log_selection(metrics, selection, tau, seq_adv, tokens, eligible)
        if selection.indices.numel() == 0:
            self._on_empty_selection(selection, metrics)
            return batch
        picked = selection.indices.tolist()
        if trace_folder() is not None:
            # The rows the draw meant, by content, before they are copied and balanced in the transfer queue.
            self._trace_rows["intended"] = [[str(uids[i]), round(float(seq_adv[i]), 6)] for i in picked]
        self._selection = self._materialise(batch, [real[i] for i in picked], metrics)
        self._selection_plan = selection.plan
        return batch

    def _on_empty_selection(self, selection: PADSelection, metrics: dict) -> None:
        if self.revisual.pad.variant == "official":
            # The released code trains on the original batch when its band keeps nothing.
            self._train_whole_batch = True
            metrics["pad/trained_whole_batch"] = 1.0
            logger.warning("step %d: the official band kept no sequence; training on the whole batch as the "
                           "released code does", self.global_steps)
        elif selection.num_eligible == 0:
            logger.warning("step %d: PAD kept no sequence (every group stagnant); skipping the actor update",
                           self.global_steps)
        else:
            logger.warning("step %d: PAD kept no sequence: %d eligible rows are too few for one micro-batch per "
                           "rank (%d rows) without training a row more than twice; skipping the actor update",
                           self.global_steps, selection.num_eligible, self._update_row_multiple())

    def _tau(self) -> Optional[float]:
        pad = self.revisual.pad
        if pad.priority != "softmax":
            return None
        # Step 1 uses tau_start and the last step tau_end.
        return pad_temperature(self.global_steps - 1, max(self.total_training_steps - 1, 0), pad.tau_start, pad.tau_end)

    def _abort_if_scoring_failed(self, failed: torch.Tensor) -> None:
        share = float(failed.float().mean()) if failed.numel() else 0.0
        limit = self.revisual.abort_failed_frac
        if share > limit:
            raise RuntimeError(
                f"step {self.global_steps}: scoring failed (timeout or error) for {int(failed.sum())} of "
                f"{failed.numel()} samples ({share:.0%}), more than reward.abort_failed_frac={limit}; the reward "
                "function is broken or too slow for reward.score_timeout_s. The worker logs name the failures."
            )

    def _log_stagnation(self, metrics, eligible, accuracy, group, failed, tokens, seq_adv) -> None:
        outcomes = group_outcomes(eligible, accuracy, group, failed)
        groups = max(outcomes.groups, 1)
        metrics["stagnation/zero_var_group_frac"] = outcomes.no_signal / groups
        metrics["stagnation/all_correct_group_frac"] = outcomes.all_correct / groups
        metrics["stagnation/all_wrong_group_frac"] = outcomes.all_wrong / groups
        metrics["stagnation/effective_token_frac"] = float(tokens[eligible].sum() / tokens.sum().clamp_min(1))
        stagnant_tokens = float(tokens[~eligible].sum())
        self.stagnation_totals["stagnant_tokens"] += stagnant_tokens
        metrics["stagnation/stagnant_tokens"] = stagnant_tokens
        metrics["stagnation/stagnant_tokens_cum"] = self.stagnation_totals["stagnant_tokens"]
        metrics["pad/num_failed_scoring"] = int(failed.sum())
        metrics["pad/adv_abs_mean_before"] = float(seq_adv.abs().mean()) if seq_adv.numel() else 0.0
        if not self.revisual.pad.enabled:
            metrics["stagnation/dropped_tokens"] = 0.0
            metrics["stagnation/dropped_tokens_cum"] = self.stagnation_totals["dropped_tokens"]

    def _log_selection(self, metrics, selection: PADSelection, tau, seq_adv, tokens, eligible) -> None:
        picked = selection.indices
        trained = torch.zeros(seq_adv.numel(), dtype=torch.bool)
        trained[picked] = True
        dropped = float(tokens[~trained].sum())
        self.stagnation_totals["dropped_tokens"] += dropped
        metrics["stagnation/dropped_tokens"] = dropped
        metrics["stagnation/dropped_tokens_cum"] = self.stagnation_totals["dropped_tokens"]
        metrics["pad/num_effective"] = selection.num_eligible
        metrics["pad/effective_frac"] = selection.num_eligible / max(seq_adv.numel(), 1)
        metrics["pad/draw_size"] = selection.draw_size
        metrics["pad/num_selected"] = int(picked.numel())
        metrics["pad/num_unique_selected"] = int(torch.unique(picked).numel())
        metrics["pad/repeated_rows"] = selection.repeated_rows
        metrics["pad/update_steps"] = selection.plan.steps
        metrics["pad/step_size"] = selection.plan.step_size
        metrics["pad/prioritised"] = float(selection.prioritised)
        metrics["pad/adv_abs_mean_after"] = float(seq_adv[picked].abs().mean()) if picked.numel() else 0.0
        if tau is not None:
            metrics["pad/tau"] = tau
        if self.revisual.pad.variant == "pad":
            self._warn_if_inert(selection, seq_adv.numel())

    def _warn_if_inert(self, selection: PADSelection, num_rows: int) -> None:
        self._prioritised_steps.append(selection.prioritised)
        if len(self._prioritised_steps) == INERT_WARNING_AFTER_STEPS and not any(self._prioritised_steps):
            logger.warning(
                "PAD's draw took every eligible sequence on each of the first %d steps (last step: |E|/N = %d/%d), "
                "so the |A| priority and tau changed nothing: lower algorithm.pad.ratio below |E|/N (now %s) "
                "for a prioritised draw, or use algorithm.pad.variant=filter if that is what you want",
                INERT_WARNING_AFTER_STEPS, selection.num_eligible, num_rows, self.revisual.pad.ratio,
            )

    def _materialise(self, batch: KVBatchMeta, positions: list[int], metrics: dict) -> KVBatchMeta:
        """The selection as a batch: repeats copied under fresh keys, balanced over the DP ranks."""
        keys, tags, seen = [], [], {}
        copies_from, copies_to, copy_tags = [], [], []
        for pos in positions:
            key, tag = batch.keys[pos], dict(batch.tags[pos])
            count = seen.get(key, 0)
            seen[key] = count + 1
            if count:
                # TransferQueue keys are unique; a repeated draw becomes a copy under a new key.
                copies_from.append(key)
                copies_to.append(f"{key}_pad{count}")
                copy_tags.append(tag)
                key = copies_to[-1]
            keys.append(key)
            tags.append(tag)
        if copies_from:
            records = tq.kv_batch_get(keys=copies_from, partition_id=batch.partition_id)
            tq.kv_batch_put(keys=copies_to, partition_id=batch.partition_id, fields=records, tags=copy_tags)
        self._owned_keys = copies_to
        selected = KVBatchMeta(keys=keys, tags=tags, partition_id=batch.partition_id, extra_info=dict(batch.extra_info))
        # The plan already makes the size a multiple of the DP size, so verl's balancer adds no padding.
        self._balancing_selection = True
        try:
            return self._balance_batch(selected, metrics=metrics, logging_prefix="pad_seqlen")
        finally:
            self._balancing_selection = False

    def _get_required_batch_multiple(self, dp_size: int) -> int:
        if self._balancing_selection:
            return dp_size
        return super()._get_required_batch_multiple(dp_size)

    # ------------------------------------------------------------- actor update
    def _update_actor(self, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        pad = self.revisual.pad
        target = self._update_target(batch)
        if target is None:
            metrics["pad/skipped_update"] = 1.0
            return batch
        epochs = self.config.actor_rollout_ref.actor.ppo_epochs
        if self._selection_plan is not None:
            plan = self._selection_plan
        else:
            plan = UpdatePlan(max(1, len(target) // self._mini_batch_rows()), self._mini_batch_rows())
        steps = plan.steps * epochs
        self._attach_entropy_schedule(target, steps, metrics)
        self._trace_update(target, plan)
        try:
            with _intercepted(self.actor_rollout_wg, "update_actor", self._with_mini_batch(plan.step_size)):
                super()._update_actor(target, metrics)
        finally:
            if self._owned_keys:
                tq.kv_clear(keys=self._owned_keys, partition_id=target.partition_id)
                self._owned_keys = []
        self.optimizer_steps += steps
        metrics["actor/optimizer_steps"] = self.optimizer_steps
        metrics["actor/update_mini_batches"] = steps
        padding = sum(1 for tag in target.tags if tag.get("is_padding", False))
        # verl sorts each rank's rows, so its padding rows end up in the last mini-batch.
        metrics["actor/min_real_mini_batch"] = plan.step_size - padding
        if pad.enabled:
            metrics["pad/skipped_update"] = 0.0
        return batch

    def _update_target(self, batch: KVBatchMeta) -> Optional[KVBatchMeta]:
        """What the actor update trains on: the selection, the whole batch (``grpo``, or ``official`` with
        nothing eligible), or nothing (the update is skipped)."""
        if not self.revisual.pad.enabled or self._train_whole_batch:
            return batch
        return self._selection

    @staticmethod
    def _with_mini_batch(step_size: int):
        """Send the plan's mini-batch size with the update, in place of the configured one."""

        def wrap(update_actor):
            def update(batch, *args, **kwargs):
                batch.extra_info.update({"mini_batch_size": step_size, "global_batch_size": step_size})
                return update_actor(batch, *args, **kwargs)

            return update

        return wrap

    def _attach_entropy_schedule(self, target: KVBatchMeta, steps: int, metrics: dict) -> None:
        anneal = self.revisual.entropy_anneal
        if not anneal.enable:
            target.extra_info.pop(ENTROPY_SCHEDULE_KEY, None)
            return
        schedule = {"update": self.global_steps, "base_step": self.optimizer_steps, "init": anneal.init,
                    "decay": anneal.decay, "floor": anneal.floor, "warmup_steps": anneal.warmup_steps}
        target.extra_info[ENTROPY_SCHEDULE_KEY] = schedule

        def coeff(step):
            return annealed_entropy_coef(step, init=anneal.init, decay=anneal.decay, floor=anneal.floor,
                                         warmup_steps=anneal.warmup_steps)

        metrics["actor/entropy_coeff"] = coeff(self.optimizer_steps)
        metrics["actor/entropy_coeff_last"] = coeff(self.optimizer_steps + steps - 1)

    def _trace_update(self, target: KVBatchMeta, plan: UpdatePlan) -> None:
        if trace_folder() is None:
            return  # the selected rows are fetched from the transfer queue only for the trace
        data = tq.kv_batch_get(keys=target.keys, partition_id=target.partition_id,
                               select_fields=["uid", "advantages", "old_log_probs", "response_mask"])
        record = {"kind": "update", "update": self.global_steps, "variant": self.revisual.pad.variant,
                  "plan": [plan.steps, plan.step_size], "base_step": self.optimizer_steps,
                  "padding": [bool(tag.get("is_padding", False)) for tag in target.tags],
                  "rows": sequence_fingerprints(data["uid"], data["advantages"], data["old_log_probs"],
                                                data["response_mask"]),
                  **self._trace_rows}
        append_trace(record, TRAINER_FILE)

    # -------------------------------------------------------------- checkpoints
    def _step_folder(self) -> str:
        root = self.config.trainer.default_local_dir
        if not os.path.isabs(root):
            root = os.path.join(os.getcwd(), root)
        return os.path.join(root, f"global_step_{self.global_steps}")

    def _save_checkpoint(self):
        # Written before verl's tracker file, which verl writes last: a checkpoint that the tracker
        # names always has its schedule state.
        folder = self._step_folder()
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, STATE_FILE + ".tmp")
        with open(tmp, "w") as f:
            state = {"optimizer_steps": self.optimizer_steps, "global_steps": self.global_steps,
                     "stagnation_totals": self.stagnation_totals}
            if self._scheduler is not None:
                state["schedule"] = self._scheduler.state()
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(folder, STATE_FILE))
        super()._save_checkpoint()

    def _load_checkpoint(self):
        loaded: list[str] = []

        def record(load_checkpoint):
            def load(local_path, *args, **kwargs):
                loaded.append(local_path)
                return load_checkpoint(local_path, *args, **kwargs)

            return load

        # Read the schedule state from the folder verl actually loaded, whatever the resume mode.
        with _intercepted(self.actor_rollout_wg, "load_checkpoint", record):
            super()._load_checkpoint()
        if not loaded:
            return
        path = os.path.join(os.path.dirname(os.path.normpath(loaded[-1])), STATE_FILE)
        if not os.path.exists(path):
            logger.warning("checkpoint %s has no %s; the entropy schedule restarts", os.path.dirname(path), STATE_FILE)
            return
        with open(path) as f:
            state = json.load(f)
        self.optimizer_steps = int(state["optimizer_steps"])
        self.stagnation_totals.update(state.get("stagnation_totals", {}))
        if "schedule" in state and self._prompt_scheduler() is not None:
            self._scheduler.load(state["schedule"])
        logger.info("restored revisual state from %s: optimizer_steps=%d", path, self.optimizer_steps)
