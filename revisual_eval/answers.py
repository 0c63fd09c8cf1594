"""Per-benchmark verdicts: the answer a response gives and whether it matches the reference.

Built on ``reward_fns`` (extraction, normalisation, option-aware equivalence); what is added here is
each benchmark's own rule from its standard evaluator: MathVision's letter-or-option-text, MathVista's
option *text* gold and precision rounding, DynaMath's 1e-3 tolerance and substring text answers,
WeMath's "Answer" fallback, LogicVista's letter sets, MMMU's official parser (:mod:`revisual_eval.mmmu`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from reward_fns import check_equivalence, extract_answer_eval
from reward_fns.choices import letter_set
from reward_fns.normalize import normalize_answer
from reward_fns.numeric import evaluate_constant, parse_exact

from revisual_eval import mmmu

DYNAMATH_TOLERANCE = 1e-3
_WEMATH_ANSWER = re.compile(r"answer", re.IGNORECASE)


@dataclass(frozen=True)
class Verdict:
    """The extracted answer (None if the response gives none) and whether it is right."""

    answer: str | None
    correct: bool


def extract_final_answer(response: str) -> str | None:
    """The answer as the benchmarks' protocols read it (``reward_fns.extract_answer_eval``): the
    last ``\\boxed{}`` / ``<answer>`` answer, else the answer stated in prose ("The final answer
    is $x$", "so the answer is 12")."""
    return extract_answer_eval(response)


def number_value(text: str) -> float | None:
    """A plain or closed-form constant as a float (units, ``%``, degrees stripped), else None."""
    normalized = normalize_answer(text).text
    exact = parse_exact(normalized)
    if exact is not None:
        return float(exact)
    return evaluate_constant(normalized)


def equivalent(pred: str, gold: str, choices: list[str] | None = None) -> bool:
    """``reward_fns`` equivalence, option-aware when ``choices`` is given."""
    return check_equivalence(pred, gold, choices=choices or None).equal


def gold_letters(answer: str) -> frozenset[str] | None:
    """Letters of a gold such as ``B`` or ``A, C``; None if it is not a letter answer."""
    return letter_set(answer.strip())


# ---- per-benchmark rules ---------------------------------------------------------------------


def judge_option_or_value(pred: str, reference: dict) -> bool:
    """Letter gold: the letter, or the option's text (MathVision's multi-choice conversion). Other
    golds: math equivalence."""
    gold, choices = reference["answer"], reference.get("choices") or []
    if equivalent(pred, gold, choices):
        return True
    letters = gold_letters(gold)
    if letters is not None and len(letters) == 1 and choices:
        index = "ABCDEFGHIJ".index(next(iter(letters)))
        return index < len(choices) and equivalent(pred, choices[index])
    return False


def judge_mathvista(pred: str, reference: dict) -> bool:
    """MC gold is the option text (a letter maps to it); floats are rounded to ``precision``."""
    gold, choices = reference["answer"], reference.get("choices") or []
    if reference.get("question_type") == "multi_choice":
        return equivalent(pred, gold, choices)
    if reference.get("answer_type") == "float" and reference.get("precision") is not None:
        value, gold_value = number_value(pred), number_value(gold)
        if value is not None and gold_value is not None:
            digits = int(reference["precision"])
            return round(value, digits) == round(gold_value, digits)
    if reference.get("answer_type") == "integer":
        value, gold_value = number_value(pred), number_value(gold)
        if value is not None and gold_value is not None:
            return value == gold_value
    return equivalent(pred, gold)


def judge_dynamath(pred: str, reference: dict) -> bool:
    """Float: absolute error at most 1e-3; MC: letter (or option text); text: gold inside the answer."""
    gold, answer_type = reference["answer"], reference.get("answer_type")
    if answer_type == "float":
        value, gold_value = number_value(pred), number_value(gold)
        if value is not None and gold_value is not None:
            return abs(value - gold_value) <= DYNAMATH_TOLERANCE
        return equivalent(pred, gold)
    if answer_type == "multiple choice":
        return judge_option_or_value(pred, reference)
    if gold.strip().lower() in pred.strip().lower():
        return True
    return equivalent(pred, gold)


def judge_letter_set(pred: str, reference: dict) -> bool:
    """LogicVista: the set of letters must equal the gold's (``B, D`` = ``DB``); digit golds compare as text."""
    gold = reference["answer"]
    gold_set = gold_letters(gold)
    if gold_set is None:
        return equivalent(pred, gold)
    pred_set = letter_set(pred.strip())
    if pred_set is None:
        return False
    return pred_set == gold_set


def judge_math(pred: str, reference: dict) -> bool:
    """Plain math equivalence (AIME, MATH-500)."""
    return equivalent(pred, reference["answer"])


def mmmu_verdict(response: str, reference: dict) -> Verdict:
    """MMMU's protocol on the final answer if the response gives one, else on the whole response.

    A multiple-choice response that points to no option gets the official random guess (seeded, see
    :mod:`revisual_eval.mmmu`) as its verdict, and no extracted answer."""
    text = extract_final_answer(response) or response or ""
    if reference.get("question_type") == "multiple-choice":
        choices = reference.get("choices") or []
        letter = mmmu.parse_choice(text, choices)
        if letter is None:
            return Verdict(None, bool(choices) and mmmu.guess_choice(text, choices) == reference["answer"])
        return Verdict(letter, letter == reference["answer"])
    if not text.strip():
        return Verdict(None, False)
    return Verdict(text.strip()[:200], mmmu.open_correct(mmmu.parse_open(text), reference["answer"]))


JUDGES: dict[str, Callable[[str, dict], bool]] = {
    "mathverse": judge_option_or_value,
    "mathvision": judge_option_or_value,
    "mathvista": judge_mathvista,
    "dynamath": judge_dynamath,
    "wemath": judge_option_or_value,
    "logicvista": judge_letter_set,
    "aime24": judge_math,
    "aime25": judge_math,
    "gpqa_diamond": judge_option_or_value,
    "math500": judge_math,
}
"""Each benchmark's rule on an extracted answer. MMMU is not here: its protocol reads the whole response
(:func:`mmmu_verdict`), and no judge protocol covers it."""


def wemath_fallback(response: str) -> str | None:
    """WeMath's official extraction: the first A-H letter after the last "Answer"."""
    matches = list(_WEMATH_ANSWER.finditer(response or ""))
    if not matches:
        return None
    for ch in response[matches[-1].end() :]:
        if ch in "ABCDEFGH":
            return ch
    return None


def judge_response(benchmark: str, response: str, reference: dict) -> Verdict:
    """Extract the answer from ``response`` and apply ``benchmark``'s rule."""
    if benchmark == "mmmu":
        return mmmu_verdict(response, reference)
    answer = extract_final_answer(response)
    if answer is None and benchmark == "wemath":
        answer = wemath_fallback(response)
    if answer is None:
        return Verdict(None, False)
    return Verdict(answer, bool(JUDGES[benchmark](answer, reference)))
