"""Parse a normalised answer (tokens from :func:`reward_fns.normalize.clean_tokens`) into a tree.

Nodes are tuples ``(kind, ...)``; the kinds are:

* numbers and names: ``("num", Fraction, places, scientific)``, ``("sym", name)``,
  ``("const", "pi"|"e"|"i"|"inf")``, ``("text", words)``, ``("based", digits, base)``
* arithmetic: ``("add", [terms])``, ``("neg", x)``, ``("mul", [factors])``, ``("div", a, b)``,
  ``("pow", a, b)``, ``("pm", a, b)`` (a ± b), ``("func", name, arg, base)``, ``("fact", x)``,
  ``("abs", x)``, ``("deg", x)`` (x degrees), ``("pct", x)``, ``("apply", name, [args])`` (f(x))
* structure: ``("list", [items])`` (bare, comma separated), ``("tuple", open, close, [items])``
  (parentheses, brackets and intervals), ``("set", [items])``, ``("union", [parts])``,
  ``("matrix", [[cells]])``, ``("rel", [sides], [operators])``, ``("ratio", [parts])``

Anything outside that vocabulary (sums, integrals, limits, unknown commands) raises
:class:`ParseError`, and the caller falls back to the symbolic checker. Parsing is bounded:
depth and length are capped.
"""

from __future__ import annotations

from fractions import Fraction

from reward_fns.latex_tokens import CHAR, CMD, NUM, ROWSEP, SPACE, WORD, Token
from reward_fns.normalize import TEXT_WORD

MAX_TOKENS = 400
MAX_DEPTH = 40
MAX_DIGITS = 400

RELATIONS = {"=": "=", "<": "<", ">": ">", "\\leq": "<=", "\\geq": ">=", "\\neq": "!=", "\\approx": "~",
             "\\in": "in", "\\equiv": "=", "\\sim": "~", "\\simeq": "~", "\\cong": "="}
FUNCTIONS = frozenset(
    "sin cos tan sec csc cot arcsin arccos arctan arcsec arccsc arccot sinh cosh tanh coth sech csch "
    "arcsinh arccosh arctanh ln log lg exp sqrt".split()
)
# Other spellings of those functions: SymPy/Python names (``asin``), ISO names (``arsinh``).
FUNCTION_ALIASES = {
    "asin": "arcsin", "acos": "arccos", "atan": "arctan", "asec": "arcsec", "acsc": "arccsc", "acot": "arccot",
    "asinh": "arcsinh", "acosh": "arccosh", "atanh": "arctanh", "arsinh": "arcsinh", "arcosh": "arccosh",
    "artanh": "arctanh",
}
# Functions written with a parenthesised argument list, as commands (``\gcd(12, 18)``,
# ``\operatorname{lcm}(4, 6)``) or as plain names (SymPy golds: ``Abs(x)``, ``Min(a, b)``).
# The value is the canonical name the comparer evaluates.
CALLS = {
    "gcd": "gcd", "lcm": "lcm", "max": "max", "min": "min", "mod": "mod", "floor": "floor", "ceil": "ceil",
    "ceiling": "ceil", "abs": "abs", "factorial": "factorial", "binomial": "binomial", "rational": "rational",
    "root": "root", "eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "det": "det",
}
# Names that mark an answer as written in SymPy/Python syntax, where ``E`` is Euler's number and
# ``I`` the imaginary unit (in LaTeX they are ordinary variables).
_SYMPY_NAMES = frozenset("Abs Min Max factorial binomial ceiling Rational Eq Ne Lt Le Gt Ge oo asin acos atan "
                         "asinh acosh atanh Mod".split())
