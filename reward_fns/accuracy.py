"""Answer accuracy of a whole response: extract, refuse hedges, accept the boxes of a solution
set, check equivalence, all inside one time budget."""

from __future__ import annotations

import time
from dataclasses import dataclass

from reward_fns.equivalence import DEFAULT_TIMEOUT_S, analyse, check_equivalence, fast_equivalence
from reward_fns.extract import extract_answer_candidates

MAX_DISTINCT_ANSWERS = 16
"""More different final boxes than this is a hedge without looking further (bounds the work on a
response with thousands of boxes)."""


@dataclass(frozen=True)
class AnswerScore:
    """Accuracy of one response and why: extracted answer, hedge, timeout, error, check path."""

    acc: float
    answer: str | None
    hedged: bool = False
    timed_out: bool = False
    error: bool = False
    path: str = ""


def _distinct(candidates: list[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for candidate in candidates:
        key = " ".join(candidate.split())
        if key not in seen:
            seen.add(key)
            out.append(candidate)
    return out


def gold_answer(ground_truth: str) -> str:
    """The gold answer string: unwraps a boxed or ``$``-delimited ground truth; several boxes in
    one ground truth (``\\boxed{1}`` and ``\\boxed{-2}``) are its list of answers."""
    text = str(ground_truth).strip()
    if "\\boxed" in text or "\\fbox" in text or "<answer>" in text:
        boxes = _distinct(extract_answer_candidates(text))
        if boxes:
            return ", ".join(boxes)
    while len(text) >= 2 and text[0] == "$" and text[-1] == "$":
        text = text[1:-1].strip()
    return text


def is_hedged(candidates: list[str]) -> bool:
    """Several final answers that are not all cheaply equal to the last one: a hedge."""
    distinct = _distinct(candidates)
    if len(distinct) < 2:
        return False
    if len(distinct) > MAX_DISTINCT_ANSWERS:
        return True
    last = distinct[-1]
    return any(fast_equivalence(c, last)[0] is not True for c in distinct[:-1])


def is_solution_set(gold: str) -> bool:
    """The gold lists several answers ("find all"): ``(2,1),(1,2)``, ``\\{1,2,3\\}``, ``1 \\pm \\sqrt2``."""
    node = analyse(gold)[1]
    if node is None:
        return False
    if node[0] in ("list", "set"):
        return len(node[1]) > 1
    return node[0] == "pm"


def score_answer(
    response: str,
    ground_truth: str,
    *,
    choices: list[str] | None = None,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    pool=None,
) -> AnswerScore:
    """Score a response against a ground truth with full provenance.

    No answer, a hedge (several different final boxed answers) or a timeout score 0. Several
    boxes that together list a "find all" gold's solutions (``\\boxed{(1, 2)}, \\boxed{(2, 1)}``
    for ``(2,1),(1,2)``) are read as that list; against a single-valued gold they stay a hedge.
    ``timeout_s`` is a hard bound on the symbolic step, which gets what is left of it after
    extraction. Extraction and the fast checks run in the calling thread and cannot be
    interrupted; they are kept short instead (one linear scan, each distinct box once, at most 16
    distinct boxes compared), and the deadline is checked before the symbolic step. Scoring in a
    :class:`~reward_fns.deadline.ScoringPool` process (as the reward manager does) bounds all of
    it. Other arguments as in :func:`reward_fns.is_equivalent`.
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    candidates = extract_answer_candidates(response)
    if not candidates:
        return AnswerScore(0.0, None, path="no_answer")
    answer = candidates[-1]
    gold = gold_answer(ground_truth)
    path_prefix = ""
    if is_hedged(candidates):
        distinct = _distinct(candidates)
        if len(distinct) > MAX_DISTINCT_ANSWERS or not is_solution_set(gold):
            return AnswerScore(0.0, answer, hedged=True, path="hedged")
        answer, path_prefix = ", ".join(distinct), "multi_box:"
    remaining = None
    if deadline is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return AnswerScore(0.0, answer, timed_out=True, path=path_prefix + "deadline")
    result = check_equivalence(answer, gold, choices=choices, timeout_s=remaining, pool=pool)
    return AnswerScore(
        1.0 if result.equal else 0.0,
        answer,
        timed_out=result.timed_out,
        error=result.error,
        path=path_prefix + result.path,
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
    thread; ``timeout_s`` bounds the symbolic step (see :func:`score_answer`)."""
    return score_answer(response, ground_truth, choices=choices, timeout_s=timeout_s, pool=pool).acc
