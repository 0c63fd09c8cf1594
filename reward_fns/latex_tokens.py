"""LaTeX answer tokenizer: one left-to-right pass, no regex backtracking.

Answers are short (at most ``MAX_ANSWER_CHARS``), but they mix LaTeX commands, braces, numbers,
words and several kinds of space whose meaning differs: ``\\\\`` separates matrix rows, ``\\ `` is
a space, ``\\!`` glues (``10,\\!000``), a space between two numbers keeps them apart (``2 3`` is
not ``23``). Every later step (normalisation, parsing) works on these tokens instead of on
characters, so none of those meanings is lost to a regex substitution.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

NUM = "num"  # digits with an optional decimal part: "12", "3.5", ".5"
WORD = "word"  # a run of ASCII letters: "x", "cm", "and"
CMD = "cmd"  # a command: "\\frac", "\\pi", "\\{", "\\%"
ROWSEP = "rowsep"  # "\\\\" (matrix row / line separator)
SPACE = "space"  # whitespace or a spacing command
GLUE = "glue"  # "\\!": joins its neighbours (thousands groups)
CHAR = "char"  # any other single character: "+", "(", "^", "&", ...

# Commands that a doubly escaped string (``\\\\frac``) may contain; ``\\\\`` + one of these is read
# as the command, not as a row separator followed by a word.
_DOUBLE_ESCAPED_OK = frozenset(
    "frac dfrac tfrac cfrac sqrt begin end left right pi text textbf mathrm mathbf boxed infty cdot "
    "times le leq ge geq ne neq sin cos tan log ln circ pm div".split()
)
_SPACING_COMMANDS = frozenset(
    ", ; : > \x20 quad qquad enspace enskip thinspace medspace thickspace space nobreakspace".split(" ")
) | {" "}
_UNICODE_MATH = {
    "²": "^2", "³": "^3", "¹": "^1", "⁴": "^4",
    "½": "\\frac{1}{2}", "⅓": "\\frac{1}{3}", "⅔": "\\frac{2}{3}", "¼": "\\frac{1}{4}",
    "¾": "\\frac{3}{4}", "⅕": "\\frac{1}{5}", "⅙": "\\frac{1}{6}", "⅛": "\\frac{1}{8}",
    "π": "\\pi ", "∞": "\\infty ", "°": "^\\circ ", "º": "^\\circ ",
    "−": "-", "–": "-", "—": "-", "‐": "-", "‑": "-",
    "×": "\\times ", "·": "\\cdot ", "⋅": "\\cdot ", "÷": "/",
    "≤": "\\leq ", "≥": "\\geq ", "≠": "\\neq ", "⩽": "\\leq ", "⩾": "\\geq ", "≈": "\\approx ",
    "∪": "\\cup ", "∩": "\\cap ", "∅": "\\varnothing ", "∈": "\\in ", "±": "\\pm ",
    "′": "'", "″": "''", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
}


@dataclass(frozen=True)
class Token:
    """One token: its kind (module constants) and its text."""

    kind: str
    text: str

    def __repr__(self) -> str:  # compact in test failure messages
        return f"{self.kind}:{self.text!r}"


def _unicode_to_latex(text: str) -> str:
    """Map Unicode math to LaTeX before NFKC (which would turn ``x²`` into ``x2``)."""
    if text.isascii():
        return text
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "√":
            # √3, √(x+1), √{2}: the radicand is the next number, letter or bracket group.
            j = i + 1
            while j < len(text) and text[j] == " ":
                j += 1
            k = j
            if k < len(text) and text[k] in "({":
                closing = ")" if text[k] == "(" else "}"
                end = text.find(closing, k)
                k = end + 1 if end != -1 else k
            else:
                while k < len(text) and (text[k].isdigit() or text[k] == "."):
                    k += 1
                if k == j and k < len(text) and text[k].isalpha():
                    k += 1
            radicand = text[j:k]
            if radicand[:1] in "({" and radicand[-1:] in ")}":
                radicand = radicand[1:-1]
            out.append("\\sqrt{" + radicand + "}")
            i = k
            continue
        out.append(_UNICODE_MATH.get(ch, ch))
        i += 1
    return unicodedata.normalize("NFKC", "".join(out))


def _e_notation_end(text: str, start: int, end: int) -> int:
    """End of the exponent when the number ``text[start:end]`` is followed by E-notation
    (``e``/``E``, an optional sign, digits, then no letter), else 0. A number glued to a preceding
    letter (``x2e5``) is not the mantissa of one."""
    n = len(text)
    if end >= n or text[end] not in "eE" or (start > 0 and text[start - 1].isalpha()):
        return 0
    k = end + 1
    if k < n and text[k] in "+-":
        k += 1
    digits_start = k
    while k < n and text[k].isdigit():
        k += 1
    if k == digits_start or k - digits_start > 4 or (k < n and (text[k].isalpha() or text[k] == ".")):
        return 0
    return k


def tokenize(text: str) -> list[Token]:
    """Split an answer into :class:`Token` s (linear time)."""
    text = _unicode_to_latex(text)
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            run = i
            while run < n and text[run] == "\\":
                run += 1
            slashes = run - i
            j = run
            while j < n and text[j].isascii() and text[j].isalpha():
                j += 1
            name = text[run:j]
            if slashes % 2 == 1:
                # Odd run: pairs before the last backslash are row separators.
                tokens.extend(Token(ROWSEP, "\\\\") for _ in range(slashes // 2))
                if name:
                    tokens.append(Token(CMD, "\\" + name))
                    i = j
                elif run < n:
                    symbol = text[run]
                    if symbol == "!":
                        tokens.append(Token(GLUE, "\\!"))
                    elif symbol in _SPACING_COMMANDS or symbol.isspace():
                        tokens.append(Token(SPACE, " "))
                    else:
                        tokens.append(Token(CMD, "\\" + symbol))
                    i = run + 1
                else:
                    i = run  # a lone trailing backslash: dropped
                continue
            if slashes == 2 and name in _DOUBLE_ESCAPED_OK:
                tokens.append(Token(CMD, "\\" + name))  # a doubly escaped "\\frac"
                i = j
                continue
            # Even run: row separators. Four backslashes are one separator escaped twice (an empty
            # row would be dropped anyway).
            count = 1 if slashes == 4 else slashes // 2
            tokens.extend(Token(ROWSEP, "\\\\") for _ in range(count))
            i = run
            continue
        if ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            j = i
            while j < n and text[j].isdigit():
                j += 1
            if j < n - 1 and text[j] == "." and text[j + 1].isdigit():
                j += 1
                while j < n and text[j].isdigit():
                    j += 1
            exponent_end = _e_notation_end(text, i, j)
            if exponent_end:
                # 2.5e2, 1E-3: a number in E-notation, read as 2.5 \times 10^{2} (never as 2.5·e·2).
                sign = text[j + 1] if text[j + 1] in "+-" else ""
                digits = text[j + 1 + len(sign) : exponent_end]
                tokens += [Token(NUM, text[i:j]), Token(CMD, "\\times"), Token(NUM, "10"), Token(CHAR, "^"),
                           Token(CHAR, "{")]
                tokens += [Token(CHAR, "-")] if sign == "-" else []
                tokens += [Token(NUM, digits), Token(CHAR, "}")]
                i = exponent_end
                continue
            tokens.append(Token(NUM, text[i:j]))
            i = j
            continue
        if ch.isascii() and ch.isalpha():
            j = i
            while j < n and text[j].isascii() and text[j].isalpha():
                j += 1
            tokens.append(Token(WORD, text[i:j]))
            i = j
            continue
        if ch.isspace() or ch == "~":
            j = i
            while j < n and (text[j].isspace() or text[j] == "~"):
                j += 1
            tokens.append(Token(SPACE, " "))
            i = j
            continue
        tokens.append(Token(CHAR, ch))
        i += 1
    return tokens
