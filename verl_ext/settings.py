"""The config blocks revisual adds to verl's ``ppo_trainer`` config, one dataclass per block.

They are validated in the driver before Ray starts, so a misspelt key fails at once rather than
after the cluster spins up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from omegaconf import DictConfig, OmegaConf


@dataclass
class PADConfig:
    """``algorithm.pad``: Prioritized Advantage Distillation (paper §4.1.1)."""

    enable: bool = True
    """Filter and resample the batch after advantages, before the actor update."""
    filter_on: str = "advantage"
    """``advantage``: the paper's band low <= |A| <= high. ``reward_std``: keep only groups whose accuracy
    (``accuracy_key`` in the reward's extra info) has a non-zero spread; use it with shaped rewards, where an
    all-correct group still gets O(1) advantages from the length term and the |A| band would keep it."""
    low: float = 0.01
    """T_low: smallest |A| kept (the paper requires T_low > 0 and gives no value)."""
    high: Optional[float] = None
    """T_high: largest |A| kept; null means no upper bound. The released code uses 0.97, which drops the
    rare-outcome samples that carry the signal on hard prompts."""
    ratio: float = 1.0
    """rho: draw ceil(ratio * N) sequences (capped at |E| without replacement)."""
    priority: str = "softmax"
    """``softmax`` (P ~ exp(|A|/tau), the paper) or ``power`` (P ~ |A|^alpha, the released code)."""
    tau_start: float = 1.0
    """Softmax temperature at step 0; decays linearly to ``tau_end`` over the run."""
    tau_end: float = 0.3
    """Softmax temperature at the last step (Table 5 lists tau = 0.3)."""
    alpha: float = 1.0
    """Exponent of the power-law priority (the released code uses 1.5)."""
    replacement: bool = False
    """Draw with replacement (the released code) or without (the paper)."""
    strict_band: bool = False
    """Use the open band (low, high) as the released code does."""
    accuracy_key: str = "acc"
    """Per-sample accuracy field in the reward's extra info, read when ``filter_on=reward_std``."""
    seed: int = 0
    """Seed of the selection RNG; combined with the step so a resumed run draws the same batches."""


@dataclass
class EntropyAnnealConfig:
    """``algorithm.entropy_anneal``: the entropy bonus schedule (paper Table 5)."""

    enable: bool = True
    """Replace the actor's fixed ``entropy_coeff`` with the schedule below."""
    init: float = 0.02
    """beta_0: coefficient on the first optimizer step after the warm-up."""
    decay: float = 0.985
    """lambda: multiplied in once per optimizer step after the warm-up."""
    floor: float = 0.0
    """beta_min: the coefficient never goes below this."""
    warmup_steps: int = 140
    """tau_w: optimizer steps with coefficient 0 (paper: 140; released code: 20)."""


@dataclass
class RevisualAlgorithmConfig:
    pad: PADConfig = field(default_factory=PADConfig)
    entropy_anneal: EntropyAnnealConfig = field(default_factory=EntropyAnnealConfig)


def validate_revisual_config(config: DictConfig) -> RevisualAlgorithmConfig:
    """Check ``algorithm.pad`` / ``algorithm.entropy_anneal`` against the dataclasses; unknown keys raise."""
    schema = OmegaConf.structured(RevisualAlgorithmConfig)
    algorithm = config.get("algorithm", {})
    given = {k: algorithm[k] for k in ("pad", "entropy_anneal") if k in algorithm}
    try:
        merged = OmegaConf.merge(schema, OmegaConf.create(OmegaConf.to_container(OmegaConf.create(given))))
    except Exception as err:  # omegaconf raises several error types; all mean a bad key or value
        raise ValueError(f"invalid revisual setting under algorithm: {err}") from err
    result: RevisualAlgorithmConfig = OmegaConf.to_object(merged)
    pad = result.pad
    if pad.filter_on not in ("advantage", "reward_std"):
        raise ValueError(f"algorithm.pad.filter_on must be 'advantage' or 'reward_std', got {pad.filter_on!r}")
    if pad.priority not in ("softmax", "power"):
        raise ValueError(f"algorithm.pad.priority must be 'softmax' or 'power', got {pad.priority!r}")
    if pad.low < 0:
        raise ValueError(f"algorithm.pad.low must be >= 0, got {pad.low}")
    for name in ("ratio", "tau_start", "tau_end"):
        if getattr(pad, name) <= 0:
            raise ValueError(f"algorithm.pad.{name} must be > 0, got {getattr(pad, name)}")
    if pad.high is not None and pad.high < pad.low:
        raise ValueError(f"algorithm.pad.high ({pad.high}) must be >= algorithm.pad.low ({pad.low})")
    return result
