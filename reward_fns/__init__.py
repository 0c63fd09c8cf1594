"""Rule-based rewards for ReVisual-R1 training and evaluation.

Light to import: no torch, verl, ray or sympy at import time (math-verify is loaded only when a
pair of answers needs the symbolic checker, and then in a scoring process by default).
"""

from reward_fns.accuracy import AnswerScore, accuracy_reward, gold_answer, score_answer
from reward_fns.composite import (
    DEFAULT_TERMS,
    CompositeReward,
    compose_rewards,
    parse_terms,
    summarize_reward_infos,
)
from reward_fns.deadline import CallResult, ScoringPool, default_pool, set_default_pool
from reward_fns.equivalence import EquivalenceResult, check_equivalence, is_equivalent
from reward_fns.extract import extract_answer, extract_answer_candidates, extract_answer_eval
from reward_fns.format import format_reward
from reward_fns.heuristics import image_revisit_reward, repetition_reward, self_critique_reward
from reward_fns.length import efficient_length_reward
from reward_fns.registry import get_reward, register_reward, registered_rewards

import reward_fns.builtin_terms  # noqa: E402,F401  (registers the built-in term names)

__all__ = [
    "AnswerScore",
    "CallResult",
    "CompositeReward",
    "DEFAULT_TERMS",
    "EquivalenceResult",
    "ScoringPool",
    "accuracy_reward",
    "check_equivalence",
    "compose_rewards",
    "default_pool",
    "efficient_length_reward",
    "extract_answer",
    "extract_answer_candidates",
    "extract_answer_eval",
    "format_reward",
    "get_reward",
    "gold_answer",
    "image_revisit_reward",
    "is_equivalent",
    "parse_terms",
    "register_reward",
    "registered_rewards",
    "repetition_reward",
    "score_answer",
    "self_critique_reward",
    "set_default_pool",
    "summarize_reward_infos",
]
