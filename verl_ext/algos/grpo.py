"""Stagnation-aware GRPO: verl's group-normalised outcome advantage, with two deliberate differences.

The advantage is verl's ``grpo`` (``(r - mean_g) / (std_g + eps)``, unbiased std, singleton groups
use mean 0 and std 1) except:

* **A stagnant group gets exactly zero.** When every scored rollout of a group got the same reward
  there is nothing to compare; verl computes the mean in float32, and the rounding residue of
  ``r - mean`` divided by ``0 + eps`` becomes a same-sign advantage of order 0.1 (eight rewards of
  0.9 give every row -0.056 in verl; eight of 0.997 give +0.106). Here statistics are float64 and
  stagnant groups are set to 0, whatever the input dtype.
* **A failed score is left out.** A sample whose scoring crashed or timed out got reward 0 as a
  placeholder, not as evidence; it is excluded from its group's mean and std and its own advantage
  is 0. A group left with fewer than two scored samples by failures gets 0 everywhere (no baseline).

The trainer passes the failures through :func:`estimator_call` (verl's estimator signature has no
place for them), and reads back what the estimator computed, before verl stores it.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import numpy as np
import pandas as pd
import torch


@dataclass
class GroupStats:
    """Per-sample view of GRPO's group statistics (all tensors have one entry per sequence)."""

    group: torch.Tensor
    """Dense group id in ``[0, num_groups)``."""
    mean: torch.Tensor
    """Mean outcome score of the sample's group (0 for a singleton group, as in verl)."""
    std: torch.Tensor
    """Unbiased std of the group's scores (1 for a singleton group, as in verl)."""
    size: torch.Tensor
    """Number of rollouts in the sample's group."""
    stagnant: torch.Tensor
    """True where the group has more than one rollout and all of them scored the same."""


def dense_group_ids(index: Any) -> torch.Tensor:
    """Map verl's ``uid`` labels (strings, ints or a tensor) to dense int64 ids, first occurrence first."""
    if isinstance(index, torch.Tensor) and not index.is_floating_point():
        _, inverse = torch.unique(index.reshape(-1), return_inverse=True)
        return inverse
    labels = index if isinstance(index, np.ndarray) else np.asarray(list(index), dtype=object)
    # Hash-based factorisation is O(N), versus the O(N log N) string sort behind np.unique.
    codes, _ = pd.factorize(labels.reshape(-1))
    return torch.from_numpy(codes.astype(np.int64, copy=False))


