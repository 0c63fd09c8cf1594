"""Notation first met outside the project's own corpus (issue 20): operator names, E-notation,
SymPy/Python-syntax golds, degree marks inside expressions, computations written as equalities,
inverse hyperbolic functions, rounding inside matrix cells. Each accepted pair has an unequal twin
(the value plus one, or a changed cell) so that no fix accepts wrong answers."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reward_fns import check_equivalence, is_equivalent

EQUAL = [
    # \operatorname{NAME}: known names are functions (gcd(12, 18) = 6, lcm(4, 6) = 12).
    ("\\operatorname{gcd}(12, 18)", "6"),
    ("\\gcd(12, 18)", "6"),
    ("\\operatorname{lcm}(4, 6)", "12"),
    ("\\operatorname{floor}(3.7)", "3"),
    ("\\operatorname{ceil}(3.2)", "4"),
    ("\\max(3, 7)", "7"),
    ("\\min\\{2, -5\\}", "-5"),
    ("\\operatorname{mod}(17, 5)", "2"),
    ("\\operatorname{arcsinh} x", "\\sinh^{-1} x"),
    ("\\operatorname{arcsinh}(0)", "0"),
    # E-notation: 2.5E2 = 250, 1e-3 = 1/1000.
    ("2.5E2", "250"),
    ("2.5e2", "250"),
    ("1e-3", "\\frac{1}{1000}"),
    ("6.02 \\times 10^{23}", "6.02e23"),
    # SymPy/Python golds.
    ("2^{100}", "2**100"),
    ("32\\cos^2 t", "8*[2*cos(t)]^2"),
    ("(-\\infty, 5)", "(-infinity, 5)"),
    ("\\infty", "oo"),
    ("|x|", "Abs(x)"),
    ("\\frac{x}{3}", "Rational(1, 3)*x"),
    ("\\sqrt[3]{\\sin x}", "sin(x)**(1/3)"),
    ("\\sin^{-1} a", "asin(a)"),
    ("\\ln x", "log(x, E)"),
    ("\\log_2 x", "log(x, 2)"),
    ("x!", "factorial(x)"),
    ("\\binom{n}{k}", "binomial(n, k)"),
    ("\\sin \\theta", "sin(theta)"),
    ("\\max(a, b)", "Max(a, b)"),
    ("x = y", "Eq(x, y)"),
    # Degree marks anywhere: outside a trig function a degree is a unit.
    ("180^\\circ - 2\\alpha", "180 - 2\\alpha"),
    ("(30^\\circ, 60^\\circ)", "(30, 60)"),
    ("\\sin(30^\\circ)", "\\frac{1}{2}"),
    # An equality of constants is a computation: its value is its last side.
    ("\\sqrt{4} = 2", "2"),
    ("2 + 3 = 5", "5"),
    # \sinh^{-1} is arcsinh as \sin^{-1} is arcsin: sinh^{-1}(0) = 0 (1/sinh(0) is undefined).
    ("\\sinh^{-1}(1)", "\\ln(1 + \\sqrt{2})"),
    ("\\tanh^{-1} x", "\\operatorname{artanh} x"),
    # The rounding rule holds in matrix cells as in tuples (0.2902 rounds to 0.29).
    ("\\begin{pmatrix}0.2902 \\\\ 0.196\\end{pmatrix}", "\\begin{pmatrix}0.29 \\\\ 0.196\\end{pmatrix}"),
    ("(0.2902, 0.196)", "(0.29, 0.196)"),
]

UNEQUAL = [
    ("\\operatorname{gcd}(12, 18)", "7"),
    ("\\operatorname{lcm}(4, 6)", "13"),
    ("\\operatorname{floor}(3.7)", "4"),
    ("\\max(3, 7)", "8"),
    ("\\operatorname{mod}(17, 5)", "3"),
    ("\\operatorname{arcsinh}(0)", "1"),
    ("2.5E2", "251"),
    ("2.5e2", "5e"),
    ("1e-3", "\\frac{1}{1000} + 1"),
    ("2^{100}", "2**100 + 1"),
    ("32\\cos^2 t", "8*[2*cos(t)]^2 + 1"),
    ("(-\\infty, 6)", "(-infinity, 5)"),
    ("|x|", "Abs(x) + 1"),
    ("\\sqrt[3]{\\sin x}", "sin(x)**(1/3) + 1"),
    ("x!", "factorial(x) + 1"),
    ("\\binom{n}{k}", "binomial(n, k) + 1"),
    ("\\sin \\theta", "sin(theta) + 1"),
    ("\\max(a, b)", "Min(a, b)"),
    ("x = y", "Eq(x, y + 1)"),
    ("180^\\circ - 2\\alpha", "181 - 2\\alpha"),
    ("\\sqrt{4} = 2", "3"),
    ("\\sinh^{-1}(1)", "\\ln(1 + \\sqrt{2}) + 1"),
    ("\\begin{pmatrix}0.2952 \\\\ 0.196\\end{pmatrix}", "\\begin{pmatrix}0.29 \\\\ 0.196\\end{pmatrix}"),
    ("(0.2952, 0.196)", "(0.29, 0.196)"),
    # An unknown operator name is never a product of its letters.
    ("\\operatorname{abc}", "abc"),
    ("\\operatorname{abc}", "a b c"),
]


@pytest.mark.parametrize("pred, gold", EQUAL)
def test_equal_pairs(pred, gold):
    assert is_equivalent(pred, gold, timeout_s=None), (pred, gold)


@pytest.mark.parametrize("pred, gold", UNEQUAL)
def test_unequal_twins(pred, gold):
    assert not is_equivalent(pred, gold, timeout_s=None), (pred, gold)


@pytest.mark.parametrize("pred, gold", [p for p in EQUAL if "operatorname{abc}" not in p[0]])
def test_the_new_shapes_are_decided_without_the_symbolic_checker(pred, gold):
    assert check_equivalence(pred, gold, timeout_s=None).path == "fast", (pred, gold)


def test_an_unknown_operator_name_goes_to_the_symbolic_checker():
    assert check_equivalence("\\operatorname{sgn}(x)", "1", timeout_s=None).path.startswith("symbolic")


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9999), st.integers(0, 3), st.integers(-12, 12), st.sampled_from("eE"))
def test_e_notation_is_the_number(digits, places, exponent, letter):
    mantissa = Fraction(digits, 10**places)
    text = f"{digits / 10**places:.{places}f}{letter}{exponent}"
    value = mantissa * Fraction(10) ** exponent
    exact = f"\\frac{{{value.numerator}}}{{{value.denominator}}}"
    assert is_equivalent(text, exact, timeout_s=None)
    assert not is_equivalent(text, f"{exact} + 1", timeout_s=None)
