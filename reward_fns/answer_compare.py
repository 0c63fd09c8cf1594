"""Compare two parsed answers (see :mod:`reward_fns.answer_parse`) without sympy.

* Structure first: lists and sets as multisets, tuples and intervals in order with their
  brackets, matrices by shape, unions by part, ``name = value`` items by value.
* Relations: equations are equal when their ``lhs - rhs`` differ by a constant non-zero factor,
  inequalities when that factor is positive; one-variable inequalities also match intervals.
* Expressions: evaluated at fixed random points, exactly (``Fraction``) while only rational
  operations occur, in complex floating point otherwise (relative tolerance 1e-9). For a
  non-trivial difference of two expressions to vanish at three random points is a coincidence;
  rational functions are compared exactly.
* Numbers: exact, plus two rounding rules: a decimal gold (``1.45``, ``2.31 \\times 10^{-3}``)
  accepts a more precise value that rounds to it, and a decimal prediction agreeing with the gold
  to 1e-9 relative (nine or more significant digits) counts as that value.

``compare`` returns True, False, or None when the answer uses something this module does not
model; the caller then asks the symbolic checker.
"""

from __future__ import annotations

import cmath
import math
import zlib
from fractions import Fraction

REL_TOL = 1e-9
ABS_TOL = 1e-12
MAX_EXACT_BITS = 20000
MAX_ITEMS = 64
_NAME_KINDS = frozenset({"sym", "apply"})
_INEQUALITIES = {"<": (1, True), ">": (-1, True), "<=": (1, False), ">=": (-1, False)}
_POINT_BASES = (Fraction(7, 5), Fraction(13, 11), Fraction(-29, 17))


class Unsupported(Exception):
    """The expression uses something the evaluator does not model."""


# ---- evaluation ------------------------------------------------------------------------------


def _point_value(name: str, k: int) -> Fraction:
    """The value of symbol ``name`` at evaluation point ``k``: distinct per name, never a small
    integer (so ``x - 1`` or ``x - 2`` in a denominator does not vanish), negative at the last
    point (so ``|x|`` and ``\\sqrt{x^2}`` are not ``x``, as without assumptions in sympy)."""
    h = zlib.crc32(name.encode())
    base = _POINT_BASES[k]
    offset = Fraction(h % 97 + 3, 101)
    return base + offset if base > 0 else base - offset


def _exact_root(value: Fraction, n: int) -> Fraction | None:
    if value < 0 or n <= 0 or n > 12:
        return None
    out = []
    for part in (value.numerator, value.denominator):
        root = round(part ** (1.0 / n)) if part.bit_length() < 1000 else None
        if root is None:
            return None
        for candidate in (root - 1, root, root + 1):
            if candidate >= 0 and candidate**n == part:
                out.append(candidate)
                break
        else:
            return None
    return Fraction(out[0], out[1])


def _power(base, exponent):
    if isinstance(base, Fraction) and isinstance(exponent, Fraction):
        if exponent.denominator == 1:
            e = exponent.numerator
            bits = max(base.numerator.bit_length(), base.denominator.bit_length(), 1)
            if abs(e) * bits <= MAX_EXACT_BITS:
                if base == 0 and e < 0:
                    raise ZeroDivisionError
                return base**e
        else:
            root = _exact_root(base, exponent.denominator)
            if root is not None:
                return _power(root, Fraction(exponent.numerator))
            if base < 0 and exponent.denominator % 2 == 1:
                # A real odd root of a negative number: (-8)^(1/3) = -2.
                magnitude = _power(-base, exponent)
                return -magnitude if exponent.numerator % 2 else magnitude
    b, e = complex(base), complex(exponent)
    if b == 0:
        if e.real > 0:
            return Fraction(0)
        raise ZeroDivisionError
    try:
        result = b**e
    except OverflowError:
        raise Unsupported("overflow") from None
    if not (math.isfinite(result.real) and math.isfinite(result.imag)):
        raise Unsupported("overflow")
    return result


def _as_complex(value) -> complex:
    if isinstance(value, tuple):
        raise Unsupported("matrix where a number is needed")
    return complex(value)


