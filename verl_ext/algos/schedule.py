"""Stagnation-aware prompt scheduling: skip, before the rollout, prompts predicted to give a group with
no GRPO signal (all rollouts right, or all wrong), as pure functions over a per-prompt history.

The signal (GRESO, "Act Only When It Pays", 2025): a prompt whose group was stagnant the last time it
was rolled out is likely to be stagnant again. A prompt seen stagnant ``z`` times in a row (and never
mixed since) is kept with probability ``explore[kind] ** z``, where ``kind`` is how it stagnated
(all-correct or all-wrong); a prompt never seen, or mixed last time, is always kept. Each kind's
exploration probability adapts every step towards a target share of stagnant groups in the batch: more
stagnant groups than the target lowers it (skip more), fewer raises it (explore more), within
``[explore_min, 1]``, so prompts that stop being stagnant are still found.

A small *audit* keeps a share of the prompts the rule would skip, so that precision (how many skipped
prompts really were stagnant) and recall (how many stagnant groups were predicted) are measured on
real rollouts, never assumed.

The state is O(prompts): a few numbers per dataset index, and two exploration probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

UNSEEN, MIXED, ALL_CORRECT, ALL_WRONG = 0, 1, 2, 3
"""Outcome codes of a prompt's last rollout group."""
STAGNANT_KINDS = (ALL_CORRECT, ALL_WRONG)


@dataclass
class ScheduleHistory:
    """Per-prompt history, indexed by the dataset's ``extra_info.index`` (grown on demand)."""

    last: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    """Outcome code of the prompt's last group (UNSEEN, MIXED, ALL_CORRECT, ALL_WRONG)."""
    streak: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    """How many times in a row the prompt's group was stagnant in the same way (0 after a mixed group)."""
    seen_step: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    """Training step at which the prompt's last group was seen (0 = never)."""
    mean_tokens: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    """Mean response length (tokens) of the prompt's last group: what skipping it saves per rollout."""
    explore: dict = field(default_factory=dict)
    """Exploration probability per stagnant kind (``ALL_CORRECT``, ``ALL_WRONG``)."""

    def grow(self, size: int) -> None:
        if size <= self.last.size:
            return
        extra = size - self.last.size
        self.last = np.concatenate([self.last, np.zeros(extra, dtype=np.int8)])
        self.streak = np.concatenate([self.streak, np.zeros(extra, dtype=np.int32)])
        self.seen_step = np.concatenate([self.seen_step, np.zeros(extra, dtype=np.int32)])
        self.mean_tokens = np.concatenate([self.mean_tokens, np.zeros(extra, dtype=np.float32)])

    def to_json(self) -> dict:
        seen = np.nonzero(self.last)[0]
        return {
            "index": seen.tolist(), "last": self.last[seen].tolist(), "streak": self.streak[seen].tolist(),
            "seen_step": self.seen_step[seen].tolist(), "mean_tokens": self.mean_tokens[seen].tolist(),
            "explore": {str(k): float(v) for k, v in self.explore.items()},
        }

    @classmethod
    def from_json(cls, state: dict) -> "ScheduleHistory":
        history = cls(explore={int(k): float(v) for k, v in state["explore"].items()})
        index = np.asarray(state["index"], dtype=np.int64)
        history.grow(int(index.max()) + 1 if index.size else 0)
        history.last[index] = state["last"]
        history.streak[index] = state["streak"]
        history.seen_step[index] = state["seen_step"]
        history.mean_tokens[index] = state["mean_tokens"]
        return history


@dataclass(frozen=True)
class Decisions:
    """What the rule decided for each candidate prompt, in the candidates' order."""

    keep: np.ndarray
    """True: roll it out (never skipped, explored, or audited)."""
    predicted_stagnant: np.ndarray
    """True where the rule's draw said skip (whether or not the audit kept it anyway)."""
    audited: np.ndarray
    """True where the rule said skip but the audit kept it, to measure the prediction."""


def keep_probability(history: ScheduleHistory, index: np.ndarray, explore_init: float) -> np.ndarray:
    """``explore[kind] ** streak`` for prompts whose last group was stagnant, else 1."""
    index = np.asarray(index, dtype=np.int64)
    history.grow(int(index.max()) + 1 if index.size else 0)
    last, streak = history.last[index], history.streak[index].astype(np.float64)
    prob = np.ones(index.size, dtype=np.float64)
    for kind in STAGNANT_KINDS:
        mine = last == kind
        prob[mine] = history.explore.get(kind, explore_init) ** streak[mine]
    return prob


def decide(history: ScheduleHistory, index: np.ndarray, rng: np.random.Generator, *, explore_init: float,
           audit_share: float) -> Decisions:
    """Keep or skip each candidate prompt (dataset indices ``index``), with ``rng`` (seeded by the caller
    from the run's seed and step, so a resumed run decides the same)."""
    prob = keep_probability(history, index, explore_init)
    draws = rng.random((2, prob.size))
    predicted = draws[0] >= prob
    audited = predicted & (draws[1] < audit_share)
    return Decisions(keep=~predicted | audited, predicted_stagnant=predicted, audited=audited)


def record_outcomes(history: ScheduleHistory, index: np.ndarray, outcome: np.ndarray, mean_tokens: np.ndarray,
                    step: int) -> None:
    """Fold one step's group outcomes (per rolled-out prompt) into the history; a group whose every score
    failed (``UNSEEN``) says nothing about its prompt and is left out."""
    outcome = np.asarray(outcome, dtype=np.int8)
    known = outcome != UNSEEN
    index, outcome = np.asarray(index, dtype=np.int64)[known], outcome[known]
    mean_tokens = np.asarray(mean_tokens, dtype=np.float32)[known]
    history.grow(int(index.max()) + 1 if index.size else 0)
    again = (history.last[index] == outcome) & np.isin(outcome, STAGNANT_KINDS)
    history.streak[index] = np.where(again, history.streak[index] + 1, np.isin(outcome, STAGNANT_KINDS).astype(np.int32))
    history.last[index] = outcome
    history.seen_step[index] = step
    history.mean_tokens[index] = mean_tokens


def adapt_exploration(history: ScheduleHistory, outcome: np.ndarray, *, target_share: float, rate: float,
                      explore_init: float, explore_min: float) -> None:
    """Move each kind's exploration probability by ``rate`` towards the target share of stagnant groups."""
    outcome = np.asarray(outcome)
    if outcome.size == 0:
        return
    for kind in STAGNANT_KINDS:
        share = float(np.mean(outcome == kind))
        current = history.explore.get(kind, explore_init)
        moved = current - rate if share > target_share else current + rate
        history.explore[kind] = float(min(1.0, max(explore_min, moved)))


def group_outcome(correct: int, scored: int) -> int:
    """A group's outcome from its number of correct and scored rollouts."""
    if scored == 0:
        return UNSEEN  # every score failed: nothing learned about the prompt
    if correct == scored:
        return ALL_CORRECT
    if correct == 0:
        return ALL_WRONG
    return MIXED
