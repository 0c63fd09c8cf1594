"""verl's V1 sync PPO trainer with PAD between the advantage and the actor update.

verl 0.9.1's estimator API cannot change the batch, and its replay-buffer hook runs *before*
advantages exist, so a sampler would have to re-derive them and, worse, the estimator would
re-normalise the surviving part of each group. This subclass keeps verl's step intact and
overrides two stages of it:

* ``_compute_advantage``: verl's own advantage on the full batch, then PAD selects sequences from
  it (the selected ones keep their original advantages) and re-balances the selection across
  data-parallel ranks with verl's ``_balance_batch``;
* ``_update_actor``: the update runs on the PAD batch (or is skipped, with a warning, when PAD
  keeps nothing); the full batch is still what the step's metrics and clean-up see.

Registered as trainer mode ``revisual_sync``.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Optional

import torch
import transfer_queue as tq
from tensordict import TensorDict
from transfer_queue import KVBatchMeta
from verl.trainer.ppo.v1 import PPOTrainerSync, register_trainer

from reward_fns import summarize_reward_infos

from verl_ext.algos.entropy import annealed_entropy_coef
from verl_ext.algos.grpo import compute_group_stats, dense_group_ids
from verl_ext.algos.pad import effective_mask, nonzero_spread_mask, pad_temperature, select_pad_indices
from verl_ext.settings import RevisualAlgorithmConfig, validate_revisual_config

logger = logging.getLogger(__name__)
logger.setLevel(os.getenv("VERL_LOGGING_LEVEL", "INFO"))

STATE_FILE = "revisual_state.json"
POLL_INTERVAL_S = 0.25
ENTROPY_COEFF_KEY = "revisual_entropy_coeff"
# Per-token fields that a padding sample copies from its template; they must match its 1-token response.
_PER_TOKEN_FIELDS = ("advantages", "returns", "old_log_probs", "ref_log_prob", "entropy", "values", "rollout_is_weights")


def sequence_advantages(advantages: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """Masked mean of token advantages per sequence; for GRPO it is the group-normalised scalar."""
    mask = response_mask.to(advantages.dtype)
    return (advantages * mask).sum(-1) / mask.sum(-1).clamp_min(1)


def _reward_info(extra_fields) -> dict:
    """The reward manager's per-sample extra info, as TransferQueue stores it inside ``extra_fields``."""
    info = getattr(extra_fields, "data", extra_fields)
    return dict(info.get("reward_extra_info", {})) if isinstance(info, dict) else {}


def _accuracy_of(reward_info: dict, key: str) -> float:
    if key not in reward_info:
        raise KeyError(
            f"algorithm.pad.filter_on=reward_std needs the reward manager to report {key!r} per sample "
            f"(found {sorted(reward_info)}); use reward.reward_manager.name=revisual or set algorithm.pad.accuracy_key"
        )
    return float(reward_info[key])


