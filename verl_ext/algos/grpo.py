"""Stagnation-aware GRPO: verl's group-normalised outcome advantage plus the group statistics PAD needs.

The advantage is exactly verl's ``grpo`` (unbiased std, ``eps`` added to the std, singleton groups
use mean 0 and std 1). What this module adds is one vectorised pass that also returns, per sample,
its group's mean, std and whether the group is *stagnant* (every rollout got the same reward,
hence zero advantage and zero gradient).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

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


def compute_group_stats(scores: torch.Tensor, group: torch.Tensor) -> GroupStats:
    """Group mean/std/size for 1-D ``scores`` and dense ``group`` ids, in a few scatter ops."""
    scores = scores.reshape(-1).to(torch.float32)
    num_groups = int(group.max().item()) + 1 if group.numel() else 0
    size = torch.zeros(num_groups, dtype=torch.float32).index_add_(0, group, torch.ones_like(scores))
    total = torch.zeros(num_groups, dtype=torch.float32).index_add_(0, group, scores)
    mean_g = total / size.clamp_min(1)
    centred = scores - mean_g[group]
    sq = torch.zeros(num_groups, dtype=torch.float32).index_add_(0, group, centred * centred)
    std_g = torch.sqrt(sq / (size - 1).clamp_min(1))
    singleton = size == 1
    mean_g = torch.where(singleton, torch.zeros_like(mean_g), mean_g)
    std_g = torch.where(singleton, torch.ones_like(std_g), std_g)
    # Compare extremes rather than the variance: equal scores can leave rounding noise in ``sq``.
    high = torch.full((num_groups,), -torch.inf).scatter_reduce_(0, group, scores, reduce="amax")
    low = torch.full((num_groups,), torch.inf).scatter_reduce_(0, group, scores, reduce="amin")
    stagnant_g = (size > 1) & (high == low)
    return GroupStats(
        group=group,
        mean=mean_g[group],
        std=std_g[group],
        size=size[group],
        stagnant=stagnant_g[group],
    )


def grpo_sequence_advantages(
    scores: torch.Tensor,
    index: Any,
    epsilon: float = 1e-6,
    norm_by_std: bool = True,
) -> tuple[torch.Tensor, GroupStats]:
    """One scalar GRPO advantage per sequence, ``(r - mean_g) / (std_g + eps)``, and the group stats."""
    stats = compute_group_stats(scores, dense_group_ids(index))
    centred = scores.reshape(-1).to(torch.float32) - stats.mean
    advantages = centred / (stats.std + epsilon) if norm_by_std else centred
    return advantages, stats


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
    with torch.no_grad():
        scores = token_level_rewards.sum(dim=-1)
        seq_adv, _ = grpo_sequence_advantages(scores, index, epsilon, norm_adv_by_std_in_grpo)
        advantages = seq_adv.unsqueeze(-1) * response_mask
    return advantages, advantages
