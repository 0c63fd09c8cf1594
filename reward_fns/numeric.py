"""Cheap numeric comparison: exact rationals, finite decimals and constant closed forms.

Everything here is bounded: digit counts and exponents are capped, factorials stop at 170 and
closed forms are evaluated in floating point, so no input can make these functions slow.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

MAX_DIGITS = 400
MAX_EXPONENT = 300
MAX_DEPTH = 40
CLOSED_FORM_REL_TOL = 1e-9

_INT = r"[-+]?\d{1,%d}" % MAX_DIGITS
_DECIMAL = re.compile(r"^([-+]?)(\d{0,%d})\.(\d{1,%d})$|^([-+]?\d{1,%d})\.?$" % (MAX_DIGITS, MAX_DIGITS, MAX_DIGITS))
_SLASH_FRACTION = re.compile(r"^(%s)/(%s)$" % (_INT, _INT))
_LATEX_FRACTION = re.compile(r"^([-+]?)\\frac\{(%s)\}\{(%s)\}$" % (_INT, _INT))
_MIXED = re.compile(r"^([-+]?)(\d{1,%d})\\frac\{(\d{1,%d})\}\{(\d{1,%d})\}$" % (MAX_DIGITS, MAX_DIGITS, MAX_DIGITS))
_SCIENTIFIC = re.compile(
    r"^([-+]?\d{1,%d}(?:\.\d{1,%d})?)(?:[eE]|\*10\^|\\times10\^|\\cdot10\^)\{?([-+]?\d{1,3})\}?$"
    % (MAX_DIGITS, MAX_DIGITS)
)
_POWER_OF_TEN = re.compile(r"^10\^\{?([-+]?\d{1,3})\}?$")


def parse_decimal_places(text: str) -> int | None:
    """Number of digits after the point if ``text`` is a plain decimal literal, else None."""
    m = _DECIMAL.match(text)
    if not m or m.group(3) is None:
        return None
    return len(m.group(3))


def parse_exact(text: str) -> Fraction | None:
    """Exact value of an integer, decimal, ``a/b``, ``\\frac{a}{b}``, mixed number or scientific
    literal; None for anything else (including oversized literals)."""
    m = _DECIMAL.match(text)
    if m:
        if m.group(4) is not None:
            return Fraction(int(m.group(4)))
        sign = -1 if m.group(1) == "-" else 1
        return sign * Fraction(int((m.group(2) or "0") + m.group(3)), 10 ** len(m.group(3)))
    m = _SLASH_FRACTION.match(text)
    if m:
        den = int(m.group(2))
        return Fraction(int(m.group(1)), den) if den else None
    m = _LATEX_FRACTION.match(text)
    if m:
        den = int(m.group(3))
        if not den:
            return None
        value = Fraction(int(m.group(2)), den)
        return -value if m.group(1) == "-" else value
    m = _MIXED.match(text)
    if m:
        den = int(m.group(4))
        if not den:
            return None
        value = int(m.group(2)) + Fraction(int(m.group(3)), den)
        return -value if m.group(1) == "-" else value
    m = _SCIENTIFIC.match(text)
    if m:
        mantissa = parse_exact(m.group(1))
        exponent = int(m.group(2))
        if mantissa is None or abs(exponent) > MAX_EXPONENT:
            return None
        return mantissa * Fraction(10) ** exponent
    m = _POWER_OF_TEN.match(text)
    if m and abs(int(m.group(1))) <= MAX_EXPONENT:
        return Fraction(10) ** int(m.group(1))
    return None


def rounds_to(pred: Fraction, gold_text: str) -> bool:
    """True if ``pred`` has more precision than the decimal ``gold_text`` and rounds
    (half away from zero) to it, e.g. 1.4516 -> 1.45.  Integers and fractions never qualify."""
    places = parse_decimal_places(gold_text)
    gold = parse_exact(gold_text)
    if places is None or gold is None:
        return False
    scale = 10**places
    scaled = abs(pred) * scale
    rounded = math.floor(scaled + Fraction(1, 2))
    signed = rounded if pred >= 0 else -rounded
    return Fraction(signed, scale) == gold


# ---- constant closed forms -------------------------------------------------------------------

_TOKEN = re.compile(r"\d+(?:\.\d+)?|\.\d+|\\[A-Za-z]+|[-+*/^(){}\[\]!]")


class _Unsupported(Exception):
    """The expression uses something the float evaluator does not model."""


class _Evaluator:
    """Recursive-descent evaluator for constant LaTeX arithmetic (numbers, \\pi, \\frac,
    \\sqrt, powers, factorials, implicit multiplication)."""

    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.irrational = False

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise _Unsupported(f"expected {expected!r}, got {tok!r}")
        self.pos += 1
        return tok

    def expr(self) -> float:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Unsupported("too deep")
        value = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            rhs = self.term()
            value = value + rhs if op == "+" else value - rhs
        self.depth -= 1
        return value

    def term(self) -> float:
        value = self.unary()
        while True:
            tok = self.peek()
            if tok in ("*", "\\times", "\\cdot"):
                self.take()
                value *= self.unary()
            elif tok in ("/", "\\div"):
                self.take()
                den = self.unary()
                if den == 0:
                    raise _Unsupported("division by zero")
                value /= den
            elif tok is not None and (tok[0].isdigit() or tok in ("(", "{", "\\pi", "\\sqrt", "\\frac")):
                value *= self.power()
            else:
                return value

    def unary(self) -> float:
        if self.peek() in ("-", "+"):
            sign = -1.0 if self.take() == "-" else 1.0
            return sign * self.unary()
        return self.power()

    def power(self) -> float:
        base = self.postfix()
        if self.peek() == "^":
            self.take()
            exponent = self.power_operand()
            if abs(exponent) > MAX_EXPONENT or (base != 0 and abs(exponent * math.log10(abs(base))) > MAX_EXPONENT):
                raise _Unsupported("exponent too large")
            if exponent != int(exponent):
                if base < 0:
                    raise _Unsupported("complex power")
                self.irrational = True
            elif exponent < 0 and base == 0:
                raise _Unsupported("division by zero")
            return base**exponent
        return base

    def power_operand(self) -> float:
        if self.peek() == "{":
            return self.group()
        if self.peek() == "-":
            self.take()
            return -self.postfix()
        return self.postfix()

    def postfix(self) -> float:
        value = self.atom()
        while self.peek() == "!":
            self.take()
            if value != int(value) or value < 0 or value > 170:
                raise _Unsupported("factorial")
            value = float(math.factorial(int(value)))
        return value

    def group(self) -> float:
        if self.peek() == "{":
            self.take("{")
            value = self.expr()
            self.take("}")
            return value
        tok = self.take()
        if tok[0].isdigit():
            # ``\frac12`` style single-digit argument.
            value = float(tok[0])
            rest = tok[1:]
            if rest:
                self.tokens.insert(self.pos, rest)
            return value
        self.pos -= 1
        return self.atom()

    def atom(self) -> float:
        tok = self.take()
        if tok[0].isdigit() or tok[0] == ".":
            return float(tok)
        if tok == "\\pi":
            self.irrational = True
            return math.pi
        if tok in ("(", "{", "["):
            closing = {"(": ")", "{": "}", "[": "]"}[tok]
            value = self.expr()
            self.take(closing)
            return value
        if tok == "\\frac":
            num = self.group()
            den = self.group()
            if den == 0:
                raise _Unsupported("division by zero")
            return num / den
        if tok == "\\sqrt":
            index = 2.0
            if self.peek() == "[":
                self.take("[")
                index = self.expr()
                self.take("]")
            radicand = self.group()
            if radicand < 0 or index == 0:
                raise _Unsupported("complex root")
            self.irrational = True
            return radicand ** (1.0 / index)
        raise _Unsupported(f"token {tok!r}")


def evaluate_constant(text: str) -> float | None:
    """Float value of a constant LaTeX arithmetic expression, or None if it is not one."""
    if len(text) > 200 or not text:
        return None
    tokens = _TOKEN.findall(text)
    if "".join(tokens) != text:
        return None  # something the tokenizer skipped: a variable, a comma, a relation...
    evaluator = _Evaluator(tokens)
    try:
        value = evaluator.expr()
        if evaluator.pos != len(evaluator.tokens):
            return None
    except (_Unsupported, OverflowError, ValueError, ZeroDivisionError, RecursionError):
        return None
    if not math.isfinite(value):
        return None
    return value


def close_enough(a: float, b: float) -> bool:
    """Relative closeness used for irrational closed forms evaluated in floating point."""
    return math.isclose(a, b, rel_tol=CLOSED_FORM_REL_TOL, abs_tol=1e-12)
