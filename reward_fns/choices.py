"""Multiple-choice answers: option letters, letter sets and option-text decorations."""

from __future__ import annotations

import re

OPTION_LETTERS = "ABCDEFGHIJ"

_LABEL_WORDS = re.compile(r"^(?:the\s+)?(?:correct\s+)?(?:option|choice|answer)\s*(?:is\s*)?:?\s*", re.IGNORECASE)
# ``B``, ``(B)``, ``[B]``, ``B.``, ``B)``, ``B:`` optionally followed by the option's text.
_SINGLE_LABEL = re.compile(r"^([(\[]?)([A-J])([)\]]?)(?:\s*[.:)]\s*(.*)|\s+(.+))?$", re.DOTALL)
_LETTER_SET = re.compile(r"^\(?[A-J]\)?(?:\s*(?:,|;|&|/|\band\b|\s)\s*\(?[A-J]\)?)+$")
_LETTER_RUN = re.compile(r"^[A-J]{2,10}$")


def _strip_label_words(text: str) -> str:
    return _LABEL_WORDS.sub("", text.strip()).strip()


def letter_set(text: str) -> frozenset[str] | None:
    """Letters of a pure letter answer (``B``, ``(B)``, ``A, C``, ``AC``, ``A and C``), else None.

    ``B. 12`` is not a pure letter answer; see :func:`split_option_label`.
    """
    t = _strip_label_words(text).rstrip(".")
    if len(t) == 1 and t in OPTION_LETTERS:
        return frozenset(t)
    m = re.fullmatch(r"[(\[]([A-J])[)\]]", t)
    if m:
        return frozenset(m.group(1))
    if _LETTER_RUN.match(t):
        letters = frozenset(t)
        return letters if len(letters) == len(t) else None
    if _LETTER_SET.match(t):
        return frozenset(re.findall(r"[A-J]", t))
    return None


def split_option_label(text: str) -> tuple[str | None, str | None]:
    """Split ``B. 12`` / ``(B) 2\\sqrt{2}`` / ``Option B`` into (letter, option text or None).

    Returns (None, None) if the answer does not start with an option label.
    """
    t = _strip_label_words(text)
    m = _SINGLE_LABEL.match(t)
    if not m:
        return None, None
    letter = m.group(2)
    rest = (m.group(4) or m.group(5) or "").strip() or None
    if m.group(5) is not None and not (m.group(1) or m.group(3)):
        # ``A 12`` is ambiguous with prose ("A triangle"); require a delimiter after a bare letter.
        return None, None
    return letter, rest


def is_letter_gold(gold: str) -> bool:
    """True if a gold answer is an option letter or a set of option letters."""
    return letter_set(gold) is not None


def choice_letter_for_text(text: str, choices: list[str], same) -> str | None:
    """Letter of the single choice whose text ``same(text, choice)`` accepts, else None."""
    hits = [OPTION_LETTERS[i] for i, choice in enumerate(choices[: len(OPTION_LETTERS)]) if same(text, choice)]
    return hits[0] if len(hits) == 1 else None
