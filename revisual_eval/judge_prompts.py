"""What the LLM judge is asked, and how its replies are read. Pure functions, no I/O.

The procedures follow each benchmark's official evaluator (the wording and the examples are our
own):

* answer extraction with worked examples (MathVista's and MathVerse's first step): the judge copies
  the final answer out of a response, or says there is none;
* a consistency judgement (MathVerse's second step): given the question, the standard answer and
  the extracted answer, the judge replies 1 (same answer) or 0;
* letter extraction (LogicVista): the judge names the option letter(s) a response chose.
"""

from __future__ import annotations

import re

NO_ANSWER = "NONE"
"""What the judge replies when a response gives no final answer."""

_THINK_END = "</think>"


def response_tail(response: str, max_chars: int) -> str:
    """The part of a response a judge needs: after the last ``</think>`` if there is one, then
    at most the last ``max_chars`` characters (the final answer is at the end)."""
    text = response.rsplit(_THINK_END, 1)[-1] if _THINK_END in response else response
    text = text.strip()
    return text if len(text) <= max_chars else "…" + text[-max_chars:]


_EXTRACT_INSTRUCTION = (
    "You read the end of a model's answer to a problem and copy out the final answer it commits to.\n"
    "- Copy the answer itself: an option letter, a number (with its unit if it has one), an expression, "
    "an interval, a list or a short phrase.\n"
    "- If the model gives an option's text instead of its letter, copy that text.\n"
    f"- If the model gives no final answer, or refuses, reply {NO_ANSWER}.\n"
    "Reply with the answer only, on one line, with no explanation."
)

# Our own worked examples, covering the answer shapes of the ten benchmarks.
_EXTRACT_EXAMPLES = [
    (
        "The two triangles are similar, so the ratio of their sides is 3:5 and x = 12 * 5 / 3 = 20.\n"
        "So the length of x is 20 cm.",
        "20 cm",
    ),
    ("Comparing the bars, the tallest one belongs to March.\nAnswer: (C) March", "C"),
    ("Reading both curves, they meet where t = 2, which is the option 'They meet at t = 2'.", "They meet at t = 2"),
    ("Solving gives x in the interval \\((-3, 1]\\), so the solution set is (-3, 1].", "(-3, 1]"),
    ("The picture is too blurry to read the labels, so I cannot determine the value.", NO_ANSWER),
    ("Summing the probabilities: 0.25 + 0.125 = 0.375. Therefore the final answer is \\boxed{\\frac{3}{8}}.", "\\frac{3}{8}"),
]


def extraction_messages(question: str, response: str, max_chars: int) -> list[dict]:
    """Chat messages asking the judge for a response's final answer (with worked examples)."""
    shots = "\n\n".join(
        f"Example {i}\nModel answer:\n{text}\nFinal answer: {answer}" for i, (text, answer) in enumerate(_EXTRACT_EXAMPLES, 1)
    )
    user = (
        f"{shots}\n\nNow the real one.\nProblem:\n{question.strip() or '(shown in an image)'}\n"
        f"Model answer:\n{response_tail(response, max_chars)}\nFinal answer:"
    )
    return [{"role": "system", "content": _EXTRACT_INSTRUCTION}, {"role": "user", "content": user}]


def read_extraction(reply: str) -> str | None:
    """The extracted answer from a judge reply, or None where it says there is none."""
    text = reply.strip()
    text = re.sub(r"^(?:final\s+answer|extracted\s+answer|answer)\s*:\s*", "", text, flags=re.IGNORECASE).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    answer = lines[0].strip().strip("`").strip()
    if not answer or answer.upper().rstrip(".") in (NO_ANSWER, "NULL", "N/A"):
        return None
    return answer


_CONSISTENCY_INSTRUCTION = (
    "You check whether a model's answer to a math question is the same as the standard answer.\n"
    "- For a multiple-choice question, the answers are the same only if they pick the same option, "
    "whether by its letter or by its text.\n"
    "- Otherwise they are the same if they state the same value or result, possibly written another way "
    "(for example 0.5 m and 50 cm, or 1/2 and 0.5). A partial answer, a different value or a missing "
    "answer is not the same.\n"
    "Reply with a single digit: 1 if the answers are the same, 0 if not."
)

_CONSISTENCY_EXAMPLES = [
    ("Which interval is shaded on the number line?", "(-2, 1]", "(-2, 1)", "0"),
    ("Is this relation a function?\nChoices:\nA: yes\nB: no", "B", "no", "1"),
    ("How long is the ladder?", "5 m", "500 cm", "1"),
    ("Give the domain and the range of f.", "domain [-4, 0), range (-3, 1]", "range (-3, 1]", "0"),
]


def consistency_messages(question: str, standard: str, candidate: str) -> list[dict]:
    """Chat messages asking whether ``candidate`` is the same answer as ``standard`` (MathVerse step 2)."""
    shots = "\n\n".join(
        f"Question: {q}\nStandard answer: {s}\nModel answer: {c}\nSame: {v}" for q, s, c, v in _CONSISTENCY_EXAMPLES
    )
    user = f"{shots}\n\nQuestion: {question.strip() or '(shown in an image)'}\nStandard answer: {standard}\nModel answer: {candidate}\nSame:"
    return [{"role": "system", "content": _CONSISTENCY_INSTRUCTION}, {"role": "user", "content": user}]


class UnreadableReply(ValueError):
    """A judge reply that does not say what was asked (for example no 0 or 1)."""


def read_consistency(reply: str) -> bool:
    """True for a reply that says 1, False for 0; :class:`UnreadableReply` otherwise."""
    digits = re.findall(r"(?<![\d.])[01](?![\d.])", reply)
    if len(set(digits)) != 1:
        raise UnreadableReply(f"expected 0 or 1, got {reply.strip()[:80]!r}")
    return digits[0] == "1"


_LETTERS_INSTRUCTION = (
    "You read a model's answer to a multiple-choice question and report which option(s) it chose.\n"
    "- Reply with the chosen letter(s) only, separated by commas if there are several (for example: B or A, C).\n"
    "- If the answer names an option by its content, reply with that option's letter.\n"
    f"- If it chooses no option, reply {NO_ANSWER}."
)


def letters_messages(question: str, response: str, max_chars: int) -> list[dict]:
    """Chat messages asking for the option letter(s) a response chose (LogicVista)."""
    user = f"Question:\n{question.strip() or '(shown in an image)'}\n\nModel answer:\n{response_tail(response, max_chars)}\n\nChosen letter(s):"
    return [{"role": "system", "content": _LETTERS_INSTRUCTION}, {"role": "user", "content": user}]