_FUNCTIONS = {
    "sin": cmath.sin, "cos": cmath.cos, "tan": cmath.tan, "sinh": cmath.sinh, "cosh": cmath.cosh,
    "tanh": cmath.tanh, "arcsin": cmath.asin, "arccos": cmath.acos, "arctan": cmath.atan, "exp": cmath.exp,
    "ln": cmath.log,
    "sec": lambda z: 1 / cmath.cos(z), "csc": lambda z: 1 / cmath.sin(z), "cot": lambda z: 1 / cmath.tan(z),
    "coth": lambda z: 1 / cmath.tanh(z), "sech": lambda z: 1 / cmath.cosh(z), "csch": lambda z: 1 / cmath.sinh(z),
    "arcsec": lambda z: cmath.acos(1 / z), "arccsc": lambda z: cmath.asin(1 / z), "arccot": lambda z: cmath.atan(1 / z),
    "arcsinh": cmath.asinh, "arccosh": cmath.acosh, "arctanh": cmath.atanh,
}
_TRIG = frozenset({"sin", "cos", "tan", "sec", "csc", "cot"})
_DEGREE = ("div", ("const", "pi"), ("num", Fraction(180), 0, False))


def _in_radians(node):
    """A trig function's argument with its degree marks as radians (``\\sin 30^\\circ``). Outside
    a trig function a degree mark is a unit: ``180^\\circ - 2\\alpha`` is ``180 - 2\\alpha``."""
    if not isinstance(node, tuple) or not node or not isinstance(node[0], str):
        return node
    if node[0] == "deg":
        return ("mul", [_in_radians(node[1]), _DEGREE])
    if node[0] == "func":
        return node  # a nested function converts its own argument
    return tuple(
        [_in_radians(p) for p in part] if isinstance(part, list) else _in_radians(part) for part in node
    )


def evaluate(node, env: dict[str, Fraction]):
    """Value of an expression node: ``Fraction`` when exact, else ``complex``; a matrix is a tuple
    of row tuples. Raises :class:`Unsupported` (or ZeroDivisionError/ValueError at a singular
    point)."""
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "sym":
        if node[1] not in env:
            raise Unsupported(f"unbound {node[1]}")
        return env[node[1]]
    if kind == "const":
        if node[1] == "pi":
            return complex(math.pi)
        if node[1] == "e":
            return complex(math.e)
        if node[1] == "i":
            return complex(0, 1)
        raise Unsupported("infinity")
    if kind == "add":
        return _sum(evaluate(term, env) for term in node[1])
    if kind == "neg":
        return _scale(evaluate(node[1], env), Fraction(-1))
    if kind == "mul":
        product = Fraction(1)
        for factor in node[1]:
            product = _multiply(product, evaluate(factor, env))
        return product
    if kind == "div":
        num, den = evaluate(node[1], env), evaluate(node[2], env)
        if isinstance(den, tuple):
            raise Unsupported("division by a matrix")
        if den == 0:
            raise ZeroDivisionError
        return _scale(num, 1 / den) if isinstance(num, tuple) else num / den
    if kind == "pow":
        base, exponent = evaluate(node[1], env), evaluate(node[2], env)
        if isinstance(base, tuple) or isinstance(exponent, tuple):
            raise Unsupported("matrix power")
        return _power(base, exponent)
    if kind == "func":
        return _function(node, env)
    if kind == "fact":
        value = evaluate(node[1], env)
        if isinstance(value, Fraction) and value.denominator == 1 and 0 <= value <= 170:
            return Fraction(math.factorial(int(value)))
        return _factorial(value)  # x! at a non-integer point (a variable's value) is Gamma(x + 1)
    if kind == "binom":
        n, k = evaluate(node[1], env), evaluate(node[2], env)
        if all(isinstance(v, Fraction) and v.denominator == 1 and 0 <= v <= 1000 for v in (n, k)):
            return Fraction(math.comb(int(n), int(k)))
        return _factorial(n) / (_factorial(k) * _factorial(_add(n, -k)))
    if kind == "abs":
        value = evaluate(node[1], env)
        if isinstance(value, Fraction):
            return abs(value)
        return complex(abs(_as_complex(value)))
    if kind == "deg":
        return evaluate(node[1], env)  # a degree mark outside a trig function is a unit
    if kind == "call":
        return _call(node[1], [evaluate(a, env) for a in node[2]])
    if kind == "pct":
        value = evaluate(node[1], env)
        return value / 100 if not isinstance(value, tuple) else _scale(value, Fraction(1, 100))
    if kind == "matrix":
        return tuple(tuple(evaluate(cell, env) for cell in row) for row in node[1])
    if kind in ("sum", "prod"):
        return _big_operator(node, env)
    raise Unsupported(kind)


