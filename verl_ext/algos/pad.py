"""Prioritized Advantage Distillation (PAD), ReVisual-R1 §4.1.1, as pure tensor functions.

PAD runs once per training step, after GRPO advantages and before the policy update:

1. **Effective set** E: the sequences that carry a learning signal. The paper's filter is the band
   low <= |A_i| <= high; :func:`nonzero_spread_mask` is the accuracy-spread filter we use with a
   shaped reward. Sequences of stagnant groups (all rollouts equally rewarded) drop out.
2. **Prioritised sub-sampling**: draw k' = min(ceil(ratio * N), |E|) sequences from E without
   replacement, with P(i) proportional to exp(|A_i| / tau).
3. The selected sequences keep their original advantages (no re-normalisation).

The released code does something else (:data:`OFFICIAL_CODE_PAD`): a strict band (0.03, 0.97), a
power-law priority |A|^1.5, ratio 1.5 and draws *with* replacement, so one step trains on 1.5x the
batch with duplicates.

The paper's Table 4 compares PAD with three ablations; :data:`VARIANTS` names all five arms, and
:func:`plan_update` sizes a selection in whole, equal optimizer steps (see ``docs/pad.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

from verl_ext.algos.grpo import group_extremes

PRIORITIES = ("softmax", "power")

VARIANTS = ("grpo", "filter", "random", "pad", "official")
"""The arms of the paper's Table 4, plus the released code's PAD:

* ``grpo``: no filter, no draw (the update trains on the whole batch);
* ``filter``: drop the stagnant sequences, train on all of E (no prioritised draw);
* ``random``: draw as many sequences as ``pad`` would, uniformly from the whole batch (no filter);
* ``pad``: the paper's filter + softmax(|A|/tau) draw without replacement;
* ``official``: the released code (strict band, |A|^1.5, 1.5 N draws with replacement)."""

OFFICIAL_CODE_PAD = dict(low=0.03, high=0.97, ratio=1.5, priority="power", alpha=1.5, replacement=True, strict_band=True)
"""What CSfufu/Revisual-R1's ``ray_trainer.py`` does, which is not what the paper says."""

MAX_COPIES = 2
"""No row is trained more than this many times in one update by ``pad``, ``filter`` or ``random``: rounding a
selection to whole micro-batches may repeat a few rows (uniformly, never by priority), but never more."""


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
    """Boolean mask of E: |A| inside [low, high] (or (low, high) with ``strict_band``). NaN is never in E."""
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


def draw_size(num_rows: int, num_eligible: int, ratio: float, replacement: bool) -> int:
    """k' = ceil(ratio * N), capped at |E| when drawing without replacement."""
    # The epsilon keeps ratio*N = 6144.0000001 from rounding up to 6145.
    k = math.ceil(ratio * num_rows - 1e-9)
    return max(0, k if replacement else min(k, num_eligible))


def _weights(logits: torch.Tensor) -> torch.Tensor:
    """softmax(logits), with +inf logits sharing all the mass (the limit of the softmax)."""
    top = torch.isposinf(logits)
    if top.any():
        return top.to(torch.float64) / top.sum()
    # softmax in float64 after subtracting the max: no overflow, the largest weight is exactly 1.
    return torch.softmax(logits, dim=0)


