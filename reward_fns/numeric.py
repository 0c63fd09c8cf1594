"""Numeric value of an answer that is a constant: exact when it can be, floating point otherwise.

Thin wrappers over the answer parser and evaluator for code that wants one number (evaluation
scoring of numeric benchmarks); bounded like them (digit, exponent and depth caps).
"""

from __future__ import annotations

import functools
from fractions import Fraction

from reward_fns.answer_compare import Unsupported, evaluate
from reward_fns.answer_parse import ParseError, parse_answer
from reward_fns.normalize import clean_tokens

_STRUCTURES = frozenset({"list", "tuple", "set", "union", "rel", "ratio", "text", "based", "apply", "pm", "matrix"})


@functools.lru_cache(maxsize=4096)
def _value(text: str):
    try:
        node = parse_answer(clean_tokens(text))
    except ParseError:
        return None
    if node[0] in _STRUCTURES:
        return None
    try:
        return evaluate(node, {})
    except (Unsupported, ZeroDivisionError, ValueError, OverflowError):
        return None


def parse_exact(text: str) -> Fraction | None:
    """Exact value of a constant rational expression (``12``, ``-0.5``, ``\\frac{3}{4}``,
    ``1\\frac12``, ``1.2\\times10^{3}``), else None."""
    value = _value(text)
    return value if isinstance(value, Fraction) else None


def evaluate_constant(text: str) -> float | None:
    """Float value of a real constant expression (``\\sqrt{2}``, ``3\\pi``), else None."""
    value = _value(text)
    if value is None or isinstance(value, tuple):
        return None
    z = complex(value)
    if abs(z.imag) > 1e-12 * max(1.0, abs(z.real)):
        return None
    return float(z.real)