_INFINITY_WORDS = frozenset({"oo", "infinity", "infty"})
_TRIG_INVERSES = frozenset("sin cos tan sec csc cot sinh cosh tanh".split())
APPLIED_NAMES = frozenset("f g h F G H".split())
_SEPARATOR_WORDS = frozenset({"and", "or"})
_CONSTANT_COMMANDS = {"\\pi": ("const", "pi"), "\\infty": ("const", "inf"), "\\varnothing": ("set", [])}
_MATRIX_ENVS = frozenset({"pmatrix", "bmatrix", "Bmatrix", "matrix", "smallmatrix", "array", "vmatrix", "Vmatrix"})
_SYSTEM_ENVS = frozenset({"cases", "aligned", "align", "gathered", "split", "eqnarray", "rcases"})
_GREEK = frozenset(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi omicron rho "
    "varrho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Sigma Upsilon Phi Psi Omega "
    "ell".split()
)
# Greek letters spelled out without a backslash (SymPy prints ``theta``): only names of four or
# more letters, since ``xi``, ``mu`` or ``eta`` may be products of one-letter variables.
GREEK_WORDS = frozenset(g for g in _GREEK if len(g) >= 4 and not g.startswith("var"))
_OPEN = {"(": ")", "[": "]"}


class ParseError(ValueError):
    """The answer uses notation this parser does not model."""


class GluedNumbers(ParseError):
    """Two plain numbers separated by a space (``2 3``): no number at all, but not unknown notation."""


def _num_node(text: str):
    whole, _, frac = text.partition(".")
    if len(whole) + len(frac) > MAX_DIGITS:
        raise ParseError("number too long")
    value = Fraction(int((whole or "0") + frac), 10 ** len(frac)) if frac else Fraction(int(whole))
    return ("num", value, len(frac) if "." in text else 0, False)


