"""Prioritized Advantage Distillation (PAD), ReVisual-R1 §4.1.1, as pure tensor functions.

PAD runs once per training step, after GRPO advantages and before the policy update:

1. **Effective set** E = { i : low <= |A_i| <= high }. Sequences of stagnant groups (all rollouts
   equally rewarded) have A_i = 0 and drop out; they would contribute no gradient anyway.
2. **Prioritised sub-sampling**: draw k' = min(ceil(ratio * N), |E|) sequences from E without
   replacement, with P(i) proportional to exp(|A_i| / tau).
3. The selected sequences keep their original advantages (no re-normalisation).

The paper's released code does something else (see :data:`OFFICIAL_CODE_PAD`): a strict band
(0.03, 0.97), a power-law priority |A|^1.5, ratio 1.5 and sampling *with* replacement, so one step
trains on 1.5x the batch with duplicates. Both are available; the paper's scheme is the default.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

PRIORITIES = ("softmax", "power")

PAPER_PAD = dict(low=1e-3, high=None, ratio=1.0, priority="softmax", replacement=False, strict_band=False)
"""The paper's PAD: softmax over |A|/tau, k' capped at |E|, no replacement (low is our choice: T_low > 0)."""

OFFICIAL_CODE_PAD = dict(low=0.03, high=0.97, ratio=1.5, priority="power", alpha=1.5, replacement=True, strict_band=True)
"""What CSfufu/Revisual-R1's ``ray_trainer.py`` does, which is not what the paper says."""


def _check_args(low: float, high: Optional[float], ratio: float, tau: float, priority: str) -> None:
    if low < 0:
        raise ValueError(f"low must be >= 0, got {low}")
    if high is not None and high < low:
        raise ValueError(f"high must be >= low ({low}), got {high}")
    if ratio <= 0:
        raise ValueError(f"ratio must be > 0, got {ratio}")
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    if priority not in PRIORITIES:
        raise ValueError(f"priority must be one of {PRIORITIES}, got {priority!r}")


def effective_mask(
    seq_advantages: torch.Tensor, *, low: float, high: Optional[float] = None, strict_band: bool = False
) -> torch.Tensor:
    """Boolean mask of E: |A| inside [low, high] (or (low, high) with ``strict_band``)."""
    magnitude = seq_advantages.abs()
    if strict_band:
        mask = magnitude > low
        return mask & (magnitude < high) if high is not None else mask
    mask = magnitude >= low
    return mask & (magnitude <= high) if high is not None else mask


def priority_logits(
    magnitude: torch.Tensor, *, priority: str = "softmax", tau: float = 1.0, alpha: float = 1.0
) -> torch.Tensor:
    """log of the unnormalised sampling weight: |A|/tau (softmax) or alpha*log|A| (power law)."""
    magnitude = magnitude.to(torch.float64)
    if priority == "softmax":
        return magnitude / tau
    # 1e-8 as in the released code, so |A| = 0 stays drawable when low = 0.
    return alpha * torch.log(magnitude + 1e-8)


def select_pad_indices(
    seq_advantages: torch.Tensor,
    *,
    low: float,
    high: Optional[float] = None,
    ratio: float = 1.0,
    priority: str = "softmax",
    tau: float = 1.0,
    alpha: float = 1.0,
    replacement: bool = False,
    generator: Optional[torch.Generator] = None,
    strict_band: bool = False,
    eligible: Optional[torch.Tensor] = None,
) -> torch.LongTensor:
    """Indices of the sequences PAD trains on, sorted ascending (duplicates only with ``replacement``).

    Args:
        seq_advantages: 1-D tensor, one scalar advantage per sequence.
        low, high: the |A| band defining the effective set E; ``high=None`` means no upper bound.
        ratio: rho; the draw size is ceil(ratio * N), capped at |E| without replacement.
        priority: ``"softmax"`` (P ~ exp(|A|/tau), the paper) or ``"power"`` (P ~ |A|^alpha, the code).
        tau, alpha: the softmax temperature and the power-law exponent.
        replacement: draw with replacement (the released code) or without (the paper).
        generator: torch RNG for reproducible draws.
        strict_band: use the open band (low, high) as the released code does.
        eligible: optional extra mask intersected with E (e.g. groups with non-zero accuracy spread).
    """
    _check_args(low, high, ratio, tau, priority)
    if seq_advantages.dim() != 1:
        raise ValueError(f"seq_advantages must be 1-D, got shape {tuple(seq_advantages.shape)}")
    mask = effective_mask(seq_advantages, low=low, high=high, strict_band=strict_band)
    if eligible is not None:
        mask = mask & eligible.to(torch.bool)
    candidates = torch.nonzero(mask, as_tuple=False).flatten()
    if candidates.numel() == 0:
        return torch.empty(0, dtype=torch.long)

    n = seq_advantages.numel()
    # The epsilon keeps ratio*N = 6144.0000001 from rounding up to 6145.
    k = math.ceil(ratio * n - 1e-9)
    if not replacement:
        k = min(k, candidates.numel())
    if k <= 0:
        return torch.empty(0, dtype=torch.long)

    logits = priority_logits(seq_advantages[candidates].abs(), priority=priority, tau=tau, alpha=alpha)
    if replacement:
        # softmax in float64 after subtracting the max: no overflow, the largest weight is exactly 1.
        probs = torch.softmax(logits, dim=0)
        picks = torch.multinomial(probs, k, replacement=True, generator=generator)
    else:
        # Gumbel-top-k draws k without replacement with P proportional to exp(logits), in log space,
        # so tiny tau cannot underflow weights to zero the way exp() followed by multinomial can.
        uniform = torch.rand(logits.shape, dtype=torch.float64, generator=generator).clamp_(1e-300, 1.0)
        keys = logits - torch.log(-torch.log(uniform))
        picks = torch.topk(keys, k, sorted=False).indices
    return torch.sort(candidates[picks]).values


def pad_temperature(step: int, total_steps: int, tau_start: float = 1.0, tau_end: float = 0.3) -> float:
    """Linear tau schedule from ``tau_start`` at step 0 to ``tau_end`` at ``total_steps``, clamped at both ends."""
    if total_steps <= 0:
        return float(tau_end)
    frac = min(max(step / total_steps, 0.0), 1.0)
    return float(tau_start + (tau_end - tau_start) * frac)


def nonzero_spread_mask(values: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """True for samples whose group's ``values`` (e.g. 0/1 accuracy) are not all equal."""
    values = values.reshape(-1).to(torch.float64)
    num_groups = int(group.max().item()) + 1 if group.numel() else 0
    high = torch.full((num_groups,), -torch.inf, dtype=torch.float64).scatter_reduce_(0, group, values, "amax")
    low = torch.full((num_groups,), torch.inf, dtype=torch.float64).scatter_reduce_(0, group, values, "amin")
    return (high > low)[group]
