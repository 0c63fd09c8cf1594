"""The prompt scheduler inside the trainer: which prompts a step rolls out, what their groups showed, and the
accounting (:mod:`verl_ext.algos.schedule` holds the rule itself).

verl's sync trainer fetches ``train_batch_size`` prompts from its dataloader at the start of each step
(``_next_train_batch``). With ``algorithm.schedule.enable=true`` the PAD trainer asks this class instead: it
draws candidates from the same dataloader (so verl's shuffling, epochs and dataloader checkpoint stay as
they are), skips the ones the rule predicts stagnant, and refills from the next candidates until the batch
is full. Candidates decided "keep" beyond what the batch needs are carried to the next step by dataset
position, so nothing the rule kept is lost and a resumed run (the carry is saved with the checkpoint)
decides exactly as an uninterrupted one.
"""

from __future__ import annotations

import uuid
from typing import Callable, Optional

import numpy as np
import torch

from verl_ext.algos.schedule import (
    MIXED, STAGNANT_KINDS, UNSEEN, ScheduleHistory, adapt_exploration, decide, group_outcome, record_outcomes,
)
from verl_ext.settings import ScheduleConfig

_TOTALS = ("skipped", "audited", "audited_stagnant", "missed_stagnant", "tokens_saved", "rollout_tokens")


def prompt_ids(dataset) -> list[int]:
    """``extra_info.index`` of every training row, in dataset order; they must be unique (the history is keyed
    by them)."""
    ids = [int((info or {}).get("index", -1)) for info in dataset.dataframe["extra_info"]]
    seen: dict[int, int] = {}
    for row, prompt in enumerate(ids):
        if prompt < 0:
            raise ValueError(f"algorithm.schedule needs extra_info.index on every training row; row {row} has none "
                             "(the data_preprocess converters write it)")
        if prompt in seen:
            raise ValueError(f"algorithm.schedule needs a unique extra_info.index per training row; rows {seen[prompt]} "
                             f"and {row} both have index {prompt}")
        seen[prompt] = row
    return ids