def group_extremes(values: torch.Tensor, group: torch.Tensor,
                   valid: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per group (dense ids): the largest and the smallest of its ``valid`` values (default: all), in
    float64; -inf and +inf for a group with no valid value."""
    values = values.reshape(-1).to(torch.float64)
    valid = torch.ones_like(values, dtype=torch.bool) if valid is None else valid.reshape(-1).to(torch.bool)
    num_groups = int(group.max().item()) + 1 if group.numel() else 0
    high = torch.full((num_groups,), -torch.inf, dtype=torch.float64).scatter_reduce_(
        0, group, torch.where(valid, values, -torch.inf), reduce="amax")
    low = torch.full((num_groups,), torch.inf, dtype=torch.float64).scatter_reduce_(
        0, group, torch.where(valid, values, torch.inf), reduce="amin")
    return high, low


def compute_group_stats(scores: torch.Tensor, group: torch.Tensor, valid: Optional[torch.Tensor] = None) -> GroupStats:
    """Group mean/std/size of the ``valid`` samples (default: all) for 1-D ``scores`` and dense ``group``
    ids, in float64 with a few scatter ops."""
    scores = scores.reshape(-1).to(torch.float64)
    valid = torch.ones_like(scores, dtype=torch.bool) if valid is None else valid.reshape(-1).to(torch.bool)
    weight = valid.to(torch.float64)
    num_groups = int(group.max().item()) + 1 if group.numel() else 0
    zeros = torch.zeros(num_groups, dtype=torch.float64)
    size = zeros.clone().index_add_(0, group, weight)
    mean_g = zeros.clone().index_add_(0, group, scores * weight) / size.clamp_min(1)
    centred = (scores - mean_g[group]) * weight
    std_g = torch.sqrt(zeros.clone().index_add_(0, group, centred * centred) / (size - 1).clamp_min(1))
    singleton = size == 1
    mean_g = torch.where(singleton, torch.zeros_like(mean_g), mean_g)
    std_g = torch.where(singleton, torch.ones_like(std_g), std_g)
    # Compare extremes rather than the variance: equal scores can leave rounding noise in the sum of squares.
    high, low = group_extremes(scores, group, valid)
    stagnant_g = (size > 1) & (high == low)
    return GroupStats(group=group, mean=mean_g[group], std=std_g[group], size=size[group], stagnant=stagnant_g[group])


def grpo_sequence_advantages(
    scores: torch.Tensor,
    index: Any,
    epsilon: float = 1e-6,
    norm_by_std: bool = True,
    failed: Optional[torch.Tensor] = None,
) -> tuple[torch.Tensor, GroupStats]:
    """One float64 GRPO advantage per sequence, ``(r - mean_g) / (std_g + eps)``, and the group stats.

    Exactly 0 for stagnant groups, for ``failed`` samples, and for groups that failures left with
    fewer than two scored samples (a group of one by design keeps verl's mean 0, std 1)."""
    scores = scores.reshape(-1).to(torch.float64)
    failed = torch.zeros_like(scores, dtype=torch.bool) if failed is None else failed.reshape(-1).to(torch.bool)
    group = dense_group_ids(index)
    stats = compute_group_stats(scores, group, valid=~failed)
    centred = scores - stats.mean
    advantages = centred / (stats.std + epsilon) if norm_by_std else centred
    num_groups = int(group.max().item()) + 1 if group.numel() else 0
    failures = torch.zeros(num_groups, dtype=torch.long).index_add_(0, group, failed.long())
    reduced = (failures[group] > 0) & (stats.size < 2)
    zero = stats.stagnant | failed | reduced
    return torch.where(zero, torch.zeros_like(advantages), advantages), stats


@dataclass
class EstimatorCall:
    """What the trainer hands to one call of the estimator, and what the estimator hands back."""

    failed: Optional[torch.Tensor]
    """Per row of the batch verl passes: True where scoring failed (left out of the statistics)."""
    seq_advantages: Optional[torch.Tensor] = None
    """Set by the estimator: the advantage of each row in the dtype verl stores, before verl stores it."""
    uids: Optional[list] = None
    """Set by the estimator: the group label of each row, in the same order."""


_CALL: ContextVar[Optional[EstimatorCall]] = ContextVar("revisual_grpo_call", default=None)


@contextlib.contextmanager
def estimator_call(failed: Optional[torch.Tensor]) -> Iterator[EstimatorCall]:
    """Run verl's advantage computation with these scoring failures; the yielded record receives its output."""
    call = EstimatorCall(failed=failed)
    token = _CALL.set(call)
    try:
        yield call
    finally:
        _CALL.reset(token)


def compute_revisual_grpo_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index: Optional[np.ndarray] = None,
    epsilon: float = 1e-6,
    norm_adv_by_std_in_grpo: bool = True,
    config: Any = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """verl advantage-estimator signature: ``(bs, L)`` rewards and mask in, ``(advantages, returns)`` out."""
    if config is not None:
        norm_adv_by_std_in_grpo = bool(config.get("norm_adv_by_std_in_grpo", norm_adv_by_std_in_grpo))
    call = _CALL.get()
    failed = None if call is None else call.failed
    if failed is not None and failed.numel() != token_level_rewards.shape[0]:
        raise ValueError(
            f"revisual_grpo got {token_level_rewards.shape[0]} rows but scoring failures for {failed.numel()}: "
            "multi-output agent sessions are not supported by the failure-aware estimator"
        )
    with torch.no_grad():
        scores = token_level_rewards.sum(dim=-1)
        seq_adv, _ = grpo_sequence_advantages(scores, index, epsilon, norm_adv_by_std_in_grpo, failed=failed)
        advantages = seq_adv.to(token_level_rewards.dtype).unsqueeze(-1) * response_mask
    if call is not None:
        call.seq_advantages = seq_adv.to(token_level_rewards.dtype)  # what verl stores, to the bit
        call.uids = [str(u) for u in (index.tolist() if hasattr(index, "tolist") else list(index))]
    return advantages, advantages