def _factorial(value) -> complex:
    """Gamma(value + 1) for a real value (the factorial and binomial of non-integers)."""
    z = _as_complex(value)
    if abs(z.imag) > ABS_TOL:
        raise Unsupported("gamma of a complex number")
    if not math.isfinite(z.real) or abs(z.real) > 170:
        raise ValueError("gamma out of range")  # this point is skipped, like a singular one
    try:
        return complex(math.gamma(z.real + 1))
    except (ValueError, OverflowError):
        raise ValueError("gamma pole") from None


def _real(value) -> Fraction | float:
    if isinstance(value, Fraction):
        return value
    z = _as_complex(value)
    if abs(z.imag) > ABS_TOL * max(1.0, abs(z.real)):
        raise Unsupported("not a real number")
    return z.real


def _call(name: str, args: list):
    """gcd, lcm (integers), max, min (real numbers), mod (a mod b = a - b floor(a/b))."""
    if name in ("max", "min"):
        values = [_real(a) for a in args]
        best = max(values) if name == "max" else min(values)
        return best if isinstance(best, Fraction) else complex(best)
    if name in ("gcd", "lcm"):
        if not all(isinstance(a, Fraction) and a.denominator == 1 for a in args):
            raise Unsupported(f"{name} of non-integers")
        ints = [int(a) for a in args]
        return Fraction(math.gcd(*ints) if name == "gcd" else math.lcm(*ints))
    if name == "mod":
        a, b = _real(args[0]), _real(args[1])
        if b == 0:
            raise ZeroDivisionError
        result = a - b * math.floor(a / b)
        return result if isinstance(result, Fraction) else complex(result)
    raise Unsupported(name)


def _big_operator(node, env):
    """A sum or product over integer bounds (at most 1000 terms)."""
    kind, var, lower, upper, body = node
    low, high = evaluate(lower, env), evaluate(upper, env)
    if not all(isinstance(v, Fraction) and v.denominator == 1 for v in (low, high)) or high - low > 1000:
        raise Unsupported("symbolic bounds")
    total = Fraction(0) if kind == "sum" else Fraction(1)
    inner = dict(env)
    for k in range(int(low), int(high) + 1):
        inner[var] = Fraction(k)
        value = evaluate(body, inner)
        total = _add(total, value) if kind == "sum" else _multiply(total, value)
    return total


def _function(node, env):
    _, name, arg_node, extra = node
    if name in _TRIG:
        arg_node = _in_radians(arg_node)
    if name == "det":
        matrix = evaluate(arg_node, env)
        if not isinstance(matrix, tuple):
            raise Unsupported("det of a number")
        return _determinant([list(row) for row in matrix])
    arg = evaluate(arg_node, env)
    if isinstance(arg, tuple):
        raise Unsupported("function of a matrix")
    if name == "sqrt":
        index = Fraction(2) if extra is None else evaluate(extra, env)
        if not isinstance(index, Fraction) or index == 0:
            raise Unsupported("root index")
        return _power(arg, 1 / index)
    if name == "log":
        if arg == 0:
            raise ValueError("log 0")
        value = cmath.log(_as_complex(arg))
        if extra is None:
            return value
        base = _as_complex(evaluate(extra, env))
        if base in (0, 1):
            raise ValueError("log base")
        return value / cmath.log(base)
    if name in ("floor", "ceil"):
        if not isinstance(arg, Fraction):
            real = _as_complex(arg)
            if abs(real.imag) > ABS_TOL:
                raise Unsupported("floor of a complex")
            arg = Fraction(real.real)
        return Fraction(math.floor(arg) if name == "floor" else math.ceil(arg))
    function = _FUNCTIONS.get(name)
    if function is None:
        raise Unsupported(name)
    if name == "ln" and arg == 0:
        raise ValueError("log 0")
    return function(_as_complex(arg))


def _determinant(rows):
    n = len(rows)
    if n == 0 or any(len(r) != n for r in rows) or n > 6:
        raise Unsupported("determinant")
    if n == 1:
        return rows[0][0]
    total = Fraction(0)
    for j in range(n):
        minor = [row[:j] + row[j + 1 :] for row in rows[1:]]
        term = _multiply(rows[0][j], _determinant(minor))
        total = _add(total, term if j % 2 == 0 else _scale(term, Fraction(-1)))
    return total


