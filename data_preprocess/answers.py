"""Ground-truth extraction from public-set solution fields."""

import re

from data_preprocess.validation import RowError

_BOXED_OPENERS = ("\\boxed{", "\\fbox{")
_GSM8K_MARKER = re.compile(r"####\s*(.+?)\s*$", re.DOTALL)


def last_boxed_content(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``) with balanced braces, else None."""
    start = max(text.rfind(opener) for opener in _BOXED_OPENERS)
    if start < 0:
        return None
    position = text.index("{", start) + 1
    depth = 1
    for index in range(position, len(text)):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[position:index].strip()
    return None


def answer_from_solution(solution: str, field: str = "solution") -> str:
    """The boxed answer of a MATH solution; rows without one cannot be verified and are dropped."""
    answer = last_boxed_content(solution)
    if not answer:
        raise RowError("missing_field", field, "no \\boxed{...} answer in the solution")
    return answer


def gsm8k_final_answer(answer_field: str, field: str = "answer") -> str:
    """The number after ``####`` in a GSM8K answer, without thousands separators."""
    match = _GSM8K_MARKER.search(answer_field)
    if not match:
        raise RowError("missing_field", field, "no '#### <answer>' line in the GSM8K answer")
    return match.group(1).replace(",", "").strip()
