"""MMMU's official answer protocol (MMMU-Benchmark/MMMU ``eval/eval_utils.py``, which lmms-eval and
VLMEvalKit reuse), rewritten here so that scoring never imports either tool.

* Multiple choice: the response is searched for ``(A)``, then for a bare `` A ``, then (in a response
  of more than five words) for an option's text; several candidates: the one that occurs last. No
  candidate: the official code guesses a random letter. We guess too, so scores match theirs, but
  with a generator seeded by the response, so a re-score gives the same number, and the row is
  counted as unanswered.
* Open answers: the tail of each sentence after an indicator ("so", "is", "therefore", "answer",
  ... and "=" in the last sentence) is kept, numbers in it are extracted, everything is normalised
  (numbers rounded to 2 decimals, text lower-cased); right when a gold number equals a predicted
  number or a gold string occurs inside a predicted string.

ReVisual's prompt asks for ``\\boxed{}``: when the response has a final answer (``\\boxed{}``,
``<answer>``, "the answer is"), the protocol runs on that answer, otherwise on the whole response
as the official code does.
"""

from __future__ import annotations

import ast
import random
import re
import zlib

LETTERS = "ABCDEFGHIJ"
_KEY_INDICATORS = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ")
_TRIVIAL_TAILS = {":", ",", ".", "!", "?", ";", "'"}
_NUMBER_WITH_COMMAS = re.compile(r"-?\b\d{1,3}(?:,\d{3})+\b")
_NUMBER_SCIENTIFIC = re.compile(r"-?\d+(?:\.\d+)?[eE][+-]?\d+")
_NUMBER_SIMPLE = re.compile(r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])")


def parse_options(text) -> list[str]:
    """MMMU stores ``options`` as the text of a Python list (``"['1', '2']"``); '[]' for open questions."""
    if isinstance(text, (list, tuple)):
        return [str(option) for option in text]
    if hasattr(text, "tolist"):
        return [str(option) for option in text.tolist()]
    value = ast.literal_eval(text) if isinstance(text, str) and text.strip() else []
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"options is not a list: {text!r:.80}")
    return [str(option) for option in value]


def gold_answers(answer: str) -> list[str]:
    """An open question's gold: one string, or several when MMMU stores a list's text."""
    text = answer.strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return [answer]
        if isinstance(value, (list, tuple)):
            return [str(entry) for entry in value]
    return [answer]


def parse_choice(response: str, choices: list[str]) -> str | None:
    """The option letter a response picks, or None when nothing in it points to one."""
    letters = list(LETTERS[: len(choices)])
    for char in (",", ".", "!", "?", ";", ":", "'"):
        response = response.strip(char)
    padded = f" {response} "
    candidates = [letter for letter in letters if f"({letter})" in padded]
    marker = "({})"
    if not candidates:
        candidates = [letter for letter in letters if f" {letter} " in padded]
        marker = " {} "
    by_text = False
    if not candidates and len(padded.split()) > 5:
        # The option's own text: the official code looks for it only in a longer response.
        candidates = [letter for letter, text in zip(letters, choices) if text.lower() in padded.lower()]
        by_text = True
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    lowered = padded.lower()

    def last_position(letter: str) -> int:
        if by_text:
            return lowered.rfind(choices[letters.index(letter)].lower())
        return padded.rfind(marker.format(letter))

    return max(candidates, key=last_position)


def guess_choice(response: str, choices: list[str]) -> str:
    """The official random guess, seeded by the response so that scores are reproducible."""
    return random.Random(zlib.crc32(response.encode("utf-8"))).choice(LETTERS[: len(choices)])


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def normalize(text: str) -> list:
    """A number rounded to 2 decimals, or the lower-cased text; one letter is padded with a space
    on either side so that it only matches as a word."""
    text = text.strip()
    if _is_number(text):
        return [round(float(text.replace(",", "")), 2)]
    text = text.lower()
    return [" " + text, text + " "] if len(text) == 1 else [text]


def _key_tails(response: str) -> list[str]:
    response = response.strip().strip(".").lower()
    sentences = re.split(r"\.\s(?=[A-Z])|\n", response)
    tails = []
    for index, sentence in enumerate(sentences):
        indicators = _KEY_INDICATORS + (("=",) if index == len(sentences) - 1 else ())
        shortest = None
        for indicator in indicators:
            if indicator in sentence:
                tail = sentence.split(indicator)[-1].strip()
                if shortest is None or len(tail) < len(shortest):
                    shortest = tail
        if shortest and shortest.strip() not in _TRIVIAL_TAILS:
            tails.append(shortest)
    return tails or [response]


def parse_open(response: str) -> list:
    """The normalised candidates an open response gives (strings and numbers)."""
    tails = _key_tails(response)
    found = list(tails)
    for tail in tails:
        found += _NUMBER_WITH_COMMAS.findall(tail) + _NUMBER_SCIENTIFIC.findall(tail) + _NUMBER_SIMPLE.findall(tail)
    values = []
    for text in found:
        for value in normalize(text):
            if value not in values:
                values.append(value)
    return values


def open_correct(predictions: list, answer: str) -> bool:
    golds = [value for gold in gold_answers(answer) for value in normalize(gold)]
    for prediction in predictions:
        if isinstance(prediction, str):
            if any(isinstance(gold, str) and gold in prediction for gold in golds):
                return True
        elif prediction in golds:
            return True
    return False
