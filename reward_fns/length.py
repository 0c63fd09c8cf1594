"""ReVisual-R1's efficient-length reward (paper §4.1.2, Eq. 5-6)."""

from __future__ import annotations


def efficient_length_reward(length: int, budget: int, alpha: float = 0.005, delta: float = 0.5) -> float:
    """``clip(alpha * (budget - length) + delta, 0, 1)``.

    ``length`` is the number of generated tokens and ``budget`` the target length L_budget.  With
    the paper's alpha=0.005, delta=0.5 the reward is 1 at ``budget - 100`` tokens or fewer, 0.5 at
    the budget and 0 at ``budget + 100`` or more.  Configure the budget separately from
    ``max_response_length``: the official code sets them equal (8192), which leaves the reward at
    1.0 for every response shorter than 8092 tokens, i.e. almost inert.
    """
    if budget <= 0:
        raise ValueError(f"efficient_length_reward: budget must be positive, got budget={budget}")
    if length < 0:
        raise ValueError(f"efficient_length_reward: length must be >= 0, got length={length}")
    raw = alpha * (budget - length) + delta
    return min(1.0, max(0.0, raw))
