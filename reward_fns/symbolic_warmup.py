"""Imported by each scoring process at start-up so the first timed call does not pay for
importing sympy/ANTLR and building math-verify's regexes (~0.5 s)."""

from reward_fns.symbolic import symbolic_equivalent

symbolic_equivalent("\\frac{1}{2}", "0.5")
symbolic_equivalent("x+1", "1+x")
