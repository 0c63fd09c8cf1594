"""Which rows of a GRPO batch an actor update trains on, for each PAD variant (pure functions).

The trainer hands over one batch (per-sequence advantage, accuracy, group, scoring failures); this
module decides eligibility, the draw size, the whole-mini-batch plan and the draw itself. The
variants are the arms of the paper's Table 4 (see :data:`verl_ext.algos.pad.VARIANTS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from verl_ext.algos.pad import UpdatePlan, draw_indices, draw_size, effective_mask, nonzero_spread_mask, plan_update
from verl_ext.algos.pad import priority_logits
from verl_ext.settings import PADConfig


@dataclass(frozen=True)
class GroupOutcomes:
    """Per-group stagnation counts on the accuracy of the samples whose scoring succeeded."""

    groups: int
    no_signal: int
    all_correct: int
    all_wrong: int


@dataclass(frozen=True)
class PADSelection:
    """The rows an update trains on (positions into the batch, sorted, repeats allowed) and why."""

    indices: torch.LongTensor
    plan: UpdatePlan
    num_eligible: int
    draw_size: int
    prioritised: bool

    @property
    def repeated_rows(self) -> int:
        """Rows trained a second time: the uniform top-up to whole micro-batches, or draws with replacement."""
        return int(self.indices.numel() - torch.unique(self.indices).numel())


def eligible_rows(
    pad: PADConfig,
    seq_advantages: torch.Tensor,
    accuracy: Optional[torch.Tensor],
    group: torch.Tensor,
    failed: torch.Tensor,
) -> torch.Tensor:
    """E under the variant's filter; a sample whose scoring failed is never eligible and does not
    count towards its group's accuracy spread. ``grpo`` has no filter: E is measured with
    ``reward_std`` (or |A| > 0 without accuracy) so its stagnation metrics compare with the others."""
    valid = ~failed.to(torch.bool)
    filter_on = pad.filter_on or ("reward_std" if accuracy is not None else "advantage")
    if filter_on == "reward_std":
        if accuracy is None:
            raise ValueError("algorithm.pad.filter_on=reward_std needs a per-sample accuracy")
        return nonzero_spread_mask(accuracy, group, valid=valid)
    low = pad.low if pad.low is not None else 1e-6
    return effective_mask(seq_advantages, low=low, high=pad.high, strict_band=bool(pad.strict_band)) & valid


def group_outcomes(eligible: torch.Tensor, accuracy: Optional[torch.Tensor], group: torch.Tensor,
                   failed: torch.Tensor) -> GroupOutcomes:
    """How many groups give no signal under the filter, and how many are all-correct / all-wrong."""
    num_groups = int(group.max().item()) + 1 if group.numel() else 0
    if num_groups == 0:
        return GroupOutcomes(0, 0, 0, 0)
    any_eligible = torch.zeros(num_groups, dtype=torch.long).index_add_(0, group, eligible.long()) > 0
    all_correct = all_wrong = 0
    if accuracy is not None:
        valid = ~failed.to(torch.bool)
        counts = torch.zeros(num_groups).index_add_(0, group, valid.float())
        correct = torch.zeros(num_groups).index_add_(0, group, ((accuracy >= 1) & valid).float())
        wrong = torch.zeros(num_groups).index_add_(0, group, ((accuracy <= 0) & valid).float())
        all_correct = int(((counts > 0) & (correct == counts)).sum())
        all_wrong = int(((counts > 0) & (wrong == counts)).sum())
    return GroupOutcomes(num_groups, int((~any_eligible).sum()), all_correct, all_wrong)


def select_update_rows(
    pad: PADConfig,
    seq_advantages: torch.Tensor,
    eligible: torch.Tensor,
    failed: torch.Tensor,
    *,
    tau: float,
    mini_batch: int,
    row_multiple: int,
    generator: Optional[torch.Generator] = None,
) -> PADSelection:
    """The rows a PAD variant trains on, sized in whole, equal optimizer steps by :func:`plan_update`
    (``row_multiple``: every step's row count is a multiple of it, see there).

    ``pad`` and ``official`` draw by priority; ``filter`` trains all of E and ``random`` a uniform draw
    from the scored rows. Rounding to whole micro-batches repeats a few rows (uniformly, at most twice
    each) or leaves a few out; an empty plan (too few rows for one micro-batch per rank) selects nothing."""
    n = seq_advantages.numel()
    candidates = torch.nonzero(eligible, as_tuple=False).flatten()
    num_eligible = int(candidates.numel())
    empty = PADSelection(torch.empty(0, dtype=torch.long), UpdatePlan(0, 0), num_eligible, 0, False)
    if num_eligible == 0:
        return empty
    replacement = bool(pad.replacement)
    k = num_eligible if pad.variant == "filter" else draw_size(n, num_eligible, pad.ratio, replacement)
    if pad.variant == "random":
        # The same number of rows as PAD would train on, uniformly from every scored sample.
        candidates = torch.nonzero(~failed.to(torch.bool), as_tuple=False).flatten()
    plan = plan_update(k, mini_batch, row_multiple, available=None if replacement else int(candidates.numel()))
    if plan.total == 0:
        return PADSelection(empty.indices, plan, num_eligible, k, False)
    if pad.variant in ("filter", "random"):
        # Uniform: which rows train (and which are topped up) must not depend on |A|.
        logits = torch.zeros(candidates.numel(), dtype=torch.float64)
    else:
        logits = priority_logits(seq_advantages[candidates].abs(), priority=pad.priority, tau=tau,
                                 alpha=pad.alpha if pad.alpha is not None else 1.0)
    picks = candidates[draw_indices(logits, plan.total, replacement=replacement, generator=generator)]
    # The draw is prioritised when the weights decide which rows train: fewer rows than E without
    # replacement, or any draw with replacement from more than one candidate.
    prioritised = pad.variant in ("pad", "official") and (
        num_eligible > 1 if replacement else plan.total < num_eligible)
    return PADSelection(torch.sort(picks).values, plan, num_eligible, k, prioritised)