@register_trainer("revisual_sync")
class RevisualPPOTrainer(PPOTrainerSync):
    """Sync PPO + PAD + annealed entropy bonus (state saved with each checkpoint)."""

    def _build_replay_buffer(self):
        # verl branches on trainer_mode == "sync" in several places; this trainer is a sync trainer.
        self.trainer_mode = "sync"
        self.revisual: RevisualAlgorithmConfig = validate_revisual_config(self.config)
        self.optimizer_steps = 0
        self._pad_batch: Optional[KVBatchMeta] = None
        self._pad_owned_keys: list[str] = []
        from verl_ext.plugin import assert_registered

        assert_registered()
        buffer = super()._build_replay_buffer()
        # verl polls its local KV store every 2 s; on small batches that poll dominates the step.
        buffer.poll_interval = min(buffer.poll_interval, POLL_INTERVAL_S)
        return buffer

    # ------------------------------------------------------------------ PAD
    def _compute_advantage(self, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        batch = super()._compute_advantage(batch, metrics)
        self._pad_batch = None
        self._pad_owned_keys = []
        real = [i for i, tag in enumerate(batch.tags) if not tag.get("is_padding", False)]
        real_keys = [batch.keys[i] for i in real]
        pad_cfg = self.revisual.pad
        fields = ["advantages", "response_mask", "rm_scores", "uid", "extra_fields"]
        data = tq.kv_batch_get(keys=real_keys, partition_id=batch.partition_id, select_fields=fields)
        reward_infos = [_reward_info(x) for x in data["extra_fields"]]
        # verl logs reward_extra_info only in validation; the per-term training metrics come from here.
        metrics.update(summarize_reward_infos(reward_infos))
        response_mask = data["response_mask"].to_padded_tensor(padding=0)
        seq_adv = sequence_advantages(data["advantages"].to_padded_tensor(padding=0.0), response_mask)
        scores = data["rm_scores"].to_padded_tensor(padding=0.0).sum(-1)
        uids = data["uid"]
        group = dense_group_ids(uids.tolist() if hasattr(uids, "tolist") else list(uids))
        stats = compute_group_stats(scores, group)
        tokens = response_mask.sum(-1).to(torch.float32)
        informative = seq_adv.abs() > 1e-6
        num_groups = int(group.max().item()) + 1 if group.numel() else 0
        stagnant_groups = torch.zeros(num_groups, dtype=torch.bool).index_put_((group,), stats.stagnant)
        metrics["stagnation/zero_var_group_frac"] = float(stagnant_groups.float().mean()) if num_groups else 0.0
        metrics["stagnation/effective_token_frac"] = float(tokens[informative].sum() / tokens.sum().clamp_min(1))
        metrics["pad/adv_abs_mean_before"] = float(seq_adv.abs().mean()) if seq_adv.numel() else 0.0
        if not pad_cfg.enable:
            return batch

        eligible = None
        low, high = pad_cfg.low, pad_cfg.high
        if pad_cfg.filter_on == "reward_std":
            accuracy = torch.tensor([_accuracy_of(info, pad_cfg.accuracy_key) for info in reward_infos])
            eligible = nonzero_spread_mask(accuracy, group)
            low, high = 0.0, None
        strict = pad_cfg.strict_band and eligible is None
        tau = pad_temperature(self.global_steps - 1, self.total_training_steps, pad_cfg.tau_start, pad_cfg.tau_end)
        generator = torch.Generator().manual_seed(pad_cfg.seed * 1_000_003 + self.global_steps)
        picked = select_pad_indices(
            seq_adv,
            low=low,
            high=high,
            ratio=pad_cfg.ratio,
            priority=pad_cfg.priority,
            tau=tau,
            alpha=pad_cfg.alpha,
            replacement=pad_cfg.replacement,
            generator=generator,
            strict_band=strict,
            eligible=eligible,
        )
        band = effective_mask(seq_adv, low=low, high=high, strict_band=strict)
        num_effective = int((band & eligible).sum() if eligible is not None else band.sum())
        metrics["pad/tau"] = tau
        metrics["pad/num_effective"] = num_effective
        metrics["pad/num_selected"] = int(picked.numel())
        metrics["pad/num_unique_selected"] = int(torch.unique(picked).numel())
        metrics["pad/adv_abs_mean_after"] = float(seq_adv[picked].abs().mean()) if picked.numel() else 0.0
        if picked.numel() == 0:
            logger.warning(
                "step %d: PAD kept no sequence (every group stagnant); skipping the actor update", self.global_steps
            )
            return batch
        self._pad_batch = self._materialise_selection(batch, [real[i] for i in picked.tolist()], metrics)
        return batch

    def _materialise_selection(self, batch: KVBatchMeta, positions: list[int], metrics: dict) -> KVBatchMeta:
        """Build the PAD batch: selected keys, fresh copies for repeats, padded and balanced over DP ranks."""
        keys, tags, repeats = [], [], {}
        copies_from, copies_to, copy_tags = [], [], []
        for pos in positions:
            key = batch.keys[pos]
            count = repeats.get(key, 0)
            repeats[key] = count + 1
            if count == 0:
                keys.append(key)
            else:
                # TransferQueue keys are unique; a repeated draw becomes a copy under a new key.
                new_key = f"{key}_pad{count}"
                copies_from.append(key)
                copies_to.append(new_key)
                copy_tags.append(dict(batch.tags[pos]))
                keys.append(new_key)
            tags.append(dict(batch.tags[pos]))
        if copies_from:
            records = tq.kv_batch_get(keys=copies_from, partition_id=batch.partition_id)
            tq.kv_batch_put(
                keys=copies_to,
                partition_id=batch.partition_id,
                fields=records,
                tags=copy_tags,
            )
        selected = KVBatchMeta(keys=keys, tags=tags, partition_id=batch.partition_id, extra_info=dict(batch.extra_info))
        selected = self._balance_batch(selected, metrics=metrics, logging_prefix="pad_seqlen")
        original = set(batch.keys)
        added_padding = [k for k, tag in zip(selected.keys, selected.tags) if tag.get("is_padding") and k not in original]
        if added_padding:
            self._reshape_padding_samples(selected.partition_id, added_padding)
        self._pad_owned_keys = copies_to + added_padding
        return selected

    @staticmethod
    def _reshape_padding_samples(partition_id: str, keys: list[str]) -> None:
        """verl's padding template copies per-token fields of a real sample; give them the 1-token shape."""
        records = tq.kv_batch_get(keys=keys, partition_id=partition_id)
        present = [f for f in _PER_TOKEN_FIELDS if f in records.keys()]
        if not present:
            return
        # Keep each field's dtype (the reference log-probs may be bf16): TransferQueue rejects a mix.
        fields = {
            f: torch.nested.as_nested_tensor([torch.zeros(1, dtype=records[f].dtype) for _ in keys], layout=torch.jagged)
            for f in present
        }
        tq.kv_batch_put(keys=keys, partition_id=partition_id, fields=TensorDict(fields, batch_size=len(keys)))

    # ------------------------------------------------------------- actor update
    def _update_actor(self, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        pad_on = self.revisual.pad.enable
        target = self._pad_batch if pad_on else batch
        if pad_on and target is None:
            metrics["pad/skipped_update"] = 1.0
            return batch
        anneal = self.revisual.entropy_anneal
        mini_batch = self.config.actor_rollout_ref.actor.ppo_mini_batch_size * self.config.actor_rollout_ref.rollout.n
        updates = max(1, len(target) // mini_batch) * self.config.actor_rollout_ref.actor.ppo_epochs
        if anneal.enable:
            # One coefficient per rollout step, taken at the first optimizer step of this update.
            coeff = annealed_entropy_coef(
                self.optimizer_steps,
                init=anneal.init,
                decay=anneal.decay,
                floor=anneal.floor,
                warmup_steps=anneal.warmup_steps,
            )
            target.extra_info[ENTROPY_COEFF_KEY] = coeff
            metrics["actor/entropy_coeff"] = coeff
        try:
            super()._update_actor(target, metrics)
        finally:
            if self._pad_owned_keys:
                tq.kv_clear(keys=self._pad_owned_keys, partition_id=target.partition_id)
                self._pad_owned_keys = []
        self.optimizer_steps += updates
        metrics["actor/optimizer_steps"] = self.optimizer_steps
        if pad_on:
            metrics["pad/skipped_update"] = 0.0
        return batch

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
            json.dump({"optimizer_steps": self.optimizer_steps, "global_steps": self.global_steps}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(folder, STATE_FILE))
        super()._save_checkpoint()

    def _load_checkpoint(self):
        super()._load_checkpoint()
        if self.global_steps <= 0:
            return
        path = os.path.join(self._step_folder(), STATE_FILE)
        if os.path.exists(path):
            with open(path) as f:
                self.optimizer_steps = int(json.load(f)["optimizer_steps"])
            logger.info("restored revisual state from %s: optimizer_steps=%d", path, self.optimizer_steps)
        else:
            logger.warning("checkpoint %s has no %s; the entropy schedule restarts", path, STATE_FILE)