def _add(a, b):
    if isinstance(a, tuple) or isinstance(b, tuple):
        if not (isinstance(a, tuple) and isinstance(b, tuple)):
            if a == 0:
                return b
            if b == 0:
                return a
            raise Unsupported("matrix plus number")
        if len(a) != len(b) or any(len(x) != len(y) for x, y in zip(a, b)):
            raise Unsupported("matrix shapes")
        return tuple(tuple(_add(x, y) for x, y in zip(ra, rb)) for ra, rb in zip(a, b))
    return a + b


def _scale(matrix_or_value, factor):
    if isinstance(matrix_or_value, tuple):
        return tuple(tuple(_multiply(cell, factor) for cell in row) for row in matrix_or_value)
    return _multiply(matrix_or_value, factor)


def _multiply(a, b):
    if isinstance(a, tuple) and isinstance(b, tuple):
        if len(a[0]) != len(b):
            raise Unsupported("matrix shapes")
        return tuple(
            tuple(_sum(_multiply(a[i][k], b[k][j]) for k in range(len(b))) for j in range(len(b[0])))
            for i in range(len(a))
        )
    if isinstance(a, tuple):
        return _scale(a, b)
    if isinstance(b, tuple):
        return _scale(b, a)
    return a * b


def _sum(values):
    total = Fraction(0)
    for value in values:
        total = _add(total, value)
    return total


def values_equal(a, b) -> bool:
    """Exact equality for two ``Fraction`` s, relative 1e-9 otherwise; matrices cell by cell."""
    if isinstance(a, tuple) or isinstance(b, tuple):
        if not (isinstance(a, tuple) and isinstance(b, tuple)) or len(a) != len(b):
            return False
        return all(len(ra) == len(rb) and all(values_equal(x, y) for x, y in zip(ra, rb)) for ra, rb in zip(a, b))
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return a == b
    za, zb = complex(a), complex(b)
    return abs(za - zb) <= REL_TOL * max(abs(za), abs(zb)) + ABS_TOL


def free_symbols(node, out: set[str] | None = None) -> set[str]:
    """Names of the symbols in a node."""
    out = set() if out is None else out
    if node[0] == "sym":
        out.add(node[1])
        return out
    for part in node[1:]:
        if isinstance(part, tuple) and part and isinstance(part[0], str):
            free_symbols(part, out)
        elif isinstance(part, list):
            for item in part:
                if isinstance(item, list):
                    for cell in item:
                        free_symbols(cell, out)
                elif isinstance(item, tuple):
                    free_symbols(item, out)
    return out


def _contains(node, kinds: frozenset) -> bool:
    if node[0] in kinds:
        return True
    for part in node[1:]:
        if isinstance(part, tuple) and part and isinstance(part[0], str) and _contains(part, kinds):
            return True
        if isinstance(part, list):
            for item in part:
                if isinstance(item, tuple) and _contains(item, kinds):
                    return True
                if isinstance(item, list) and any(_contains(c, kinds) for c in item):
                    return True
    return False


_NOT_SCALAR = frozenset({"list", "tuple", "set", "union", "rel", "ratio", "text", "based", "apply", "pm"})


# ---- numbers: rounding rules -------------------------------------------------------------------


def decimal_places(node) -> int | None:
    """Digits after the point of a decimal literal (``1.45``, ``-0.5``, ``2.3 \\times 10^{-3}``),
    counted in the number's own scale; None for anything else (integers, fractions...)."""
    if node[0] == "neg":
        return decimal_places(node[1])
    if node[0] == "num":
        return node[2] if node[2] > 0 else None
    if node[0] == "mul" and len(node[1]) == 2 and node[1][0][0] == "num" and node[1][1][0] == "pow":
        mantissa, power = node[1]
        base, exponent = power[1], power[2]
        sign = 1
        if exponent[0] == "neg":
            sign, exponent = -1, exponent[1]
        if base[0] == "num" and base[1] == 10 and exponent[0] == "num" and exponent[1].denominator == 1:
            places = mantissa[2] - sign * int(exponent[1])
            return places if places > 0 else None
    return None


