"""Normalisation of an extracted answer before any parser sees it.

Turns Unicode math, LaTeX decorations, thousands separators, percent signs, degree marks and
units into one canonical string plus separate unit/percent tags, so that the fast paths can
compare by string or by number and units are compared only when both sides carry one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Unicode that NFKC would destroy (x² -> x2) or does not map to LaTeX at all.
_UNICODE_MATH = {
    "²": "^2", "³": "^3", "¹": "^1", "⁴": "^4",
    "½": "\\frac{1}{2}", "⅓": "\\frac{1}{3}", "⅔": "\\frac{2}{3}", "¼": "\\frac{1}{4}",
    "¾": "\\frac{3}{4}", "⅕": "\\frac{1}{5}", "⅙": "\\frac{1}{6}", "⅛": "\\frac{1}{8}",
    "π": "\\pi", "∞": "\\infty", "°": "^\\circ", "º": "^\\circ",
    "−": "-", "–": "-", "—": "-", "‐": "-", "‑": "-",
    "×": "\\times", "·": "\\cdot", "⋅": "\\cdot", "÷": "/",
    "≤": "\\leq", "≥": "\\geq", "≠": "\\neq", "⩽": "\\leq", "⩾": "\\geq",
    "∪": "\\cup", "∩": "\\cap", "∅": "\\emptyset", "∈": "\\in", "±": "\\pm",
    "′": "'", "″": "''", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
}
_UNICODE_RE = re.compile("|".join(re.escape(k) for k in _UNICODE_MATH))
_SQRT_UNICODE = re.compile(r"√\s*(\d+(?:\.\d+)?|[A-Za-z]|\([^()]*\)|\{[^{}]*\})")

_WRAPPERS = re.compile(
    r"\\(?:text|textbf|textit|textrm|texttt|mathrm|mathbf|mathit|mathsf|mbox|boldsymbol|operatorname|bm)\s*\{([^{}]*)\}"
)
_SPACING = re.compile(r"\\(?:[,;:! ]|quad|qquad|displaystyle|textstyle|scriptstyle|limits|nolimits)(?![A-Za-z])|~")
_LEFT_RIGHT = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?![A-Za-z])\s*")
_FRAC_VARIANTS = re.compile(r"\\[dtc]frac(?![A-Za-z])")
_FRAC_SHORT = re.compile(r"\\frac\s*(\d)\s*(\d)")
_FRAC_SHORT_ONE = re.compile(r"\\frac\s*\{([^{}]*)\}\s*(\d)")
_SQRT_SHORT = re.compile(r"\\sqrt\s*(\d+|[A-Za-z])(?![\d])")
_DEGREE = re.compile(
    r"\^\s*\{?\s*\\circ\s*\}?|\\circ(?![A-Za-z])|\\degree(?![A-Za-z])|\bdegrees?\b|\bdeg\b", re.IGNORECASE
)
_PERCENT = re.compile(r"\\%|%|\\percent(?![A-Za-z])|\bpercent\b", re.IGNORECASE)
_THOUSANDS_BRACED = re.compile(r"(\d)\{,\}(\d{3})")
_THOUSANDS_PLAIN = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_LEQ = re.compile(r"\\le(?![A-Za-z])")
_GEQ = re.compile(r"\\ge(?![A-Za-z])")
_NEQ = re.compile(r"\\ne(?![A-Za-z])")
_PREFIX_WORDS = re.compile(
    r"^(?:the\s+)?(?:final\s+)?(?:answer|ans|solution|result)\s*(?:is|:|=)\s*", re.IGNORECASE
)

# Canonical unit names; a unit is only compared when both answers carry one.
_UNIT_SYNONYMS = {
    "m": "m", "meter": "m", "meters": "m", "metre": "m", "metres": "m",
    "cm": "cm", "centimeter": "cm", "centimeters": "cm", "centimetre": "cm", "centimetres": "cm",
    "mm": "mm", "millimeter": "mm", "millimeters": "mm",
    "km": "km", "kilometer": "km", "kilometers": "km", "kilometre": "km", "kilometres": "km",
    "in": "in", "inch": "in", "inches": "in", "ft": "ft", "foot": "ft", "feet": "ft",
    "yd": "yd", "yard": "yd", "yards": "yd", "mi": "mi", "mile": "mi", "miles": "mi",
    "kg": "kg", "kilogram": "kg", "kilograms": "kg", "g": "g", "gram": "g", "grams": "g",
    "mg": "mg", "lb": "lb", "lbs": "lb", "pound": "lb", "pounds": "lb",
    "s": "s", "sec": "s", "second": "s", "seconds": "s", "min": "min", "minute": "min",
    "minutes": "min", "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "day": "day", "days": "day", "week": "week", "weeks": "week", "year": "year", "years": "year",
    "ml": "ml", "l": "l", "liter": "l", "liters": "l", "litre": "l", "litres": "l",
    "n": "N", "newton": "N", "newtons": "N", "j": "J", "joule": "J", "joules": "J",
    "w": "W", "watt": "W", "watts": "W", "v": "V", "volt": "V", "volts": "V", "pa": "Pa",
    "kpa": "kPa", "hz": "Hz", "mph": "mph", "kmh": "km/h", "km/h": "km/h", "m/s": "m/s",
    "cm/s": "cm/s", "dollar": "$", "dollars": "$", "cent": "cent", "cents": "cent",
    "unit": "unit", "units": "unit", "sq": "sq", "squareunits": "unit2", "cubicunits": "unit3",
    "yuan": "yuan", "people": "people", "students": "students", "times": "times",
}
_SINGLE_LETTER_UNITS = {"m", "g", "s", "h", "l", "n", "j", "w", "v"}
_UNIT_TAIL = re.compile(
    r"^(?P<value>.*?[\d}).])\s*(?P<unit>(?:square\s+|sq\.?\s*|cubic\s+)?[A-Za-z]+(?:/[A-Za-z]+)?(?:\s*\^\s*\{?[23]\}?|[23])?)$"
)
_MC_OPTION_LETTERS = "ABCDEFGHIJ"


@dataclass(frozen=True)
class Normalized:
    """A canonical answer string and the tags stripped from it."""

    text: str
    unit: str | None = None
    percent: bool = False
    degrees: bool = False


def _apply_unicode(s: str) -> str:
    s = _SQRT_UNICODE.sub(lambda m: "\\sqrt{" + m.group(1).strip("{}") + "}", s)
    s = _UNICODE_RE.sub(lambda m: _UNICODE_MATH[m.group(0)], s)
    return unicodedata.normalize("NFKC", s)


def _strip_wrappers(s: str) -> str:
    for _ in range(4):
        new = _WRAPPERS.sub(lambda m: " " + m.group(1) + " ", s)
        if new == s:
            break
        s = new
    return s


def _split_unit(s: str) -> tuple[str, str | None]:
    """Split a trailing unit word off a numeric value, e.g. ``6 cm^2`` -> (``6``, ``cm2``)."""
    m = _UNIT_TAIL.match(s)
    if not m:
        return s, None
    value, raw_unit = m.group("value").strip(), m.group("unit")
    key = re.sub(r"[\s^{}.]", "", raw_unit).lower()
    power = ""
    if key and key[-1] in "23":
        key, power = key[:-1], key[-1]
    prefix = ""
    for word, tag in (("square", "2"), ("sq", "2"), ("cubic", "3")):
        if key.startswith(word) and key != word:
            key, prefix = key[len(word) :], tag
            break
    canonical = _UNIT_SYNONYMS.get(key)
    if canonical is None:
        return s, None
    if key in _SINGLE_LETTER_UNITS and not re.fullmatch(r"[-+]?[\d.]+", value):
        # ``2m`` after an expression is more likely a variable than metres.
        return s, None
    if not value or value.endswith("\\"):
        return s, None
    return value, canonical + (power or prefix)


def normalize_latex(s: str) -> str:
    """Canonical LaTeX-ish text without spacing, sizing, wrappers or delimiters (no tags split)."""
    s = _apply_unicode(s)
    s = s.replace("\\$", "").replace("$", "")
    s = _strip_wrappers(s)
    s = _FRAC_VARIANTS.sub(r"\\frac", s)
    s = _LEFT_RIGHT.sub("", s)
    s = _THOUSANDS_BRACED.sub(r"\1\2", s)
    s = _SPACING.sub(" ", s)
    s = _LEQ.sub(r"\\leq", s)
    s = _GEQ.sub(r"\\geq", s)
    s = _NEQ.sub(r"\\neq", s)
    s = _FRAC_SHORT.sub(r"\\frac{\1}{\2}", s)
    s = _FRAC_SHORT_ONE.sub(r"\\frac{\1}{\2}", s)
    s = _SQRT_SHORT.sub(r"\\sqrt{\1}", s)
    s = s.replace("\\emptyset", "\\varnothing")
    return " ".join(s.split())


def normalize_answer(answer: str) -> Normalized:
    """Normalise an extracted answer into :class:`Normalized`.

    Handles Unicode math and full-width forms, ``\\dfrac``/``\\tfrac``, ``\\left``/``\\right``,
    ``\\text{}``-style wrappers, spacing commands, thousands separators, ``%``, degree marks,
    a leading "answer is" phrase, trailing full stops, and a trailing unit word.
    """
    s = normalize_latex(answer)
    s = _PREFIX_WORDS.sub("", s).strip()
    percent = bool(_PERCENT.search(s))
    if percent:
        s = _PERCENT.sub("", s).strip()
    degrees = bool(_DEGREE.search(s))
    if degrees:
        s = _DEGREE.sub("", s).strip()
    s = s.rstrip(" .;")
    s, unit = _split_unit(s)
    if degrees and unit is None:
        unit = "deg"
    compact = s.replace(" ", "")
    if _THOUSANDS_PLAIN.match(compact):
        compact = compact.replace(",", "")
    # Redundant outer braces: ``{5}`` -> ``5`` (a set would be written ``\{5\}``).
    while len(compact) >= 2 and compact[0] == "{" and compact[-1] == "}" and _balanced(compact[1:-1]):
        compact = compact[1:-1]
    return Normalized(text=compact, unit=unit, percent=percent, degrees=degrees)


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0
