"""Equivalence cases per answer style of the paper's benchmarks (own cases, hand-checked)."""

import pytest

from reward_fns import accuracy_reward, is_equivalent
from reward_fns.equivalence import check_equivalence

# (pred, gold, expected). The symbolic step runs in-process here (timeout_s=None); the
# deadline machinery has its own tests.
CASES = {
    "mathverse": [
        ("4.4 m", "4.4 m", True),
        ("4.4\\text{ m}", "4.4", True),
        ("6 cm", "6 m", False),
        ("60^\\circ", "60°", True),
        ("60 degrees", "60", True),
        ("(B)", "B", True),
        ("B: 60°", "B", True),
        ("C", "B", False),
        ("12 \\mathrm{cm}^2", "12", True),
        ("12 cm^2", "12 cm", False),
    ],
    "mathvision": [
        ("E", "E", True),
        ("\\frac{\\sqrt{6}}{6}", "$\\frac{\\sqrt{6}}{6}$", True),
        ("\\dfrac{1}{\\sqrt{6}}", "\\frac{\\sqrt{6}}{6}", True),
        ("0.41", "\\frac{\\sqrt{6}}{6}", False),
        ("2\\sqrt{2}", "\\sqrt{8}", True),
        ("√8", "2\\sqrt{2}", True),
        ("15", "14", False),
    ],
    "mathvista": [
        ("1.45", "1.45", True),
        ("1.4516", "1.45", True),  # more precise prediction rounding to the gold decimal
        ("1.5", "1.45", False),  # less precise: wrong
        ("[2007, 2008]", "[2007, 2008]", True),
        ("[2008, 2007]", "[2007, 2008]", False),
        ("1,000", "1000", True),
        ("14{,}916", "14916", True),
        ("50\\%", "50", True),
        ("50%", "0.5", True),
    ],
    "wemath": [
        ("A", "A", True),
        ("A. 300, 400", "A", True),
        ("Option D", "D", True),
        ("D", "E", False),
    ],
    "dynamath": [
        ("3.142", "3.142", True),
        ("\\pi", "3.14", True),  # a closed form rounding to the decimal gold
        ("yes", "Yes", True),
        ("no", "yes", False),
        ("Sep", "Sep", True),
    ],
    "logicvista": [
        ("A, C", "A, C", True),
        ("AC", "A, C", True),
        ("C, A", "A, C", True),
        ("A and C", "A, C", True),
        ("A", "A, C", False),
        ("A, B, C", "A, C", False),
        ("B, D", "B, D", True),
    ],
    "aime": [
        ("204", "204", True),
        ("0204", "204", True),
        ("204.0", "204", True),
        ("205", "204", False),
        ("２０４", "204", True),
    ],
    "math500": [
        ("\\left( 3, \\frac{\\pi}{2} \\right)", "\\left( 3, \\frac{\\pi}{2} \\right)", True),
        ("(3,\\frac{\\pi}{2})", "\\left( 3, \\frac{\\pi}{2} \\right)", True),
        ("(0, 5)", "\\left( 3, \\frac{\\pi}{2} \\right)", False),
        ("\\frac{14}{3}", "\\frac{14}{3}", True),
        ("4\\frac{2}{3}", "\\frac{14}{3}", True),
        ("x^2+2x+1", "(x+1)^2", True),
        ("x^2+2x", "(x+1)^2", False),
        ("(-\\infty, 2]", "x \\le 2", True),
        ("[1, 3)", "[1,3]", False),
        ("\\{1,2\\}", "\\{2, 1\\}", True),
        ("x = 5", "5", True),
        ("\\text{(C)}", "\\text{(C)}", True),
        ("-\\frac{1}{2}", "−½", True),
        ("10^{3}", "1000", True),
        ("1.2\\times10^{3}", "1200", True),
    ],
    "gpqa": [
        ("(C)", "C", True),
        ("C) 4.2 eV", "C", True),
        ("The answer is C", "C", True),
        ("C, D", "C", False),  # several letters for a single-choice question
    ],
}


@pytest.mark.parametrize(
    "pred, gold, expected",
    [pytest.param(p, g, e, id=f"{bench}:{p}|{g}") for bench, cases in CASES.items() for p, g, e in cases],
)
def test_benchmark_styles(pred, gold, expected):
    assert is_equivalent(pred, gold, timeout_s=None) is expected


def test_choices_map_letters_and_option_text():
    choices = ["3", "4", "5", "6"]
    # MathVista: the gold is the option text, the model answers with a letter.
    assert is_equivalent("B", "4", choices=choices, timeout_s=None)
    assert not is_equivalent("C", "4", choices=choices, timeout_s=None)
    # MathVision: a letter gold accepts the option's text.
    assert is_equivalent("5", "C", choices=choices, timeout_s=None)
    assert not is_equivalent("6", "C", choices=choices, timeout_s=None)


def test_unicode_and_fullwidth_normalisation():
    assert is_equivalent("（Ｂ）", "B", timeout_s=None)
    assert is_equivalent("2×3", "6", timeout_s=None)
    assert is_equivalent("x²", "x^2", timeout_s=None)


def test_fast_paths_do_not_touch_sympy_for_numbers_and_letters():
    for pred, gold in [("\\frac{1}{2}", "0.5"), ("B", "(B)"), ("\\sqrt{2}", "\\sqrt{3}"), ("12", "13")]:
        assert check_equivalence(pred, gold, timeout_s=None).path in ("fast", "choice")


@pytest.mark.parametrize(
    "response, gold, expected",
    [
        ("<think>...</think> \\boxed{12}", "12", 1.0),
        ("<think>...</think> \\boxed{12} or \\boxed{13}", "12", 0.0),  # hedged
        ("<think>...</think> \\boxed{\\frac12} i.e. \\boxed{0.5}", "0.5", 1.0),  # same value twice
        ("<think>I think \\boxed{11}</think> \\boxed{12}", "12", 1.0),  # draft inside reasoning
        ("<think>...</think> \\boxed{A, C}", "A", 0.0),
        ("the answer is 12", "12", 0.0),  # no box, no fishing
        ("\\boxed{12}", "\\boxed{12}", 1.0),  # boxed gold is unwrapped
        ("\\boxed{x+1", "x+1", 0.0),
    ],
)
def test_accuracy_reward(response, gold, expected):
    assert accuracy_reward(response, gold, timeout_s=None) == expected