def rounds_to(pred, gold: Fraction, places: int) -> bool:
    """True if ``pred`` rounds to ``gold`` at ``places`` decimals. An exact tie may round either
    way (``0.125`` -> ``0.13`` half up, ``0.12`` half even): both conventions are in use."""
    if isinstance(pred, complex):
        if abs(pred.imag) > ABS_TOL or not math.isfinite(pred.real):
            return False
        pred = Fraction(pred.real)
    scaled = abs(pred) * 10**places
    low = math.floor(scaled)
    candidates = {low + 1} if scaled - low > Fraction(1, 2) else {low} if scaled - low < Fraction(1, 2) else {low, low + 1}
    sign = 1 if pred >= 0 else -1
    return any(Fraction(sign * c, 10**places) == gold for c in candidates)


def _numbers_equal(p_node, g_node, p_value, g_value, scale: Fraction) -> bool:
    p_value = p_value * scale if not isinstance(p_value, tuple) else p_value
    if values_equal(p_value, g_value):
        return True
    places = decimal_places(g_node)
    if places is not None and isinstance(g_value, Fraction) and rounds_to(p_value, g_value, places):
        return True
    if decimal_places(p_node) is not None and not isinstance(g_value, tuple) and not isinstance(p_value, tuple):
        # A long decimal for an exact value: 0.333333333333333333 for 1/3.
        za, zb = complex(p_value), complex(g_value)
        return abs(za - zb) <= REL_TOL * abs(zb)
    return False


# ---- structure ---------------------------------------------------------------------------------


def is_name(node) -> bool:
    """A quantity's name rather than a value: ``x``, ``f(x)``, ``(p, q)``, ``AB``, ``A:B``,
    ``\\frac{NO}{BO}``, ``|AB|``, ``a_{37}``."""
    kind = node[0]
    if kind == "sym":
        return True
    if kind == "apply":
        return all(a[0] in ("sym", "num") for a in node[2])
    if kind == "mul":
        return all(f[0] == "sym" for f in node[1])
    if kind == "tuple":
        return node[1] == "(" and node[2] == ")" and all(is_name(i) for i in node[3])
    if kind == "ratio":
        return all(is_name(i) for i in node[1])
    if kind == "div":
        return is_name(node[1]) and is_name(node[2])
    if kind == "abs":
        return is_name(node[1])
    return False


def _name_key(node) -> str:
    return repr(node)


def split_definition(node):
    """``x = v`` / ``x = a = v`` / ``x \\approx v`` / ``x \\in S`` -> (name key, v); else (None,
    node). An approximation after an exact value is dropped: ``\\frac{\\sqrt3}{3} \\approx 0.577``
    is ``\\frac{\\sqrt3}{3}``; in a chain ``x = a = b`` the last side is the value."""
    if node[0] != "rel":
        return None, node
    sides, ops = node[1], node[2]
    if not all(op in ("=", "~", "in") for op in ops):
        return None, node
    name = None
    if is_name(sides[0]) and len(sides) > 1:
        name, sides, ops = _name_key(sides[0]), sides[1:], ops[1:]
    elif "in" in ops:
        return None, node
    kept = [sides[0]]
    for op, side in zip(ops, sides[1:]):
        if op == "~":
            break
        kept.append(side)
    if name is None and len(kept) == len(sides) and len(sides) > 1:
        if all(op == "=" for op in ops) and not any(free_symbols(side) for side in sides):
            return None, kept[-1]  # a computation "\\sqrt{4} = 2": its value is the last side
        return None, node  # an equation such as "2x + 1 = 5", not a definition
    return name, kept[-1]


def _expand_pm(node):
    """All sign choices of the ± in a node (a ± b -> a + b, a - b); the node itself if none."""
    kind = node[0]
    if kind == "pm":
        left, right = node[1], node[2]
        out = []
        for left_variant in _expand_pm(left):
            for right_variant in _expand_pm(right):
                out.append(("add", [left_variant, right_variant]))
                out.append(("add", [left_variant, ("neg", right_variant)]))
        return out
    for index, part in enumerate(node[1:], start=1):
        if isinstance(part, tuple) and part and isinstance(part[0], str) and _contains(part, frozenset({"pm"})):
            return [node[:index] + (variant,) + node[index + 1 :] for variant in _expand_pm(part)]
        if isinstance(part, list) and any(isinstance(p, tuple) and _contains(p, frozenset({"pm"})) for p in part):
            for j, item in enumerate(part):
                if isinstance(item, tuple) and _contains(item, frozenset({"pm"})):
                    return [
                        node[:index] + (part[:j] + [variant] + part[j + 1 :],) + node[index + 1 :]
                        for variant in _expand_pm(item)
                    ]
    return [node]


