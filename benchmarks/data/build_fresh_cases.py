"""Build ``fresh_answer_cases.jsonl``: labelled (prediction, gold) pairs from suites that
``peer_answer_cases.jsonl`` does not draw on, plus an unequal twin of every equal pair.

* sympy 1.14.0's LaTeX parser tests (``sympy/parsing/tests/test_latex_lark.py`` and
  ``test_latex.py``): each pair is a LaTeX string and the SymPy expression it must parse to.
  The gold is ``str()`` of that expression, i.e. SymPy's own printed output (``sqrt(x)``,
  ``log(x)/log(2)``, ``Min(a, b)``, ``Eq(x, y)``), which is how generated datasets write golds.
  The test modules of the installed sympy are imported, so the golds are sympy's real output,
  not our reading of it. Pairs whose expected value is not a final answer (integrals, limits,
  derivatives, unevaluated sums, bras and kets, symbol-naming tests) are left out.
* Qwen2.5-Math's ``evaluation/grader.py`` unit tests, simple-evals' equality-checker examples and
  open-r1's accuracy-reward tests, transcribed below from the files named in ``source``.

Every equal pair gets an unequal twin whose gold is the gold plus one (for a SymPy gold, sympy
prints ``expr + 1``; for a relation, its right side plus one), so that a fix that accepts more
cannot silently accept wrong answers.

    python benchmarks/data/build_fresh_cases.py   # rewrites fresh_answer_cases.jsonl
"""

from __future__ import annotations

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fresh_answer_cases.jsonl")
SYMPY_LARK = "sympy/sympy:sympy/parsing/tests/test_latex_lark.py@sympy-1.14.0"
SYMPY_ANTLR = "sympy/sympy:sympy/parsing/tests/test_latex.py@sympy-1.14.0"
QWEN = "QwenLM/Qwen2.5-Math:evaluation/grader.py@29a82a8802e0"
SIMPLE_EVALS = "openai/simple-evals:common.py@01ac108d2747"
OPEN_R1 = "huggingface/open-r1:tests/test_rewards.py@69ae7d4b787c"

# Test groups of test_latex_lark.py whose expected values are final answers.
LARK_GROUPS = (
    "EVALUATED_SIMPLE_EXPRESSION_PAIRS", "EVALUATED_FRACTION_EXPRESSION_PAIRS", "RELATION_EXPRESSION_PAIRS",
    "EVALUATED_POWER_EXPRESSION_PAIRS", "TRIGONOMETRIC_EXPRESSION_PAIRS", "EVALUATED_SQRT_EXPRESSION_PAIRS",
    "EVALUATED_FACTORIAL_EXPRESSION_PAIRS", "EVALUATED_COMMON_FUNCTION_EXPRESSION_PAIRS",
    "EVALUATED_BINOMIAL_EXPRESSION_PAIRS", "SPACING_RELATED_EXPRESSION_PAIRS", "MISCELLANEOUS_EXPRESSION_PAIRS",
    "EVALUATED_MATRIX_EXPRESSION_PAIRS",
)
# Not final answers, or notation outside a math answer checker's remit (quantum bras and kets,
# complex conjugates, \imaginaryunit, matrix transposes and traces).
_SKIP_WORDS = ("Integral", "Limit", "Derivative", "Sum(", "Product(", "Bra", "Ket", "conjugate", "Trace",
               "Transpose", "\\mathit", "MatMul", "MatAdd", "Matrix(")
# sympy's two LaTeX parsers disagree on \log without a base (lark: natural, antlr: base 10); the
# label is a convention, so those cases are tagged.
_LOG_CONVENTION = ("\\log x", "\\log xy")

