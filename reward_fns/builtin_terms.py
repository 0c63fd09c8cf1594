"""The built-in reward terms, registered under the names used in ``reward.terms``."""

from __future__ import annotations

from reward_fns.format import format_reward
from reward_fns.heuristics import image_revisit_reward, repetition_reward, self_critique_reward
from reward_fns.length import efficient_length_reward
from reward_fns.registry import register_reward


@register_reward("accuracy")
def accuracy_term(acc: float) -> float:
    """0/1 answer accuracy (computed once per sample by the composite scorer)."""
    return acc


@register_reward("efficient_length")
def efficient_length_term(response_length: int, length_budget: int, length_alpha: float, length_delta: float) -> float:
    """The paper's efficient-length reward with the configured budget, alpha and delta."""
    return efficient_length_reward(response_length, length_budget, length_alpha, length_delta)


@register_reward("format")
def format_term(response: str) -> float:
    """``<think>...</think>`` followed by a boxed answer."""
    return format_reward(response)


@register_reward("self_critique")
def self_critique_term(response: str) -> float:
    """Opt-in heuristic from the released code (not in the paper)."""
    return self_critique_reward(response)


@register_reward("image_revisit")
def image_revisit_term(response: str) -> float:
    """Opt-in heuristic from the released code (not in the paper)."""
    return image_revisit_reward(response)


@register_reward("repetition")
def repetition_term(response: str) -> float:
    """Opt-in heuristic from the released code (not in the paper); 1 means no repetition."""
    return repetition_reward(response)
