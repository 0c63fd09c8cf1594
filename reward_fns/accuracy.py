"""Answer accuracy of a whole response: extract, refuse hedges, check equivalence."""

from __future__ import annotations

from dataclasses import dataclass

from reward_fns.equivalence import DEFAULT_TIMEOUT_S, check_equivalence, fast_equivalence
from reward_fns.extract import extract_answer, extract_answer_candidates


@dataclass(frozen=True)
class AnswerScore:
    """Accuracy of one response and why: extracted answer, hedge, timeout, error, check path."""

    acc: float
    answer: str | None
    hedged: bool = False
    timed_out: bool = False
    error: bool = False
    path: str = ""


def gold_answer(ground_truth: str) -> str:
    """The gold answer string: unwraps a boxed or ``$``-delimited ground truth."""
    text = str(ground_truth).strip()
    if "\\boxed" in text or "<answer>" in text:
        inner = extract_answer(text)
        if inner is not None:
            return inner
    while len(text) >= 2 and text[0] == "$" and text[-1] == "$":
        text = text[1:-1].strip()
    return text


def is_hedged(candidates: list[str]) -> bool:
    """Several final answers that are not all cheaply equal to the last one: a hedge."""
    if len(candidates) < 2:
        return False
    last = candidates[-1]
    return any(fast_equivalence(c, last)[0] is not True for c in candidates[:-1])


def score_answer(
    response: str,
    ground_truth: str,
    *,
    choices: list[str] | None = None,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    pool=None,
) -> AnswerScore:
    """Score a response against a ground truth with full provenance.

    No answer, a hedge (several different final boxed answers) or a symbolic timeout score 0.
    Arguments as in :func:`reward_fns.is_equivalent`.
    """
    candidates = extract_answer_candidates(response)
    if not candidates:
        return AnswerScore(0.0, None, path="no_answer")
    answer = candidates[-1]
    if is_hedged(candidates):
        return AnswerScore(0.0, answer, hedged=True, path="hedged")
    result = check_equivalence(answer, gold_answer(ground_truth), choices=choices, timeout_s=timeout_s, pool=pool)
    return AnswerScore(
        1.0 if result.equal else 0.0,
        answer,
        timed_out=result.timed_out,
        error=result.error,
        path=result.path,
    )


def accuracy_reward(
    response: str,
    ground_truth: str,
    *,
    choices: list[str] | None = None,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    pool=None,
) -> float:
    """1.0 if the response's final answer (see :func:`extract_answer`) equals the ground truth,
    else 0.0.  Hedged answers, missing answers and timeouts score 0.0.  Safe to call from any
    thread; the symbolic step has a hard deadline of ``timeout_s`` seconds (see
    :func:`is_equivalent`)."""
    return score_answer(response, ground_truth, choices=choices, timeout_s=timeout_s, pool=pool).acc
