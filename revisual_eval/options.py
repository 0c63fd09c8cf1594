"""Option lists written inside question text (MathVerse, DynaMath) or as one string (WeMath).

Scoring needs the option texts to accept an answer given as the option's content instead of its
letter. Labels are looked for in order (A, then B, ...), which keeps a stray "A." in the question
from starting a fake list.
"""

from __future__ import annotations

import re

LETTERS = "ABCDEFGHIJ"
_CHOICES_HEADER = re.compile(r"(?:choices|options)\s*:", re.IGNORECASE)


def _label(letter: str) -> re.Pattern:
    # "(A) text", "A: text", "A. text", "A) text"; the label starts the text or follows a
    # space, a newline or WeMath's ";" separator.
    return re.compile(rf"(?:(?<=[\s;])|^)(?:\({letter}\)|{letter}\s*[:.)])\s*")


def split_labelled_options(text: str) -> list[str]:
    """Option texts of ``A: x\\nB: y`` / ``(A) x (B) y`` / ``A. x;B. y`` in letter order.

    Returns [] unless at least two consecutive labels from A are found.
    """
    starts: list[tuple[int, int]] = []
    pos = 0
    for letter in LETTERS:
        match = _label(letter).search(text, pos)
        if match is None:
            break
        starts.append((match.start(), match.end()))
        pos = match.end()
    if len(starts) < 2:
        return []
    options = []
    for i, (_, content_start) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        options.append(text[content_start:end].strip().rstrip(";").strip())
    return options


def options_in_question(question: str) -> list[str]:
    """The options after the last ``Choices:``/``Options:`` header of a question, or []."""
    headers = list(_CHOICES_HEADER.finditer(question))
    if not headers:
        return []
    return split_labelled_options(question[headers[-1].end() :])


def is_bare_letter_list(options: list[str]) -> bool:
    """True for MathVision's ``["A", "B", ...]`` option lists, whose content is only in the image."""
    return bool(options) and all(text.strip() == LETTERS[i] for i, text in enumerate(options))
