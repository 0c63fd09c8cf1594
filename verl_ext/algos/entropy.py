"""The entropy-bonus schedule of ReVisual-R1 (Table 5): zero during warm-up, then exponential decay."""

from __future__ import annotations


def annealed_entropy_coef(
    optimizer_step: int, *, init: float = 0.02, decay: float = 0.985, floor: float = 0.0, warmup_steps: int = 140
) -> float:
    """Coefficient for the given 0-based optimizer step.

    0 for the first ``warmup_steps`` steps, ``init`` on the first step after them, then multiplied
    by ``decay`` once per optimizer step, never below ``floor``.
    """
    if optimizer_step < warmup_steps:
        return 0.0
    return max(floor, init * decay ** (optimizer_step - warmup_steps))
