"""Prompt text for each benchmark, following the paper's eval code where it has one.

The system message is the ``--system-prompt`` default of ReVisual-R1's ``eval/src/main.py``. The
user turn is the image(s) first, then the text built here.
"""

from __future__ import annotations

import random

SYSTEM_PROMPT = (
    "You FIRST think about the reasoning process as an internal monologue and then provide the final answer. "
    "The reasoning process MUST BE enclosed within <think> </think> tags. The final answer MUST BE put in \\boxed{}."
)
"""ReVisual-R1 eval default, sent as the system message (or appended to the user turn on request)."""

REVISUAL_CHOICES_HINT = (
    "Please first conduct reasoning, and then answer the question and provide the correct option letter, "
    "e.g., A, B, C, D, at the end."
)
LETTERS = "ABCDEFGHIJ"


def mathvision_prompt(question: str, options: list[str], *, empty_choices_block: bool = False) -> str:
    """ReVisual-R1's MathVision prompt: hint, question, ``Choices:`` with ``A: text`` lines.

    The released code also gives free-form items the hint and an empty ``Choices:`` block; that
    quirk is reproduced only with ``empty_choices_block``.
    """
    if options:
        lines = [f"{LETTERS[i]}: {text}" for i, text in enumerate(options)]
        return f"{REVISUAL_CHOICES_HINT}\nQuestion: {question}\nChoices:\n" + "\n".join(lines)
    if empty_choices_block:
        return f"{REVISUAL_CHOICES_HINT}\nQuestion: {question}\nChoices:\n"
    return f"Question: {question}"


def wemath_prompt(question: str, option: str) -> str:
    """lmms-eval's WeMath rendering: the question, then the one-string option list."""
    return f"{question}\n{option}"


def logicvista_prompt(question: str) -> str:
    """The question (its options are in the text or in the image) and how to answer."""
    return f"{question}\nAnswer with the letter(s) of the correct option(s)."


def gpqa_options(record_id: str, correct: str, incorrect: list[str], seed: int = 0) -> tuple[list[str], str]:
    """The four GPQA options in an order fixed by ``record_id`` and ``seed``, and the gold letter.

    The standard evaluators shuffle unseeded; seeding per record makes reruns and resumes agree.
    """
    options = [correct, *incorrect]
    random.Random(f"gpqa:{seed}:{record_id}").shuffle(options)
    return options, LETTERS[options.index(correct)]


def gpqa_prompt(question: str, options: list[str]) -> str:
    """The common boxed-letter GPQA form: question, ``Answer Choices: (A) .. (D) ..``, instruction."""
    rendered = " ".join(f"({LETTERS[i]}) {text}" for i, text in enumerate(options))
    return f"{question}\nAnswer Choices: {rendered}\nOutput your final answer in boxes, such as \\boxed{{A}}."


MMMU_CHOICE_INSTRUCTION = "Answer with the option's letter from the given choices directly."
MMMU_OPEN_INSTRUCTION = "Answer the question using a single word or phrase."


def mmmu_prompt(question: str, options: list[str], question_type: str) -> str:
    """MMMU's prompt (its repo's ``construct_prompt``, lmms-eval's default): the question, the
    options as ``A. text`` lines, and the instruction for the question type."""
    if question_type == "multiple-choice":
        listed = "\n".join(f"{LETTERS[i]}. {text}" for i, text in enumerate(options))
        return f"{question}\n{listed}\n\n{MMMU_CHOICE_INSTRUCTION}"
    return f"{question}\n\n{MMMU_OPEN_INSTRUCTION}"


def build_messages(user_text: str, num_images: int, *, system_prompt: str | None, placement: str = "system") -> list[dict]:
    """Chat messages: optional system message, then a user turn with the images first.

    ``placement="user"`` appends the instruction to the user text instead (as the paper's training
    template and ``infer.py`` do).
    """
    if placement not in ("system", "user"):
        raise ValueError(f"prompt placement must be 'system' or 'user', not {placement!r}")
    text = user_text
    messages = []
    if system_prompt:
        if placement == "system":
            messages.append({"role": "system", "content": system_prompt})
        else:
            text = f"{user_text}\n{system_prompt}"
    content = [{"type": "image"} for _ in range(num_images)] + [{"type": "text", "text": text}]
    messages.append({"role": "user", "content": content})
    return messages