class PromptScheduler:
    """Per-run scheduler state and the two calls the trainer makes each step (:meth:`next_batch`, :meth:`observe`)."""

    def __init__(self, config: ScheduleConfig, dataset, collate_fn: Callable, *, seed: int, rollouts_per_prompt: int):
        self.config = config
        self.dataset = dataset
        self.collate_fn = collate_fn
        self.seed = seed
        self.rollouts = rollouts_per_prompt
        self.prompt_at = prompt_ids(dataset)
        """Prompt id (``extra_info.index``) of each dataset position."""
        self.position = {prompt: row for row, prompt in enumerate(self.prompt_at)}
        self.history = ScheduleHistory()
        self.carry: list[int] = []
        """Dataset positions decided "keep" that the last batch had no room for."""
        self.totals = {key: 0.0 for key in _TOTALS}
        self.last_skipped: list[int] = []
        """Prompt ids the last :meth:`next_batch` skipped."""
        self._step: dict = {}

    # --------------------------------------------------------------- before the rollout
    def next_batch(self, fetch_prompt_ids: Callable[[], list[int]], need: int, step: int):
        """Positions of the ``need`` prompts to roll out at ``step``; ``fetch_prompt_ids`` returns the
        ``extra_info.index`` of the dataloader's next chunk."""
        rng = np.random.default_rng([self.seed, step])
        chosen, self.carry = self.carry[:need], self.carry[need:]
        audited: list[int] = []
        skipped: list[int] = []
        scanned = 0
        while len(chosen) < need:
            ids = np.asarray(fetch_prompt_ids(), dtype=np.int64)
            scanned += ids.size
            if scanned > 2 * len(self.position):
                # The rule skipped two epochs' worth of candidates: take skipped ones rather than loop on.
                fill = [p for p in dict.fromkeys(skipped) if p not in chosen][: need - len(chosen)]
                chosen, skipped = chosen + fill, [p for p in skipped if p not in fill]
                break
            out = decide(self.history, ids, rng, explore_init=self.config.explore_init,
                         audit_share=self.config.audit_share)
            positions = [self.position[int(i)] for i in ids]
            for pos, keep, was_audited in zip(positions, out.keep, out.audited):
                if not keep:
                    skipped.append(pos)
                elif pos in chosen or pos in self.carry:
                    continue  # already in this batch or waiting for the next: one group per prompt and step
                elif len(chosen) < need:
                    chosen.append(pos)
                    if was_audited:
                        audited.append(pos)
                else:
                    self.carry.append(pos)
        skipped_ids = np.asarray([self.prompt_at[p] for p in skipped], dtype=np.int64)
        saved = float(self.history.mean_tokens[skipped_ids].sum()) * self.rollouts if skipped_ids.size else 0.0
        self._step = {"prompt_of_uid": {}, "audited": {self.prompt_at[p] for p in audited}, "skipped": len(skipped),
                      "tokens_saved": saved}
        self.last_skipped = [self.prompt_at[p] for p in skipped]
        self.totals["skipped"] += len(skipped)
        self.totals["tokens_saved"] += saved
        return chosen

    def build_batch(self, positions: list[int]) -> dict:
        """The collated rows at ``positions`` (what verl's dataloader would yield), each with a fresh uid."""
        batch = self.collate_fn([self.dataset[pos] for pos in positions])
        batch["uid"] = np.array([str(uuid.uuid4()) for _ in positions], dtype=object)
        self._step["prompt_of_uid"] = {uid: self.prompt_at[pos] for uid, pos in zip(batch["uid"], positions)}
        return batch

    # --------------------------------------------------------------- after the rollout
    def observe(self, uids: list[str], accuracy: Optional[torch.Tensor], failed: torch.Tensor,
                tokens: torch.Tensor, step: int) -> dict:
        """Fold the step's groups into the history; returns the step's ``schedule/*`` metrics."""
        prompt_of = self._step.get("prompt_of_uid", {})
        groups: dict[str, list[int]] = {}
        for row, uid in enumerate(uids):
            groups.setdefault(str(uid), []).append(row)
        index, outcome, mean_tokens = [], [], []
        for uid, rows in groups.items():
            if uid not in prompt_of:
                continue  # not a prompt this scheduler chose (e.g. verl's padding rows)
            scored = [r for r in rows if not bool(failed[r])]
            correct = sum(1 for r in scored if accuracy is not None and float(accuracy[r]) >= 1)
            index.append(prompt_of[uid])
            outcome.append(group_outcome(correct, len(scored)) if accuracy is not None else UNSEEN)
            mean_tokens.append(float(tokens[rows].mean()))
        index_a = np.asarray(index, dtype=np.int64)
        outcome_a = np.asarray(outcome, dtype=np.int8)
        stagnant = np.isin(outcome_a, STAGNANT_KINDS)
        audited = np.asarray([i in self._step.get("audited", set()) for i in index], dtype=bool)
        seen_before = self.history.last[index_a] != UNSEEN if index_a.size and index_a.max() < self.history.last.size \
            else np.zeros(index_a.size, dtype=bool)
        self.totals["audited"] += int(audited.sum())
        self.totals["audited_stagnant"] += int((audited & stagnant).sum())
        self.totals["missed_stagnant"] += int((~audited & stagnant & seen_before).sum())
        spent = float(tokens.sum())
        self.totals["rollout_tokens"] += spent
        record_outcomes(self.history, index_a, outcome_a, np.asarray(mean_tokens), step)
        adapt_exploration(self.history, outcome_a[outcome_a != UNSEEN], target_share=self.config.target_share,
                          rate=self.config.rate, explore_init=self.config.explore_init,
                          explore_min=self.config.explore_min)
        return self._metrics(spent, outcome_a)

    def _metrics(self, spent: float, outcome: np.ndarray) -> dict:
        t = self.totals
        # Precision is measured on the audited skips; recall scales them back up by the audit share, since
        # only that share of the predicted-stagnant prompts was rolled out.
        predicted_hits = t["audited_stagnant"] / self.config.audit_share if self.config.audit_share else 0.0
        metrics = {
            "schedule/skipped": float(self._step.get("skipped", 0)),
            "schedule/skipped_cum": t["skipped"],
            "schedule/audited_cum": t["audited"],
            "schedule/rollout_tokens": spent,
            "schedule/rollout_tokens_cum": t["rollout_tokens"],
            "schedule/tokens_saved": float(self._step.get("tokens_saved", 0.0)),
            "schedule/tokens_saved_cum": t["tokens_saved"],
            "schedule/stagnant_group_frac": float(np.isin(outcome, STAGNANT_KINDS).mean()) if outcome.size else 0.0,
            "schedule/mixed_group_frac": float((outcome == MIXED).mean()) if outcome.size else 0.0,
        }
        for kind, name in zip(STAGNANT_KINDS, ("all_correct", "all_wrong")):
            metrics[f"schedule/explore_{name}"] = self.history.explore.get(kind, self.config.explore_init)
        if t["audited"]:
            metrics["schedule/precision"] = t["audited_stagnant"] / t["audited"]
        if predicted_hits + t["missed_stagnant"] > 0:
            metrics["schedule/recall"] = predicted_hits / (predicted_hits + t["missed_stagnant"])
        return metrics

    # --------------------------------------------------------------- checkpoints
    def state(self) -> dict:
        return {"history": self.history.to_json(), "carry": list(self.carry), "totals": dict(self.totals)}

    def load(self, state: dict) -> None:
        self.history = ScheduleHistory.from_json(state["history"])
        self.carry = [int(p) for p in state["carry"]]
        self.totals.update(state["totals"])
