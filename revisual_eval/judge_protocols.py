"""Each benchmark's official judged procedure, on one scored row.

A protocol takes a row that the rules have already scored (``extracted_answer``, ``correct``) and
``ask``, a function that sends chat messages to the judge and returns its reply (raising when the
call fails). It returns the judged verdict. Failures are not handled here: the caller keeps the
rule verdict for that row and counts it (:mod:`revisual_eval.judging`).

| benchmark | procedure (official evaluator) |
|---|---|
| MathVerse | the judge extracts the answer, then judges it against the standard answer: 1 or 0 |
| MathVista | the judge extracts the answer; then MathVista's normalisation (a letter, or the most similar option text, for multiple choice; rounding to ``precision``) and an exact comparison |
| LogicVista | the judge names the chosen letter(s); the sets of letters must be equal |
| DynaMath, WeMath | rules; the judge extracts an answer only where the rules find none (VLMEvalKit's fallback) |

MathVision, AIME, GPQA and MATH-500 are rule-based in their official evaluators and have no
protocol here.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable

from reward_fns.choices import letter_set

from revisual_eval import judge_prompts as prompts
from revisual_eval.answers import JUDGES, judge_letter_set, judge_mathvista

Ask = Callable[[list[dict]], str]

JUDGED = "judged"
RULE = "rule"


@dataclass(frozen=True)
class JudgedVerdict:
    """The judged answer and verdict of a row; ``status`` is ``judged`` (the judge decided) or
    ``rule`` (the protocol keeps the rule verdict for this row)."""

    answer: str | None
    correct: bool
    status: str = JUDGED


def question_of(row: dict) -> str:
    """The question text a judge sees: the reference's ``question``, else the row's prompt."""
    return row["reference"].get("question") or row.get("prompt") or ""


def mathverse_protocol(row: dict, ask: Ask, max_chars: int) -> JudgedVerdict:
    """Extract, then judge consistency with the standard answer."""
    answer = prompts.read_extraction(ask(prompts.extraction_messages(question_of(row), row["response"], max_chars)))
    if answer is None:
        return JudgedVerdict(None, False)
    same = prompts.read_consistency(ask(prompts.consistency_messages(question_of(row), row["reference"]["answer"], answer)))
    return JudgedVerdict(answer, same)


def mathvista_option(answer: str, choices: list[str]) -> str:
    """MathVista's multiple-choice normalisation: an option letter becomes that option's text; any
    other answer becomes the most similar option text (``difflib`` similarity; the official
    evaluator uses edit distance)."""
    letters = letter_set(answer.strip())
    if letters is not None and len(letters) == 1:
        index = ord(next(iter(letters))) - ord("A")
        if index < len(choices):
            return choices[index]
    if answer in choices:
        return answer
    return max(choices, key=lambda choice: difflib.SequenceMatcher(None, answer.lower(), choice.lower()).ratio())


def mathvista_protocol(row: dict, ask: Ask, max_chars: int) -> JudgedVerdict:
    """Extract, normalise as MathVista does, compare with the gold."""
    reference = row["reference"]
    answer = prompts.read_extraction(ask(prompts.extraction_messages(question_of(row), row["response"], max_chars)))
    if answer is None:
        return JudgedVerdict(None, False)
    choices = reference.get("choices") or []
    if reference.get("question_type") == "multi_choice" and choices:
        option = mathvista_option(answer, choices)
        return JudgedVerdict(option, option.strip() == reference["answer"].strip())
    return JudgedVerdict(answer, judge_mathvista(answer, reference))


def logicvista_protocol(row: dict, ask: Ask, max_chars: int) -> JudgedVerdict:
    """The judge names the letters; LogicVista's set comparison decides."""
    answer = prompts.read_extraction(ask(prompts.letters_messages(question_of(row), row["response"], max_chars)))
    if answer is None:
        return JudgedVerdict(None, False)
    return JudgedVerdict(answer, judge_letter_set(answer, row["reference"]))


def fallback_protocol(benchmark: str):
    """VLMEvalKit's fallback: the rule verdict where the rules found an answer, else the judge
    extracts one and the benchmark's rule scores it."""

    def protocol(row: dict, ask: Ask, max_chars: int) -> JudgedVerdict:
        if row.get("extracted_answer") is not None:
            return JudgedVerdict(row["extracted_answer"], bool(row["correct"]), RULE)
        answer = prompts.read_extraction(ask(prompts.extraction_messages(question_of(row), row["response"], max_chars)))
        if answer is None:
            return JudgedVerdict(None, False)
        return JudgedVerdict(answer, bool(JUDGES[benchmark](answer, row["reference"])))

    return protocol


PROTOCOLS: dict[str, Callable[[dict, Ask, int], JudgedVerdict]] = {
    "mathverse": mathverse_protocol,
    "mathvista": mathvista_protocol,
    "logicvista": logicvista_protocol,
    "dynamath": fallback_protocol("dynamath"),
    "wemath": fallback_protocol("wemath"),
}
"""Benchmarks whose official (or VLMEvalKit's) evaluator uses an LLM; the others stay rule-based."""