class _Parser:
    def __init__(self, tokens: list[Token]):
        self.toks = list(tokens)
        self.pos = 0
        self.depth = 0
        self.sympy = any(t.kind == WORD and t.text in _SYMPY_NAMES for t in self.toks) or any(
            a.kind == CHAR == b.kind and a.text == b.text == "*" for a, b in zip(self.toks, self.toks[1:]))

    # -- helpers ---------------------------------------------------------------------------------
    def peek(self, offset: int = 0) -> Token | None:
        k = self.pos + offset
        return self.toks[k] if k < len(self.toks) else None

    def at(self, kind: str, text: str | None = None, offset: int = 0) -> bool:
        tok = self.peek(offset)
        return tok is not None and tok.kind == kind and (text is None or tok.text == text)

    def at_char(self, chars: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == CHAR and tok.text in chars

    def take(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise ParseError("unexpected end")
        self.pos += 1
        return tok

    def expect_char(self, text: str) -> None:
        tok = self.take()
        if tok.kind != CHAR or tok.text != text:
            raise ParseError(f"expected {text!r}, got {tok.text!r}")

    def skip_spaces(self) -> None:
        while self.at(SPACE):
            self.pos += 1

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError("too deep")

    # -- top level: separated items ------------------------------------------------------------
    def answer(self, closers: str = "") -> tuple:
        """Items separated by ``,`` ``;`` ``and`` ``or`` up to a closer (not consumed)."""
        self.enter()
        items = []
        while True:
            self.skip_spaces()
            if self.peek() is None or self.at_char(closers) or self._at_closing_command():
                break
            items.append(self.relation(closers))
            self.skip_spaces()
            if self.at_char(",;"):
                self.take()
            elif self._at_separator_word():
                self.take()
            elif self.peek() is None or self.at_char(closers) or self._at_closing_command():
                break
            else:
                raise ParseError(f"unexpected {self.peek().text!r}")
            while self._at_separator_word() or self.at(SPACE):
                self.take()
        self.depth -= 1
        if not items:
            raise ParseError("empty")
        return items[0] if len(items) == 1 else ("list", items)

    def _at_separator_word(self) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind in (WORD, TEXT_WORD) and tok.text.lower() in _SEPARATOR_WORDS

    def _at_closing_command(self) -> bool:
        tok = self.peek()
        return (tok.kind == CMD and (tok.text == "\\}" or tok.text.startswith("\\end{"))) or tok.kind == ROWSEP or (
            tok.kind == CHAR and tok.text == "&")

    def relation(self, closers: str) -> tuple:
        sides = [self.ratio(closers)]
        ops = []
        while True:
            self.skip_spaces()
            tok = self.peek()
            if tok is None:
                break
            op = RELATIONS.get(tok.text) if tok.kind in (CHAR, CMD) else None
            if op is None:
                break
            self.take()
            ops.append(op)
            sides.append(self.ratio(closers))
        return sides[0] if not ops else ("rel", sides, ops)

    def ratio(self, closers: str) -> tuple:
        parts = [self.union(closers)]
        while self.at_char(":"):
            self.take()
            parts.append(self.union(closers))
        return parts[0] if len(parts) == 1 else ("ratio", parts)

    def union(self, closers: str) -> tuple:
        parts = [self.expr(closers)]
        while self.at(CMD, "\\cup"):
            self.take()
            parts.append(self.expr(closers))
        return parts[0] if len(parts) == 1 else ("union", parts)

    # -- arithmetic ------------------------------------------------------------------------------
    def expr(self, closers: str) -> tuple:
        self.enter()
        terms = []
        sign = None
        if self.at_char("+-") or self.at(CMD, "\\pm") or self.at(CMD, "\\mp"):
            sign = self.take().text
        term = self.term(closers)
        if sign == "-":
            term = ("neg", term)
        elif sign in ("\\pm", "\\mp"):
            term = ("pm", ("num", Fraction(0), 0, False), term)
        terms.append(term)
        while True:
            if self.at_char("+-"):
                op = self.take().text
                rhs = self.term(closers)
                terms.append(("neg", rhs) if op == "-" else rhs)
            elif self.at(CMD, "\\pm") or self.at(CMD, "\\mp"):
                self.take()
                rhs = self.term(closers)
                left = terms[0] if len(terms) == 1 else ("add", terms)
                terms = [("pm", left, rhs)]
            else:
                break
        self.depth -= 1
        return terms[0] if len(terms) == 1 else ("add", terms)

    def term(self, closers: str) -> tuple:
        node = self.unary(closers)
        while True:
            if self.at_char("*"):
                self.take()
                node = _mul(node, self.unary(closers))
            elif self.at_char("/"):
                self.take()
                node = ("div", node, self.unary(closers))
            elif self._starts_factor(closers):
                if self.at(SPACE):
                    if self.peek(1).kind == NUM:
                        self._number_space(node)
                    else:
                        self.take()  # "F_k F_n": a space between two names
                node = _mul(node, self.power(closers))
            else:
                return node

    def _number_space(self, node) -> None:
        """A space is kept only between two numbers: allowed after a power or a closed group
        (``2^6 3^5``), not between two plain numbers (``2 3``)."""
        if node[0] == "num":
            raise GluedNumbers("two numbers separated by a space")
        self.take()

    def _starts_factor(self, closers: str) -> bool:
        tok = self.peek()
        if tok is None:
            return False
        if tok.kind == SPACE:
            nxt = self.peek(1)
            return nxt is not None and (nxt.kind == NUM or (nxt.kind == WORD and nxt.text.lower() not in _SEPARATOR_WORDS))
        if tok.kind in (NUM, WORD):
            return not (tok.kind == WORD and tok.text.lower() in _SEPARATOR_WORDS)
        if tok.kind == CMD:
            return tok.text not in RELATIONS and tok.text not in ("\\cup", "\\pm", "\\mp", "\\}", "\\to", "\\rfloor", "\\rceil") and not (
                tok.text.startswith("\\end{"))
        if tok.kind == CHAR:
            if tok.text == "|" and "|" in closers:
                # Inside |...| a bar directly followed by an operand opens a nested |...| that
                # multiplies (||x||y|| is |(|x| |y|)|); any other bar closes.
                nxt = self.peek(1)
                return nxt is not None and (nxt.kind in (NUM, WORD) or (nxt.kind == CHAR and nxt.text == "("))
            if tok.text in closers:
                return False
            return tok.text in "([{|"
        return False

    def unary(self, closers: str) -> tuple:
        if self.at_char("-"):
            self.take()
            return ("neg", self.unary(closers))
        if self.at_char("+"):
            self.take()
            return self.unary(closers)
        return self.power(closers)

    def power(self, closers: str) -> tuple:
        base = self.postfix(closers)
        # ``**`` is Python's power operator (SymPy golds: ``2**100``).
        if self.at_char("^") or (self.at_char("*") and self.at(CHAR, "*", offset=1)):
            self.pos += 1 if self.at_char("^") else 2
            return self._postfix_ops(("pow", base, self.exponent()))
        return base

    def exponent(self) -> tuple:
        self.skip_spaces()
        if self.at_char("{"):
            return self.group()
        if self.at_char("-"):
            self.take()
            return ("neg", self.atom(""))
        return self.atom("")

    def postfix(self, closers: str) -> tuple:
        return self._postfix_ops(self.atom(closers))

    def _postfix_ops(self, node) -> tuple:
        while True:
            if self.at_char("!"):
                self.take()
                node = ("fact", node)
            elif self.at(CMD, "\\circ"):
                self.take()
                node = ("deg", node)
            elif self.at_char("%"):
                self.take()
                node = ("pct", node)
            elif self.at_char("'"):
                self.take()
                if node[0] == "mul" and node[1] and node[1][-1][0] == "sym":
                    # "ab'": the prime marks the last letter of a product of letters.
                    node = ("mul", node[1][:-1] + [("sym", node[1][-1][1] + "'")])
                elif node[0] == "sym":
                    node = ("sym", node[1] + "'")
                else:
                    raise ParseError("prime on a non-name")
            elif self.at_char("_") and node[0] == "sym" and node[1].endswith("'"):
                # "y''_1" is "y_1''": the subscript belongs to the name, the primes follow it.
                self.take()
                sub = self.group() if self.at_char("{") else self.atom("")
                bare = node[1].rstrip("'")
                node = ("sym", bare + "_" + _plain(sub) + "'" * (len(node[1]) - len(bare)))
            else:
                return node

    # -- atoms -----------------------------------------------------------------------------------
    def group(self) -> tuple:
        """``{...}``: a braced group as one node."""
        self.expect_char("{")
        node = self.answer("}")
        self.expect_char("}")
        return node

    def atom(self, closers: str) -> tuple:
        self.enter()
        try:
            return self._atom(closers)
        finally:
            self.depth -= 1

    def _atom(self, closers: str) -> tuple:
        tok = self.take()
        if tok.kind == NUM:
            node = _num_node(tok.text)
            if node[2] == 0:
                mixed = self._mixed_number(node[1])
                if mixed is not None:
                    return mixed
            if self.at_char("_"):
                self.take()
                base = self.take() if not self.at_char("{") else None
                if base is None:
                    self.take()
                    base = self.take()
                    self.expect_char("}")
                return ("based", tok.text, base.text)
            return node
        if tok.kind in (WORD, TEXT_WORD):
            return self._word(tok)
        if tok.kind == CHAR:
            if tok.text in _OPEN:
                return self._bracket(tok.text)
            if tok.text == "{":
                inner = self.answer("}")
                self.expect_char("}")
                if inner[0] == "list":
                    return ("set", inner[1])
                return inner
            if tok.text == "|":
                inner = self.expr("|")
                self.expect_char("|")
                return ("abs", inner)
            raise ParseError(f"unexpected {tok.text!r}")
        if tok.kind == CMD:
            return self._command(tok.text)
        raise ParseError(f"unexpected {tok.text!r}")

    def _mixed_number(self, whole: Fraction):
        """``1 1/2`` or ``1\\frac12`` right after an integer: a mixed number. The fraction must be
        proper (``11 6/6`` is no number at all); ``2\\frac{5}{3}`` stays a product."""
        start = self.pos
        spaced = self.at(SPACE)
        if spaced:
            if not (self.at(NUM, offset=1) and self.at(CHAR, "/", offset=2) and self.at(NUM, offset=3)):
                return None
            num, den = self.peek(1).text, self.peek(3).text
            if "." in num or "." in den or self.at(CHAR, "^", offset=4) or self.at(CHAR, "_", offset=4):
                return None
            self.pos += 4
            if int(den) == 0 or int(num) >= int(den):
                return ("text", f"{whole} {num}/{den}")
            return ("num", whole + Fraction(int(num), int(den)), 0, False)
        if not self.at(CMD, "\\frac"):
            return None
        self.take()
        try:
            num, den = self._argument(), self._argument()
        except ParseError:
            self.pos = start
            return None
        if (num[0] == den[0] == "num" and num[2] == den[2] == 0 and 0 < num[1] < den[1]
                and not self.at_char("^")):
            return ("num", whole + num[1] / den[1], 0, False)
        self.pos = start
        return None

    def _bracket(self, opener: str) -> tuple:
        inner = self.answer(")]")
        closer = self.take().text
        items = inner[1] if inner[0] == "list" else [inner]
        if len(items) == 1 and (opener + closer in ("()", "[]") or items[0][0] == "matrix"):
            # Plain grouping (square brackets group too: SymPy's ``8*[2*cos(t)]^2``; an interval
            # needs two ends), or a matrix in delimiters.
            return items[0]
        return ("tuple", opener, closer, items)

    def _word(self, tok: Token) -> tuple:
        word = tok.text
        if tok.kind == TEXT_WORD and len(word) > 1:
            words = [word]
            while self.peek() is not None and self.peek().kind in (TEXT_WORD, SPACE):
                nxt = self.take()
                if nxt.kind == TEXT_WORD:
                    words.append(nxt.text)
            return ("text", " ".join(w.lower() for w in words))
        if word in FUNCTIONS or word in FUNCTION_ALIASES:
            return self._function(FUNCTION_ALIASES.get(word, word))
        if word.lower() in CALLS and (len(word) > 2 or self.sympy) and self.at_char("("):
            return self._call(CALLS[word.lower()])
        if word == "pi":
            return ("const", "pi")
        if word in _INFINITY_WORDS:
            return ("const", "inf")
        if word in GREEK_WORDS:
            return self._named_greek("\\" + word)
        if self.sympy and word in ("E", "I"):
            return ("const", word.lower())
        if len(word) > 1:
            # A product of one-letter names ("xy"), the last of which may carry a subscript.
            factors = [self._name(letter) for letter in word[:-1]]
            factors.append(self._named(word[-1]))
            return ("mul", factors)
        return self._named(word)

    def _named(self, letter: str) -> tuple:
        node = self._name(letter)
        if node[0] == "sym" and self.at_char("_"):
            self.take()
            sub = self.group() if self.at_char("{") else self.atom("")
            node = ("sym", node[1] + "_" + _plain(sub))
        if node[0] == "sym" and node[1].split("_")[0] in APPLIED_NAMES and self.at_char("("):
            self.take()
            args = self.answer(")")
            self.expect_char(")")
            node = ("apply", node[1], args[1] if args[0] == "list" else [args])
        return node

    @staticmethod
    def _name(letter: str) -> tuple:
        if letter == "e":
            return ("const", "e")
        if letter == "i":
            return ("const", "i")
        return ("sym", letter)

    def _named_greek(self, name: str) -> tuple:
        node = ("sym", name)
        if self.at_char("_"):
            self.take()
            sub = self.group() if self.at_char("{") else self.atom("")
            node = ("sym", name + "_" + _plain(sub))
        return node

    def _call(self, name: str) -> tuple:
        """A function with an argument list: ``\\gcd(12, 18)``, ``Min(a, b)``, ``Eq(x, y)``,
        ``\\max\\{a, b\\}``; ``\\det`` and ``\\min`` also take a single argument."""
        self.skip_spaces()
        if self.at_char("(") or self.at(CMD, "\\{"):
            closing = ")" if self.take().text == "(" else "\\}"
            inner = self.answer(")" if closing == ")" else "")
            if closing == ")":
                self.expect_char(")")
            elif self.at(CMD, "\\}"):
                self.take()
            else:
                raise ParseError("unclosed argument list")
            args = inner[1] if inner[0] == "list" else [inner]
        elif name in ("det", "max", "min", "floor", "ceil", "abs"):
            args = [self._function_argument()]
        else:
            raise ParseError(f"{name} without arguments")
        return _call_node(name, args)

    def _function(self, name: str) -> tuple:
        base = None
        power = None
        if name in ("log", "lg") and self.at_char("_"):
            self.take()
            base = self.group() if self.at_char("{") else self.atom("")
        if self.at_char("^"):
            self.take()
            power = self.exponent()
        arg = self._function_argument()
        if name == "lg":
            name, base = "log", ("num", Fraction(10), 0, False)
        if name == "log" and base is None and arg[0] == "tuple" and arg[1:3] == ("(", ")") and len(arg[3]) == 2:
            arg, base = arg[3]  # log(x, b), as SymPy writes a logarithm to base b
            if base == ("sym", "E"):
                base = ("const", "e")  # SymPy's name for Euler's number
        node = ("func", name, arg, base)
        if power is not None:
            if power == ("neg", ("num", Fraction(1), 0, False)) and name in _TRIG_INVERSES:
                # \sin^{-1} and \sinh^{-1} are the inverse functions, not reciprocals.
                return ("func", "arc" + name, arg, None)
            node = ("pow", node, power)
        return node

    def _function_argument(self) -> tuple:
        self.skip_spaces()
        if self.at_char("(") or self.at_char("{"):
            return self.atom("")
        # "\sin 2x": the argument is the product of plain factors that follow.
        factors = [self.power("")]
        while True:
            tok = self.peek()
            if tok is None or tok.kind not in (NUM, WORD) or (tok.kind == WORD and (tok.text in FUNCTIONS or tok.text in _SEPARATOR_WORDS)):
                break
            factors.append(self.power(""))
        return factors[0] if len(factors) == 1 else ("mul", factors)

    def _command(self, name: str) -> tuple:
        if name in _CONSTANT_COMMANDS:
            return _CONSTANT_COMMANDS[name]
        if name == "\\sqrt":
            index = None
            if self.at_char("["):
                self.take()
                index = self.expr("]")
                self.expect_char("]")
            radicand = self._argument()
            return ("func", "sqrt", radicand, index)
        if name in ("\\sum", "\\prod"):
            return self._big_operator(name[1:])
        bare = name[1:]
        if bare in FUNCTIONS:
            return self._function(bare)
        if bare in _GREEK:
            return self._named_greek(name)
        if bare in FUNCTION_ALIASES:
            return self._function(FUNCTION_ALIASES[bare])
        if bare in CALLS:
            return self._call(CALLS[bare])
        if name == "\\frac":
            num = self._argument()
            den = self._argument()
            return ("div", num, den)
        if name == "\\binom":
            return ("binom", self._argument(), self._argument())
        if name == "\\{":
            inner = self.answer("")
            if not self.at(CMD, "\\}"):
                raise ParseError("unclosed set")
            self.take()
            return ("set", inner[1] if inner[0] == "list" else [inner])
        if name.startswith("\\begin{"):
            return self._environment(name[len("\\begin{") : -1])
        if name in ("\\lfloor", "\\lceil"):
            inner = self.expr("")
            closing = self.take()
            if closing.text not in ("\\rfloor", "\\rceil"):
                raise ParseError("unclosed floor/ceil")
            return ("func", "floor" if name == "\\lfloor" else "ceil", inner, None)
        raise ParseError(f"unsupported command {name}")

    def _big_operator(self, kind: str) -> tuple:
        """``\\sum_{k=a}^{b} body`` / ``\\prod``: the body is the product that follows."""
        if not self.at_char("_"):
            raise ParseError(f"\\{kind} without an index")
        self.take()
        lower = self.group() if self.at_char("{") else self.atom("")
        if lower[0] != "rel" or lower[2] != ["="] or lower[1][0][0] != "sym":
            raise ParseError(f"\\{kind} index is not k=a")
        if not self.at_char("^"):
            raise ParseError(f"\\{kind} without an upper bound")
        self.take()
        upper = self.exponent()
        body = self.term("")
        return ("sum" if kind == "sum" else "prod", lower[1][0][1], lower[1][1], upper, body)

    def _argument(self) -> tuple:
        """A command argument: a braced group, or one token (``\\frac12``: digits one at a time)."""
        self.skip_spaces()
        if self.at_char("{"):
            return self.group()
        tok = self.peek()
        if tok is not None and tok.kind == NUM and len(tok.text) > 1 and "." not in tok.text:
            # \frac12 -> \frac{1}{2}: split the first digit off the number token.
            self.toks[self.pos] = Token(NUM, tok.text[1:])
            return _num_node(tok.text[0])
        if tok is not None and tok.kind == WORD and len(tok.text) > 1:
            self.toks[self.pos] = Token(WORD, tok.text[1:])
            return self._name(tok.text[0])
        return self.atom("")

    def _environment(self, env: str) -> tuple:
        env = env.rstrip("*")
        if env == "array" and self.at_char("{"):
            self.pos = _skip_group(self.toks, self.pos)
        rows: list[list[tuple]] = []
        row: list[tuple] = []
        while True:
            self.skip_spaces()
            if self.peek() is not None and self.peek().kind == CMD and self.peek().text.startswith("\\end{"):
                self.take()
                break
            if self.peek() is None:
                raise ParseError("unclosed environment")
            if self.at(ROWSEP):
                self.take()
                if row:
                    rows.append(row)
                row = []
                continue
            if self.at_char("&"):
                self.take()
                continue
            row.append(self.relation(""))
        if row:
            rows.append(row)
        if env in _SYSTEM_ENVS:
            return ("list", [r[0] for r in rows if r])
        if env not in _MATRIX_ENVS:
            raise ParseError(f"unsupported environment {env}")
        if not rows or len({len(r) for r in rows}) != 1:
            raise ParseError("ragged matrix")
        node = ("matrix", rows)
        if env in ("vmatrix", "Vmatrix"):
            return ("func", "det", node, None)
        return node


def _call_node(name: str, args: list) -> tuple:
    """The node of a called function; an argument count that does not fit is unknown notation."""
    unary = {"floor": "floor", "ceil": "ceil", "det": "det"}
    if name in unary and len(args) == 1:
        return ("func", unary[name], args[0], None)
    if name == "abs" and len(args) == 1:
        return ("abs", args[0])
    if name == "factorial" and len(args) == 1:
        return ("fact", args[0])
    if name == "binomial" and len(args) == 2:
        return ("binom", args[0], args[1])
    if name == "rational" and len(args) == 2:
        return ("div", args[0], args[1])
    if name == "root" and len(args) == 2:
        return ("func", "sqrt", args[0], args[1])
    if name in ("=", "!=", "<", "<=", ">", ">=") and len(args) == 2:
        return ("rel", list(args), [name])
    if name in ("gcd", "lcm", "max", "min") and args:
        return ("call", name, list(args))
    if name == "mod" and len(args) == 2:
        return ("call", name, list(args))
    raise ParseError(f"{name} with {len(args)} arguments")


def _skip_group(tokens: list[Token], pos: int) -> int:
    depth = 0
    for k in range(pos, len(tokens)):
        if tokens[k].kind == CHAR and tokens[k].text == "{":
            depth += 1
        elif tokens[k].kind == CHAR and tokens[k].text == "}":
            depth -= 1
            if depth == 0:
                return k + 1
    raise ParseError("unclosed group")


def _mul(a: tuple, b: tuple) -> tuple:
    # A one-element "set" in a product is a group in braces (\left\{x + y\right\} z).
    a = a[1][0] if a[0] == "set" and len(a[1]) == 1 else a
    b = b[1][0] if b[0] == "set" and len(b[1]) == 1 else b
    factors = (a[1] if a[0] == "mul" else [a]) + (b[1] if b[0] == "mul" else [b])
    return ("mul", factors)


def _plain(node: tuple) -> str:
    """A subscript as text: ``x_{12}`` and ``x_12`` are the same name."""
    kind = node[0]
    if kind == "num":
        value = node[1]
        return str(value.numerator) if value.denominator == 1 else str(value)
    if kind == "sym":
        return node[1]
    if kind == "const":
        return {"pi": "\\pi", "e": "e", "i": "i", "inf": "\\infty"}[node[1]]
    if kind == "mul":
        return "".join(_plain(f) for f in node[1])
    if kind == "add":
        return "+".join(_plain(t) for t in node[1])
    if kind == "neg":
        return "-" + _plain(node[1])
    return repr(node)


def parse_answer(tokens) -> tuple:
    """The tree of a whole answer (see the module docstring); :class:`ParseError` if unsupported."""
    tokens = list(tokens)
    if len(tokens) > MAX_TOKENS:
        raise ParseError("answer too long")
    parser = _Parser(tokens)
    try:
        node = parser.answer("")
    except RecursionError:
        raise ParseError("too deep") from None
    if parser.peek() is not None:
        raise ParseError(f"trailing {parser.peek().text!r}")
    return node