def draw_indices(
    logits: torch.Tensor, size: int, *, replacement: bool, generator: Optional[torch.Generator] = None
) -> torch.LongTensor:
    """Positions into ``logits`` drawn with P proportional to exp(logits).

    Without replacement and ``size <= len(logits)`` this is Gumbel-top-k (exactly the successive
    draw without replacement, computed in log space so tiny tau cannot underflow weights to zero).
    Without replacement and a larger ``size`` (at most :data:`MAX_COPIES` times ``len(logits)``), every
    position is taken once and the rest is a *uniform* draw without replacement: a top-up for
    divisibility must not hand the largest weight a second, third, ... copy. With replacement,
    ``size`` independent draws by weight.
    """
    n = logits.numel()
    if size <= 0 or n == 0:
        return torch.empty(0, dtype=torch.long)
    logits = logits.to(torch.float64)
    if replacement:
        return torch.multinomial(_weights(logits), size, replacement=True, generator=generator)
    if size > MAX_COPIES * n:
        raise ValueError(f"a draw of {size} rows without replacement from {n} would repeat a row more than "
                         f"{MAX_COPIES} times")
    if size >= n:
        top_up = torch.randperm(n, generator=generator)[: size - n]
        return torch.cat([torch.arange(n), top_up])
    uniform = torch.rand(logits.shape, dtype=torch.float64, generator=generator).clamp_(1e-300, 1.0)
    keys = logits - torch.log(-torch.log(uniform))
    return torch.topk(keys, size, sorted=False).indices


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
    size: Optional[int] = None,
) -> torch.LongTensor:
    """Indices of the sequences PAD trains on, sorted ascending (duplicates when repeats are drawn).

    Args:
        seq_advantages: 1-D tensor, one scalar advantage per sequence (NaN is never selected).
        low, high: the |A| band defining the effective set E; ``high=None`` means no upper bound.
        ratio: rho; the draw size is ceil(ratio * N), capped at |E| without replacement.
        priority: ``"softmax"`` (P ~ exp(|A|/tau), the paper) or ``"power"`` (P ~ |A|^alpha, the code).
        tau, alpha: the softmax temperature and the power-law exponent.
        replacement: draw with replacement (the released code) or without (the paper).
        generator: torch RNG for reproducible draws.
        strict_band: use the open band (low, high) as the released code does.
        eligible: optional extra mask intersected with E (e.g. groups with non-zero accuracy spread).
        size: draw exactly this many instead of k' (e.g. k' rounded to whole micro-batches); without
            replacement, a size above |E| takes all of E once and tops up uniformly (at most twice each).
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
    k = draw_size(seq_advantages.numel(), candidates.numel(), ratio, replacement) if size is None else size
    logits = priority_logits(seq_advantages[candidates].abs(), priority=priority, tau=tau, alpha=alpha)
    picks = draw_indices(logits, k, replacement=replacement, generator=generator)
    return torch.sort(candidates[picks]).values


def pad_temperature(step: int, total_steps: int, tau_start: float = 1.0, tau_end: float = 0.3) -> float:
    """Linear tau schedule from ``tau_start`` at step 0 to ``tau_end`` at ``total_steps``, clamped at both ends."""
    if total_steps <= 0:
        return float(tau_end)
    frac = min(max(step / total_steps, 0.0), 1.0)
    # Weighted form, so both ends are exact: frac = 1 gives tau_end itself, not tau_start + (tau_end - tau_start).
    return float(tau_start * (1.0 - frac) + tau_end * frac)


def nonzero_spread_mask(values: torch.Tensor, group: torch.Tensor, valid: Optional[torch.Tensor] = None) -> torch.Tensor:
    """True for samples whose group's ``values`` (e.g. 0/1 accuracy) are not all equal.

    Samples where ``valid`` is False (e.g. scoring failed) neither count towards their group's
    spread nor are marked True themselves.
    """
    valid = torch.ones(values.numel(), dtype=torch.bool) if valid is None else valid.reshape(-1).to(torch.bool)
    high, low = group_extremes(values, group, valid)
    return (high > low)[group] & valid


@dataclass(frozen=True)
class UpdatePlan:
    """How an actor update is cut into optimizer steps: ``steps`` mini-batches of ``step_size`` rows."""

    steps: int
    step_size: int

    @property
    def total(self) -> int:
        return self.steps * self.step_size


def plan_update(num_selected: int, mini_batch: int, row_multiple: int,
                available: Optional[int] = None) -> UpdatePlan:
    """Cut a selection of ``num_selected`` sequences into whole, equal optimizer steps.

    The number of steps is ``num_selected / mini_batch`` rounded to the nearest integer (at least 1),
    and every step gets the same size: the selection's share per step rounded to the nearest multiple
    of ``row_multiple`` (the data-parallel size, times the per-GPU micro-batch when micro-batches have
    a fixed size, so every rank gets whole micro-batches). Equal steps leave no sliver step behind a
    full one; a whole update smaller than a mini-batch is one smaller step, never topped up to a size.

    ``available`` is the number of distinct rows the draw may take without replacement (|E|, or the
    scored rows for ``random``; None when drawing with replacement). Rounding up must not repeat any
    row more than :data:`MAX_COPIES` times, so where it would the size is rounded down instead; where
    that leaves nothing (fewer rows than half a ``row_multiple``), the plan is empty and the update is
    skipped.
    """
    if mini_batch <= 0 or row_multiple <= 0:
        raise ValueError(f"mini_batch and row_multiple must be > 0, got {mini_batch}, {row_multiple}")
    if num_selected <= 0:
        return UpdatePlan(0, 0)
    limit = None if available is None else MAX_COPIES * available
    for steps in range(max(1, round(num_selected / mini_batch)), 0, -1):
        share = num_selected / steps / row_multiple
        for multiples in (max(1, round(share)), math.floor(share)):
            size = multiples * row_multiple
            if size > 0 and (limit is None or steps * size <= limit):
                return UpdatePlan(steps, size)
    return UpdatePlan(0, 0)