# (pred, gold, label, test, policy) transcribed from the other suites.
QWEN_CASES = [
    ("10", "10", True, "test_is_numerical_equal", None),
    ("10", "20", False, "test_is_numerical_equal", None),
    ("10%", "0.1", True, "test_is_numerical_equal", "percent-scale"),
    ("10%", "0.2", False, "test_is_numerical_equal", None),
    ("[1, 2, 3]", "[1, 2, 3]", True, "test_compare_lists", None),
    ("[1, 2, 3]", "[1, 2, 4]", False, "test_compare_lists", None),
    ("(1, 2, 3)", "(1, 2, 3)", True, "test_compare_lists", None),
    ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", True,
     "test_compare_matrices", None),
    ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&5\\end{pmatrix}", False,
     "test_compare_matrices", None),
    ("x = y", "x = y", True, "test_check_symbolic_equality", None),
    ("x = y", "x = z", False, "test_check_symbolic_equality", None),
    ("x = 10", "10", True, "test_compare_equations", None),
    ("10", "x = 10", True, "test_compare_equations", None),
    ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", True,
     "test_math_equal", None),
    ("x+1", "x+2n+1", False, "_test_math_equal", None),
]
SIMPLE_EVALS_CASES = [  # "Expression 1" is the prediction, "Expression 2" the gold
    ("$2x+3$", "$3+2x$", True, None),
    ("3/2", "1.5", True, None),
    ("$x^2+2x+1$", "$y^2+2y+1$", False, None),
    ("$x^2+2x+1$", "$(x+1)^2$", True, None),
    ("3245/5", "649", False, "trivial-simplification-only"),
    ("2/(-3)", "-2/3", True, None),
    ("72 degrees", "72", True, None),
    ("64", "64 square feet", True, None),
]
OPEN_R1_CASES = [
    ("\\boxed{\\frac{63}{400}}", "\\frac{63}{400}", True, "test_accuracy_reward_correct_answer"),
    ("\\boxed{\\frac{63}{400}}", "63/400", True, "test_accuracy_reward_correct_answer"),
    ("\\boxed{\\frac{64}{400}}", "\\frac{63}{400}", False, "test_accuracy_reward_wrong_answer"),
    ("\\boxed{3}", "6", False, "test_accuracy_reward_wrong_answer_no_latex"),
]


def _sympy_cases():
    import sympy
    from sympy.parsing.tests import test_latex as antlr
    from sympy.parsing.tests import test_latex_lark as lark

    rows = []
    for group in LARK_GROUPS:
        for latex, expected in getattr(lark, group):
            rows.append((SYMPY_LARK, group, latex, expected))
    for latex, expected in antlr.GOOD_PAIRS:
        rows.append((SYMPY_ANTLR, "GOOD_PAIRS", latex, expected))
    seen, out = set(), []
    for source, group, latex, expected in rows:
        if not isinstance(expected, sympy.Basic) and not isinstance(expected, (int, float)):
            continue
        expected = sympy.sympify(expected)
        gold = str(expected)
        if any(w in gold or w in latex for w in _SKIP_WORDS) or any(
                w in latex for w in ("\\imaginaryunit", "\\langle", "\\rangle")):
            continue
        if expected.has(sympy.I) or isinstance(expected, sympy.MatrixBase):
            continue
        if any(isinstance(f, sympy.core.function.AppliedUndef) for f in sympy.preorder_traversal(expected)):
            continue  # f(x), theta(x): names of functions, not values
        if (latex, gold) in seen:
            continue
        seen.add((latex, gold))
        policy = "log-base" if latex.strip() in _LOG_CONVENTION else None
        if "\\pi" in latex and expected.has(sympy.Symbol("pi")):
            note = "sympy reads \\pi as a symbol named pi here; both sides print it as pi"
        else:
            note = None
        if isinstance(expected, sympy.core.relational.Relational):
            twin = str(expected.func(expected.lhs, expected.rhs + 1))
        else:
            twin = str(expected + 1)
        out.append(dict(suite="sympy", source=source, test=group, gold=gold, pred=latex, label=True,
                        policy=policy, note=note, twin=twin))
    return out


def build() -> list[dict]:
    cases = []
    for c in _sympy_cases():
        twin = c.pop("twin")
        cases.append(c)
        if c["policy"] is None and twin != c["gold"]:  # oo + 1 is oo: no twin
            cases.append(dict(c, gold=twin, label=False, note="unequal twin: the gold plus one"))
    for pred, gold, label, test, policy in QWEN_CASES:
        cases.append(dict(suite="qwen2.5-math", source=QWEN, test=test, gold=gold, pred=pred, label=label,
                          policy=policy, note=None))
    for pred, gold, label, policy in SIMPLE_EVALS_CASES:
        cases.append(dict(suite="simple-evals", source=SIMPLE_EVALS, test="EQUALITY_TEMPLATE", gold=gold,
                          pred=pred, label=label, policy=policy, note=None))
    for response, gold, label, test in OPEN_R1_CASES:
        cases.append(dict(suite="open-r1", source=OPEN_R1, test=test, gold=gold, pred=response, label=label,
                          policy=None, note=None))
    out = []
    for i, c in enumerate(cases, start=1):
        pred = c["pred"]
        response = pred if "\\boxed" in pred else "\\boxed{" + pred.strip().strip("$").strip() + "}"
        out.append({"id": i, "suite": c["suite"], "source": c["source"], "test": c["test"], "gold": c["gold"],
                    "pred": pred, "response": response, "label": c["label"], "policy": c["policy"],
                    "note": c["note"]})
    return out


if __name__ == "__main__":
    rows = build()
    with open(OUT, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} cases -> {OUT}")