def _items(node) -> list | None:
    """Elements of a list or set (± expanded); None for other nodes."""
    if node[0] in ("list", "set"):
        items = node[1]
    elif node[0] == "pm" or _contains(node, frozenset({"pm"})) and node[0] not in ("tuple", "matrix", "rel"):
        items = [node]
    else:
        return None
    out = []
    for item in items:
        variants = _expand_pm(item) if _contains(item, frozenset({"pm"})) else [item]
        out.extend(variants)
    return out


def _is_inf(node) -> int:
    """+1 for +inf, -1 for -inf, 0 otherwise."""
    if node == ("const", "inf"):
        return 1
    if node[0] == "neg":
        return -_is_inf(node[1])
    return 0


class Comparer:
    """One pred/gold comparison: shared evaluation points, percent scaling of the prediction."""

    def __init__(self, scale: tuple[Fraction, ...] = (Fraction(1),)):
        self.scales = scale
        self.undecided = False

    # -- entry --------------------------------------------------------------------------------------
    def same(self, p, g) -> bool:
        if p == g:
            return True
        p_items, g_items = _items(p), _items(g)
        if p_items is not None or g_items is not None:
            return self._collections(p, g, p_items, g_items)
        pk, gk = p[0], g[0]
        if pk == "rel" or gk == "rel":
            return self._relations(p, g)
        if _is_inf(p) or _is_inf(g):
            return _is_inf(p) == _is_inf(g)
        if pk == "tuple" and gk == "tuple":
            return p[1] == g[1] and p[2] == g[2] and self._ordered(p[3], g[3])
        if pk in ("tuple", "union") or gk in ("tuple", "union"):
            if pk == gk == "union":
                return self._unordered(p[1], g[1])
            return self._vector(p, g)
        if pk == "ratio" and gk == "ratio":
            return self._ordered(p[1], g[1])
        if pk in ("text", "based", "ratio") or gk in ("text", "based", "ratio"):
            return False
        if pk == gk and pk in ("sum", "prod") and p[1] == g[1]:
            # Same index name: same bounds and the same body, the index a free variable.
            return self.same(p[2], g[2]) and self.same(p[3], g[3]) and self.same(p[4], g[4])
        if pk == gk == "matrix":
            # Cell by cell, so each cell gets the rounding rule a number gets (as in tuples).
            if len(p[1]) != len(g[1]) or any(len(a) != len(b) for a, b in zip(p[1], g[1])):
                return False
            return all(self._ordered(a, b) for a, b in zip(p[1], g[1]))
        if pk == "apply" or gk == "apply":
            if pk == gk and p[1] == g[1] and len(p[2]) == len(g[2]):
                return self._ordered(p[2], g[2])
            self.undecided = True
            return False
        return self._expressions(p, g)

    # -- collections -------------------------------------------------------------------------------
    def _collections(self, p, g, p_items, g_items) -> bool:
        if p_items is None or g_items is None:
            # A list against a tuple: "x = 1, y = 2" against "(1, 2)" compares in order.
            other, items = (g, p_items) if p_items is not None else (p, g_items)
            if other[0] == "tuple" and other[1] == "(" and (p[0] == "list" or g[0] == "list"):
                pairs = (items, other[3]) if p_items is not None else (other[3], items)
                return self._named_lists(*pairs, ordered=True)
            if len(items) == 1:
                return self.same(items[0], other) if p_items is not None else self.same(other, items[0])
            return False
        ordered = p[0] == g[0] == "tuple"
        return self._named_lists(p_items, g_items, ordered=ordered)

    def _named_lists(self, p_items, g_items, ordered: bool) -> bool:
        if len(p_items) > MAX_ITEMS or len(g_items) > MAX_ITEMS:
            self.undecided = True
            return False
        p_split = [split_definition(i) for i in p_items]
        g_split = [split_definition(i) for i in g_items]
        p_names = [n for n, _ in p_split if n is not None]
        g_names = [n for n, _ in g_split if n is not None]
        p_values = [v for _, v in p_split]
        g_values = [v for _, v in g_split]
        if (p_names and len(p_names) == len(p_items) and len(g_names) == len(g_items)
                and len(set(p_names)) == len(p_names) and sorted(p_names) == sorted(g_names)):
            by_name = dict(zip(p_names, p_values))
            return all(self.same(by_name[n], v) for n, v in zip(g_names, g_values))
        distinct = max(len(set(p_names)), len(set(g_names)))
        if ordered or distinct > 1:
            return self._ordered(p_values, g_values)
        return self._unordered(p_values, g_values)

    def _ordered(self, ps, gs) -> bool:
        return len(ps) == len(gs) and all(self.same(a, b) for a, b in zip(ps, gs))

    def _unordered(self, ps, gs) -> bool:
        if len(ps) != len(gs):
            # Duplicates do not count twice in a set of solutions.
            ps, gs = _dedupe(ps), _dedupe(gs)
            if len(ps) != len(gs):
                return False
        remaining = list(gs)
        for a in ps:
            for index, b in enumerate(remaining):
                if self.same(a, b):
                    del remaining[index]
                    break
            else:
                return False
        return True

    def _vector(self, p, g) -> bool:
        """A one-row or one-column matrix against a tuple; an inequality handled elsewhere."""
        for m, t in ((p, g), (g, p)):
            if m[0] == "matrix" and t[0] == "tuple" and t[1] in "([" and (len(m[1]) == 1 or len(m[1][0]) == 1):
                cells = m[1][0] if len(m[1]) == 1 else [row[0] for row in m[1]]
                return self._ordered(cells, t[3]) if m is p else self._ordered(t[3], cells)
        return False

    # -- relations ----------------------------------------------------------------------------------
    def _relations(self, p, g) -> bool:
        p_name, p_value = split_definition(p)
        g_name, g_value = split_definition(g)
        p_rel, g_rel = p_value[0] == "rel", g_value[0] == "rel"
        if not p_rel and not g_rel:
            return self.same(p_value, g_value)  # "x = 5" against "5", "f(x) = v" against "y = v"
        if p_rel and g_rel:
            return self._both_relations(p_value, g_value)
        # One side is still an equation or inequality, the other a value.
        rel, other = (p_value, g_value) if p_rel else (g_value, p_value)
        interval = _as_interval(rel)
        if interval is not None and other[0] in ("tuple", "union"):
            return self.same(interval, other) if p_rel else self.same(other, interval)
        if other[0] in ("tuple", "union") and any(op in _INEQUALITIES for op in rel[2]):
            self.undecided = True  # "1 \le |z| \le 2" against a union: needs solving
            return False
        other_name = g_name if p_rel else p_name
        if other_name is not None:
            # "y = 2x + 1" against "2x - y + 1 = 0": both as equations.
            as_equation = _definition_as_equation(g if p_rel else p)
            return self._both_relations(rel, as_equation) if p_rel else self._both_relations(as_equation, rel)
        return False

    def _both_relations(self, p, g) -> bool:
        p_int, g_int = _as_interval(p), _as_interval(g)
        if p_int is not None and g_int is not None:
            return self.same(p_int, g_int)
        p_ops, g_ops = p[2], g[2]
        if len(p_ops) != 1 or len(g_ops) != 1:
            if len(p_ops) == len(g_ops) and p_ops == g_ops:
                return self._ordered(p[1], g[1])
            self.undecided = True
            return False
        p_op, g_op = p_ops[0], g_ops[0]
        p_diff = ("add", [p[1][1], ("neg", p[1][0])])
        g_diff = ("add", [g[1][1], ("neg", g[1][0])])
        if p_op in ("=", "!=") or g_op in ("=", "!="):
            if p_op != g_op:
                return False
            return self._proportional(p_diff, g_diff, positive=False)
        if p_op not in _INEQUALITIES or g_op not in _INEQUALITIES:
            self.undecided = True
            return False
        p_sign, p_strict = _INEQUALITIES[p_op]
        g_sign, g_strict = _INEQUALITIES[g_op]
        if p_strict != g_strict:
            return False
        if p_sign < 0:
            p_diff = ("neg", p_diff)
        if g_sign < 0:
            g_diff = ("neg", g_diff)
        return self._proportional(p_diff, g_diff, positive=True)

    def _values_at_points(self, a, b):
        """``(a, b)`` evaluated at each evaluation point (one when there is no variable), skipping
        singular points; None, with the comparison marked undecided, when the evaluator does not
        model them or no point worked. Also returns whether there were variables."""
        names = sorted(free_symbols(a) | free_symbols(b))
        values = []
        for k in range(len(_POINT_BASES) if names else 1):
            env = {name: _point_value(name, k) for name in names}
            try:
                values.append((evaluate(a, env), evaluate(b, env)))
            except (ZeroDivisionError, ValueError, OverflowError):
                continue
            except Unsupported:
                self.undecided = True
                return None, bool(names)
        if not values:
            self.undecided = True
            return None, bool(names)
        return values, bool(names)

    def _proportional(self, a, b, positive: bool) -> bool:
        """``a = c * b`` for one constant ``c`` (positive if asked) at every evaluation point."""
        values, _ = self._values_at_points(a, b)
        if values is None:
            return False
        ratio = None
        for va, vb in values:
            if isinstance(va, tuple) or isinstance(vb, tuple):
                self.undecided = True
                return False
            if values_equal(va, 0) and values_equal(vb, 0):
                continue
            if values_equal(va, 0) or values_equal(vb, 0):
                return False
            this = va / vb
            if ratio is None:
                ratio = this
            elif not values_equal(this, ratio):
                return False
        if ratio is None or not positive:
            return True
        z = complex(ratio)
        return abs(z.imag) <= ABS_TOL and z.real > 0

    # -- expressions --------------------------------------------------------------------------------
    def _expressions(self, p, g) -> bool:
        if _contains(p, _NOT_SCALAR) or _contains(g, _NOT_SCALAR):
            self.undecided = True
            return False
        values, has_variables = self._values_at_points(p, g)
        if values is None:
            return False
        if has_variables:
            return all(values_equal(pv, gv) for pv, gv in values)
        pv, gv = values[0]
        return any(_numbers_equal(p, g, pv, gv, s) for s in self.scales)


