"""Normalisation of an extracted answer before any comparison, on tokens (see :mod:`latex_tokens`).

The result is a canonical token list (and its string) plus tags for what was stripped off the
end of the answer: a percent sign, a degree mark, a unit. Units are compared only when both
answers carry one. Spacing is kept where it means something: ``2 3`` stays two numbers,
``1 000`` and ``1,\\!000`` become one, ``1 1/2`` stays a mixed number and ``1, 234`` a list.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reward_fns.latex_tokens import CHAR, CMD, GLUE, NUM, ROWSEP, SPACE, WORD, Token, tokenize

TEXT_WORD = "tword"  # a word written in \text{...}: prose or a unit label, never a product of letters
PERCENT_WORDS = frozenset({"percent", "percentage", "pct", "percents"})
DEGREE_WORDS = frozenset({"degree", "degrees", "deg"})
_TEXT_WRAPPERS = frozenset(
    "\\text \\textbf \\textit \\textrm \\texttt \\textsf \\textnormal \\textup \\mbox \\hbox \\emph".split()
)
_MATH_WRAPPERS = frozenset(
    "\\mathrm \\mathbf \\mathit \\mathsf \\mathcal \\mathbb \\mathnormal \\boldsymbol \\bm \\boxed \\fbox "
    "\\operatorname \\displaystyle \\overline \\underline".split()
)
_DROPPED = frozenset(
    "\\left \\right \\big \\Big \\bigg \\Bigg \\bigl \\bigr \\Bigl \\Bigr \\biggl \\biggr \\displaystyle "
    "\\textstyle \\scriptstyle \\limits \\nolimits \\$ \\middle \\! \\quad \\qquad \\, \\; \\: \\ ".split()
) | frozenset(
    "\\thinspace \\medspace \\thickspace \\enspace \\enskip \\negthinspace \\negmedspace \\negthickspace".split()
)
_ALIASES = {
    "\\dfrac": "\\frac", "\\tfrac": "\\frac", "\\cfrac": "\\frac", "\\dbinom": "\\binom", "\\tbinom": "\\binom",
    "\\le": "\\leq", "\\leqslant": "\\leq", "\\leqq": "\\leq", "\\ge": "\\geq", "\\geqslant": "\\geq",
    "\\geqq": "\\geq", "\\ne": "\\neq", "\\emptyset": "\\varnothing", "\\lbrace": "\\{", "\\rbrace": "\\}",
    "\\lbrack": "[", "\\rbrack": "]", "\\lt": "<", "\\gt": ">", "\\vert": "|", "\\lvert": "|", "\\rvert": "|",
    "\\mid": "|", "\\%": "%", "\\colon": ":", "\\cdot": "*", "\\times": "*", "\\ast": "*", "\\div": "/",
    "\\ldots": "\\dots", "\\cdots": "\\dots", "\\dotsc": "\\dots", "\\dotsb": "\\dots", "\\degree": "\\circ",
    "\\land": "and", "\\lor": "or", "\\wedge": "and", "\\vee": "or", "\\rightarrow": "\\to",
    "\\Rightarrow": "\\implies", "\\textdollar": "\\$", "\\&": "&", "\\lparen": "(", "\\rparen": ")",
    "\\tg": "\\tan", "\\ctg": "\\cot", "\\arctg": "\\arctan",
}
_CHAR_COMMANDS = frozenset({"<", ">", "|", "%", ":", "*", "/", "[", "]", "(", ")", "&"})
_WORD_COMMANDS = frozenset({"and", "or"})
_TWO_CHAR = {("<", "="): "\\leq", (">", "="): "\\geq", ("!", "="): "\\neq", ("=", "="): "=", ("=", "<"): "\\leq",
             ("=", ">"): "\\geq", ("<", ">"): "\\neq"}
_PREFIX_WORDS = (("the", "final", "answer", "is"), ("final", "answer", "is"), ("the", "answer", "is"),
                 ("answer", "is"), ("final", "answer"), ("answer",), ("ans",), ("the", "result", "is"),
                 ("the", "solution", "is"), ("result",), ("solution",))

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
    "unit": "unit", "units": "unit", "squareunits": "unit2", "cubicunits": "unit3",
    "yuan": "yuan", "people": "people", "students": "students", "times": "times",
}
_SINGLE_LETTER_UNITS = frozenset({"m", "g", "s", "h", "l", "n", "j", "w", "v"})
_FUNCTION_WORDS = frozenset(
    "sin cos tan sec csc cot arcsin arccos arctan sinh cosh tanh log ln exp lg sqrt det gcd lcm max min mod".split()
)
_FILLER_WORDS = frozenset({"square", "sq", "cubic", "of", "a", "an", "the", "per", "each", "total"})


@dataclass(frozen=True)
class Normalized:
    """A canonical answer (token list and string) and the tags stripped from its end."""

    text: str
    unit: str | None = None
    percent: bool = False
    degrees: bool = False
    tokens: tuple[Token, ...] = field(default=(), compare=False, repr=False)


# ---- token passes ----------------------------------------------------------------------------


def _matching_brace(tokens: list[Token], open_index: int) -> int:
    """Index of the ``}`` closing the ``{`` at ``open_index`` (or len(tokens) if never closed)."""
    depth = 0
    for k in range(open_index, len(tokens)):
        text = tokens[k].text
        if tokens[k].kind == CHAR and text == "{":
            depth += 1
        elif tokens[k].kind == CHAR and text == "}":
            depth -= 1
            if depth == 0:
                return k
    return len(tokens)


def _unwrap_and_alias(tokens: list[Token]) -> list[Token]:
    """Drop delimiters and sizing, unwrap ``\\text{}``-like groups, map aliases to one spelling."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.kind == CHAR and tok.text == "$":
            i += 1
            continue
        if tok.kind == GLUE:
            out.append(tok)
            i += 1
            continue
        if tok.kind == CMD:
            name = _ALIASES.get(tok.text, tok.text)
            if name in ("\\begin", "\\end"):
                env, i = _environment_name(tokens, i + 1)
                out.append(Token(CMD, f"{name}{{{env}}}"))
                continue
            if name in _DROPPED:
                if name in ("\\quad", "\\qquad", "\\,", "\\;", "\\:", "\\ ") or name.endswith("space"):
                    out.append(Token(SPACE, " "))
                i += 1
                continue
            wrapper = name in _TEXT_WRAPPERS or name in _MATH_WRAPPERS
            if wrapper:
                j = i + 1
                while j < len(tokens) and tokens[j].kind == SPACE:
                    j += 1
                if j < len(tokens) and tokens[j].kind == CHAR and tokens[j].text == "{":
                    end = _matching_brace(tokens, j)
                    inner = _unwrap_and_alias(tokens[j + 1 : end])
                    if name in _TEXT_WRAPPERS:
                        inner = [Token(TEXT_WORD, t.text) if t.kind == WORD else t for t in inner]
                    elif name == "\\operatorname":
                        # An operator name is one command (\operatorname{gcd} is \gcd): the
                        # parser knows it as a function or sends the answer to the symbolic
                        # checker; it is never a product of letters.
                        inner = [Token(CMD, "\\" + "".join(t.text for t in inner if t.kind != SPACE))]
                    out.append(Token(SPACE, " "))
                    out.extend(inner)
                    out.append(Token(SPACE, " "))
                    i = end + 1
                    continue
                if name in ("\\displaystyle", "\\boxed", "\\fbox"):
                    i += 1
                    continue
            if name in _CHAR_COMMANDS:
                out.append(Token(CHAR, name))
            elif name in _WORD_COMMANDS:
                out.append(Token(WORD, name))
            else:
                out.append(Token(CMD, name))
            i += 1
            continue
        if tok.kind == CHAR and i + 1 < len(tokens) and tokens[i + 1].kind == CHAR:
            merged = _TWO_CHAR.get((tok.text, tokens[i + 1].text))
            if merged is not None:
                out.append(Token(CMD, merged) if merged.startswith("\\") else Token(CHAR, merged))
                i += 2
                continue
        out.append(tok)
        i += 1
    return out


def _environment_name(tokens: list[Token], i: int) -> tuple[str, int]:
    """``{pmatrix}`` / ``{align*}`` after ``\\begin``: the name and the index after it."""
    while i < len(tokens) and tokens[i].kind == SPACE:
        i += 1
    if i < len(tokens) and tokens[i].text == "{":
        end = _matching_brace(tokens, i)
        return "".join(t.text for t in tokens[i + 1 : end]).strip(), end + 1
    return "", i


def _is_group_of_three(tok: Token) -> bool:
    digits = tok.text.split(".")[0]
    return tok.kind == NUM and len(digits) == 3 and digits.isdigit()


def _thousands_separator(tokens: list[Token], i: int) -> int:
    """Length of a thousands separator starting at ``i`` (0 if none): ``,`` ``{,}`` ``,\\!``
    (optionally followed by spaces), a single space, ``\\,`` or ``\\!``. ``, `` (comma then a
    plain space) separates list items and is not one."""
    n = len(tokens)
    tok = tokens[i]
    if tok.kind == CHAR and tok.text == ",":
        if i + 1 < n and tokens[i + 1].kind == GLUE:
            j = i + 2
            while j < n and tokens[j].kind == SPACE:
                j += 1
            return j - i
        if i + 1 < n and tokens[i + 1].kind == SPACE:
            return 0
        return 1
    if tok.kind == CHAR and tok.text == "{" and i + 2 < n and tokens[i + 1].text == "," and tokens[i + 2].text == "}":
        return 3
    if tok.kind in (SPACE, GLUE):
        return 1
    return 0


def _merge_thousands(tokens: list[Token]) -> list[Token]:
    """``1,000`` / ``1 000`` / ``1\\,000`` / ``14{,}916`` / ``10,\\!000`` -> one number.

    The first group has 1-3 digits (not a lone 0); every later group has exactly 3 (the last may
    carry decimals). A group followed by ``/`` is the fraction of a mixed number, not a group.
    Inside brackets a bare comma separates items (``(12,102)`` is a pair), so there only the
    unambiguous separators count.
    """
    out: list[Token] = []
    depth = 0
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        if tok.kind == CHAR and tok.text in "([":
            depth += 1
        elif tok.kind == CHAR and tok.text in ")]":
            depth -= 1
        elif tok.kind == CMD and tok.text in ("\\{", "\\}"):
            depth += 1 if tok.text == "\\{" else -1
        first = tok.text
        if tok.kind == NUM and "." not in first and 1 <= len(first) <= 3 and first != "0":
            digits = [first]
            j = i + 1
            kind_used = None
            while j < n:
                sep = _thousands_separator(tokens, j)
                if not sep or j + sep >= n or not _is_group_of_three(tokens[j + sep]):
                    break
                this_kind = "space" if tokens[j].kind in (SPACE, GLUE) else "comma"
                if kind_used is not None and this_kind != kind_used:
                    break
                if this_kind == "comma" and depth > 0 and sep == 1:
                    break
                group_end = j + sep + 1
                if this_kind == "space" and group_end < n and tokens[group_end].kind == CHAR and tokens[group_end].text == "/":
                    break  # "1 100/3": a mixed number, not 1100/3
                if group_end < n and tokens[group_end].kind == NUM:
                    break
                kind_used = this_kind
                digits.append(tokens[j + sep].text)
                j = group_end
                if "." in digits[-1]:
                    break
            if len(digits) > 1:
                out.append(Token(NUM, "".join(digits)))
                i = j
                continue
        out.append(tok)
        i += 1
    return out


def _mark_degrees(tokens: list[Token]) -> list[Token]:
    """``^\\circ``, ``^{\\circ}`` and a bare ``\\circ`` -> one ``\\circ`` token (the degree mark)."""
    out: list[Token] = []
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        if tok.kind == CHAR and tok.text == "^":
            j = i + 1
            while j < n and tokens[j].kind == SPACE:
                j += 1
            if j < n and tokens[j].kind == CMD and tokens[j].text == "\\circ":
                out.append(Token(CMD, "\\circ"))
                i = j + 1
                continue
            if (j + 2 < n and tokens[j].text == "{" and tokens[j + 1].text == "\\circ" and tokens[j + 2].text == "}"):
                out.append(Token(CMD, "\\circ"))
                i = j + 3
                continue
        out.append(tok)
        i += 1
    return out


def _significant_spaces(tokens: list[Token]) -> list[Token]:
    """Keep a space only between two numbers (``2 3``, ``1 1/2``) or two text words; drop glue."""
    out: list[Token] = []
    pending_space = False
    for tok in tokens:
        if tok.kind in (SPACE, GLUE):
            pending_space = True
            continue
        if pending_space and out:
            prev = out[-1]
            if (prev.kind == NUM and tok.kind == NUM) or (prev.kind in (WORD, TEXT_WORD) and tok.kind in (WORD, TEXT_WORD)):
                out.append(Token(SPACE, " "))
        pending_space = False
        out.append(tok)
    return out


def _strip_redundant_braces(tokens: list[Token]) -> list[Token]:
    """``{5}`` -> ``5``, ``_{7}`` -> ``_7``, ``^{2}`` -> ``^2`` (a group of one token)."""
    out: list[Token] = []
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        if (tok.kind == CHAR and tok.text == "{" and i + 2 < n and tokens[i + 2].kind == CHAR
                and tokens[i + 2].text == "}" and tokens[i + 1].kind in (NUM, WORD) and len(tokens[i + 1].text) == 1
                and out and out[-1].kind == CHAR and out[-1].text in ("^", "_")):
            out.append(tokens[i + 1])
            i += 3
            continue
        out.append(tok)
        i += 1
    while len(out) >= 2 and out[0].text == "{" and out[-1].text == "}" and _matching_brace(out, 0) == len(out) - 1:
        inner = out[1:-1]
        if any(t.kind == CHAR and t.text == "," for t in _top_level(inner)):
            break  # "{1, 3}": a set written with plain braces
        out = inner
    return out


def _top_level(tokens: list[Token]) -> list[Token]:
    """Tokens not inside any bracket group."""
    depth, out = 0, []
    for tok in tokens:
        if tok.kind == CHAR and tok.text in "([{":
            depth += 1
        elif tok.kind == CHAR and tok.text in ")]}":
            depth -= 1
        elif tok.kind == CMD and tok.text == "\\{":
            depth += 1
        elif tok.kind == CMD and tok.text == "\\}":
            depth -= 1
        elif depth == 0:
            out.append(tok)
    return out


def clean_tokens(text: str, keep_spaces: bool = False) -> list[Token]:
    """The canonical tokens of ``text`` (no tags split off). ``keep_spaces`` keeps every space
    (as one token) for the unit split, which needs to see ``4.4 m`` apart from ``4.4m``."""
    tokens = _unwrap_and_alias(tokenize(text))
    tokens = _merge_thousands(tokens)
    tokens = _mark_degrees(tokens)
    if keep_spaces:
        return _strip_edges(_collapse_spaces(tokens))
    tokens = _significant_spaces(tokens)
    return _strip_redundant_braces(_strip_edges(tokens))


def _collapse_spaces(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    for tok in tokens:
        if tok.kind in (SPACE, GLUE):
            if out and out[-1].kind != SPACE:
                out.append(Token(SPACE, " "))
            continue
        out.append(tok)
    return out


def _strip_edges(tokens: list[Token]) -> list[Token]:
    """Drop leading/trailing spaces and a trailing full stop, comma or semicolon."""
    start, end = 0, len(tokens)
    while start < end and tokens[start].kind == SPACE:
        start += 1
    while end > start and (tokens[end - 1].kind == SPACE or (tokens[end - 1].kind == CHAR and tokens[end - 1].text in ".,;")):
        end -= 1
    return tokens[start:end]


def render(tokens) -> str:
    """Canonical string of a token list: list commas as ``, `` (every comma left after thousands
    merging separates items), a space where two tokens would otherwise merge."""
    parts: list[str] = []
    prev = None
    for tok in tokens:
        text = tok.text
        if prev is not None and tok.kind != SPACE and prev.kind != SPACE:
            if prev.kind == CMD and prev.text[-1:].isalpha() and text[:1].isalpha():
                parts.append(" ")
            elif prev.kind in (WORD, TEXT_WORD) and tok.kind in (WORD, TEXT_WORD, NUM):
                parts.append(" ")
            elif prev.kind == NUM and tok.kind in (WORD, TEXT_WORD) and len(text) > 1:
                parts.append(" ")
        parts.append(text)
        if tok.kind == CHAR and text == ",":
            parts.append(" ")
        prev = tok
    return "".join(parts).strip()


def normalize_latex(s: str) -> str:
    """Canonical LaTeX-ish text without spacing, sizing, wrappers or delimiters (no tags split)."""
    return render(clean_tokens(s))


# ---- tags: percent, degrees, unit ------------------------------------------------------------


def _strip_prefix_words(tokens: list[Token]) -> list[Token]:
    """"The final answer is 12" / "Answer: 12" -> "12" (kept whole if nothing would remain)."""
    leading = [(i, t.text.lower()) for i, t in enumerate(tokens) if t.kind != SPACE][:6]
    words = [w for _, w in leading]
    for prefix in _PREFIX_WORDS:
        k = len(prefix)
        if tuple(words[:k]) == prefix and all(tokens[i].kind in (WORD, TEXT_WORD) for i, _ in leading[:k]):
            cut = leading[k - 1][0] + 1
            if k < len(leading) and leading[k][1] in (":", "="):
                cut = leading[k][0] + 1
            return _strip_edges(tokens[cut:]) or tokens
    return tokens


def _unit_key(words: list[str]) -> str | None:
    key = "".join(words).lower()
    return _UNIT_SYNONYMS.get(key)


def _split_tags(tokens: list[Token]) -> tuple[list[Token], str | None, bool, bool]:
    """Split trailing ``%`` / percent words, a degree mark and a unit off the answer."""
    tokens = _strip_edges(tokens)
    percent = degrees = False
    unit = None
    for _ in range(3):
        if not tokens:
            break
        last = tokens[-1]
        if last.kind == CHAR and last.text == "%":
            percent, tokens = True, _strip_edges(tokens[:-1])
        elif last.kind in (WORD, TEXT_WORD) and last.text.lower() in PERCENT_WORDS and len(tokens) > 1:
            percent, tokens = True, _strip_edges(tokens[:-1])
        elif last.kind == CMD and last.text == "\\circ":
            degrees, tokens = True, _strip_edges(tokens[:-1])
        elif last.kind in (WORD, TEXT_WORD) and last.text.lower() in DEGREE_WORDS and len(tokens) > 1:
            degrees, tokens = True, _strip_edges(tokens[:-1])
        else:
            break
    tokens, unit = _split_unit(tokens)
    if degrees and unit is None:
        unit = "deg"
    return tokens, unit, percent, degrees


def _split_unit(tokens: list[Token]) -> tuple[list[Token], str | None]:
    """A trailing unit after a value: ``6 cm^2`` -> (``6``, ``cm2``); ``6 \\text{ ways}`` ->
    (``6``, ``ways``). Known unit words count when written plainly, any word when written in
    ``\\text{}``; a single letter only after a plain number (``2m`` after an expression is a
    variable)."""
    # Optional power after the unit: ^2, ^3.
    end = len(tokens)
    power = ""
    if end >= 2 and tokens[end - 2].kind == CHAR and tokens[end - 2].text == "^" and tokens[end - 1].text in ("2", "3"):
        power, end = tokens[end - 1].text, end - 2
    elif end >= 4 and [t.text for t in tokens[end - 4 : end]] in (["^", "{", "2", "}"], ["^", "{", "3", "}"]):
        power, end = tokens[end - 2].text, end - 4
    start = end
    while start > 0 and (tokens[start - 1].kind in (WORD, TEXT_WORD, SPACE)
                         or (tokens[start - 1].kind == CHAR and tokens[start - 1].text in "/.")):
        start -= 1
    while start < end and tokens[start].kind in (SPACE, CHAR):
        start += 1
    if start >= end or start == 0:
        return tokens, None
    unit_tokens = [t for t in tokens[start:end] if t.kind != SPACE]
    value = _strip_edges(tokens[:start])
    if not value or not unit_tokens:
        return tokens, None
    last_value = value[-1]
    if not (last_value.kind == NUM or (last_value.kind == CHAR and last_value.text in ")}")
            or (last_value.kind == CMD and last_value.text in ("\\pi", "\\infty"))):
        return tokens, None
    words = [t.text for t in unit_tokens]
    if any(t.kind == WORD and t.text in _WORD_COMMANDS for t in unit_tokens):
        return tokens, None
    lowered = [w.lower() for w in words]
    prefix = ""
    while lowered and lowered[0] in _FILLER_WORDS:
        if lowered[0] in ("square", "sq"):
            prefix = "2"
        elif lowered[0] == "cubic":
            prefix = "3"
        lowered, unit_tokens = lowered[1:], unit_tokens[1:]
    if not lowered:
        return tokens, None
    canonical = _unit_key(lowered)
    in_text = all(t.kind == TEXT_WORD or t.text in "/." for t in unit_tokens)
    if canonical is None:
        if not in_text and not (len(lowered) == 1 and len(lowered[0]) > 2 and lowered[0] not in _FUNCTION_WORDS):
            return tokens, None
        canonical = " ".join(w.rstrip("s") if len(w) > 3 else w for w in lowered if w not in "/.")
    if lowered[0] in _SINGLE_LETTER_UNITS and len(lowered) == 1 and not in_text:
        only_number = len(value) == 1 and value[0].kind == NUM or (
            len(value) == 2 and value[0].text in "+-" and value[1].kind == NUM
        )
        if not only_number or tokens[start - 1].kind != SPACE and not power:
            return tokens, None
    return value, canonical + (power or prefix)


def normalize_answer(answer: str) -> Normalized:
    """Normalise an extracted answer into :class:`Normalized`.

    Handles Unicode math and full-width forms, ``\\dfrac``/``\\tfrac``, ``\\left``/``\\right``,
    ``\\text{}``-style wrappers, spacing commands, thousands separators, ``%`` and percent words,
    degree marks, a leading "answer is" phrase, trailing full stops, and a trailing unit.
    """
    tokens = _strip_prefix_words(clean_tokens(answer, keep_spaces=True))
    tokens, unit, percent, degrees = _split_tags(tokens)
    tokens = _strip_redundant_braces(_strip_edges(_significant_spaces(tokens)))
    return Normalized(text=render(tokens), unit=unit, percent=percent, degrees=degrees, tokens=tuple(tokens))


__all__ = ["Normalized", "TEXT_WORD", "clean_tokens", "normalize_answer", "normalize_latex", "render"]
