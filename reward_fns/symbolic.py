"""Symbolic equivalence through math-verify, on extracted and normalised strings only.

math-verify is imported lazily (it pulls in sympy and ANTLR).  Its own SIGALRM timeouts are
disabled because they raise off the main thread; the hard deadline lives in
:mod:`reward_fns.deadline`, outside the process that runs this code.  Inputs that are known to
blow up sympy (exponent towers, huge factorials, deep nesting) are refused before parsing.
"""

from __future__ import annotations

import functools
import re

MAX_SYMBOLIC_CHARS = 300
MAX_BRACKET_DEPTH = 12
MAX_EXPONENT_DIGITS = 3

_EXPONENT = re.compile(r"\^\s*(\{[^{}]*\}|\d+)")
_TOWER = re.compile(r"\^\s*\{(?:[^{}]|\{[^{}]*\})*\^|\^\s*\d+\s*\^")
_BIG_FACTORIAL = re.compile(r"\d{4,}\s*!")
_HIGH_POWER_TRIG = re.compile(r"\\(?:sin|cos|tan|cot|sec|csc)\s*\^\s*\{?\d{3,}")


def is_pathological(text: str) -> bool:
    """True for inputs that can stall or exhaust memory in sympy.

    Refused: long inputs, bracket depth above 12, exponent towers (``a^{b^{c}}``), exponents with
    more than 3 digits, factorials of large or compound operands, and high powers of trig functions.
    """
    if len(text) > MAX_SYMBOLIC_CHARS:
        return True
    depth = max_depth = 0
    for ch in text:
        if ch in "({[":
            depth += 1
            max_depth = max(max_depth, depth)
        elif ch in ")}]":
            depth -= 1
    if max_depth > MAX_BRACKET_DEPTH:
        return True
    if _TOWER.search(text) or _BIG_FACTORIAL.search(text) or _HIGH_POWER_TRIG.search(text):
        return True
    if "!" in text and "^" in text:
        # ``(10^{10})!``: a factorial of a power is never a sane final answer.
        return True
    for m in _EXPONENT.finditer(text):
        digits = re.findall(r"\d+", m.group(1))
        if any(len(d) > MAX_EXPONENT_DIGITS for d in digits):
            return True
    return False


@functools.lru_cache(maxsize=1)
def _math_verify():
    import logging

    import math_verify

    # It warns on every call that its own timeouts are off; the deadline is ours, outside.
    for name in ("math_verify", "math_verify.grader", "math_verify.parser", "math_verify.utils"):
        logging.getLogger(name).setLevel(logging.ERROR)

    return math_verify


def _latex_configs():
    mv = _math_verify()
    return [mv.LatexExtractionConfig(boxed_match_priority=0), mv.ExprExtractionConfig()]


@functools.lru_cache(maxsize=4096)
def parse_gold(gold: str):
    """Parsed gold answer (cached: all rollouts of a prompt share one gold)."""
    mv = _math_verify()
    return tuple(
        mv.parse(
            "\\boxed{" + gold + "}",
            extraction_config=_latex_configs(),
            fallback_mode="no_fallback",
            extraction_mode="first_match",
            parsing_timeout=None,
        )
    )


def parse_prediction(pred: str):
    """Parsed prediction.  ``first_match`` only: no fishing for numbers elsewhere in the string."""
    mv = _math_verify()
    return mv.parse(
        "\\boxed{" + pred + "}",
        extraction_config=_latex_configs(),
        fallback_mode="no_fallback",
        extraction_mode="first_match",
        parsing_timeout=None,
    )


def symbolic_equivalent(pred: str, gold: str) -> bool:
    """math-verify equivalence of two normalised answers; False for refused or unparsable input.

    Runs with math-verify's internal timeouts off: call it in a process that an outside deadline
    can kill (see :class:`reward_fns.deadline.ScoringPool`).
    """
    if is_pathological(pred) or is_pathological(gold):
        return False
    gold_parsed = parse_gold(gold)
    if not gold_parsed:
        return False
    pred_parsed = parse_prediction(pred)
    if not pred_parsed:
        return False
    mv = _math_verify()
    return bool(
        mv.verify(
            list(gold_parsed),
            pred_parsed,
            allow_set_relation_comp=True,
            timeout_seconds=None,
        )
    )