def _dedupe(nodes):
    out = []
    for node in nodes:
        if node not in out:
            out.append(node)
    return out


def _as_interval(rel):
    """A one-variable inequality as an interval: ``x < 3`` -> (-inf, 3), ``-2 \\le x \\le 7`` ->
    [-2, 7], ``x \\in [a, b)`` -> [a, b). None if it is not one."""
    if rel[0] != "rel":
        return None
    sides, ops = rel[1], rel[2]
    if ops == ["in"] and is_name(sides[0]):
        return sides[1]
    variable = lambda node: node[0] in _NAME_KINDS  # noqa: E731 - x or f(x), not |z|
    if not all(op in _INEQUALITIES for op in ops):
        return None
    inf = ("const", "inf")
    if len(ops) == 1:
        op = ops[0]
        left, right = sides
        if variable(left) and not free_symbols(right):
            bound, less = right, op in ("<", "<=")
            strict = _INEQUALITIES[op][1]
        elif variable(right) and not free_symbols(left):
            bound, less = left, op in (">", ">=")
            strict = _INEQUALITIES[op][1]
        else:
            return None
        if less:
            return ("tuple", "(", ")" if strict else "]", [("neg", inf), bound])
        return ("tuple", "(" if strict else "[", ")", [bound, inf])
    if len(ops) == 2 and variable(sides[1]) and not free_symbols(sides[0]) and not free_symbols(sides[2]):
        direction = {_INEQUALITIES[op][0] for op in ops}
        if len(direction) != 1:
            return None
        low, high = (sides[0], sides[2]) if direction == {1} else (sides[2], sides[0])
        first_strict, second_strict = (_INEQUALITIES[ops[0]][1], _INEQUALITIES[ops[1]][1])
        if direction != {1}:
            first_strict, second_strict = second_strict, first_strict
        return ("tuple", "(" if first_strict else "[", ")" if second_strict else "]", [low, high])
    return None


def _definition_as_equation(rel):
    """``y = v`` as the equation ``y = v`` with its name side kept (for equation comparison)."""
    sides = rel[1]
    return ("rel", [sides[0], sides[-1]], ["="])


def compare(pred_node, gold_node, *, pred_percent: bool = False, gold_percent: bool = False) -> bool | None:
    """True/False, or None when the answers use something this module does not model.

    ``pred_percent``/``gold_percent``: the answer carried a percent sign that was stripped; a
    number then also matches its value divided (or multiplied) by 100.
    """
    scales = [Fraction(1)]
    if pred_percent and not gold_percent:
        scales.append(Fraction(1, 100))
    if gold_percent and not pred_percent:
        scales.append(Fraction(100))
    comparer = Comparer(tuple(scales))
    try:
        result = comparer.same(pred_node, gold_node)
    except (Unsupported, RecursionError):
        return None
    if result:
        return True
    return None if comparer.undecided else False
