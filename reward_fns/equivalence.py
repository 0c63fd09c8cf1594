"""Answer equivalence: normalisation, cheap fast paths, then guarded symbolic checking.

The fast paths (string, multiple choice, exact numbers, constant closed forms, element-wise
tuples) are bounded-time and run in the calling process.  Only pairs they cannot decide go to
math-verify, and by default that happens in a :class:`~reward_fns.deadline.ScoringPool` worker
with a hard deadline.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction

from reward_fns.choices import OPTION_LETTERS, letter_set, split_option_label
from reward_fns.normalize import Normalized, normalize_answer, normalize_latex
from reward_fns.numeric import close_enough, evaluate_constant, parse_exact, rounds_to
from reward_fns.symbolic import symbolic_equivalent

DEFAULT_TIMEOUT_S = 2.0
_WORDS = re.compile(r"^[A-Za-z][A-Za-z '\-]*$")
_SIMPLE_LHS = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?(?:\([A-Za-z]\))?$|^\\[A-Za-z]+$")


@dataclass(frozen=True)
class EquivalenceResult:
    """Verdict plus how it was reached (``path``) and whether the symbolic step failed."""

    equal: bool
    path: str
    timed_out: bool = False
    error: bool = False


# ---- fast paths ------------------------------------------------------------------------------


def _outer_brackets(text: str) -> tuple[str, str, str]:
    """(open, close, inner) for ``(..)``, ``[..]``, ``\\{..\\}``; ('', '', text) otherwise."""
    for open_, close in (("\\{", "\\}"), ("(", ")"), ("[", "]")):
        if text.startswith(open_) and text.endswith(close) and len(text) > len(open_) + len(close):
            inner = text[len(open_) : -len(close)]
            if _depth_ok(inner):
                return open_, close, inner
    return "", "", text


def _depth_ok(text: str) -> bool:
    depth = 0
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _split_top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _strip_equation_lhs(pred: str, gold: str) -> str:
    """``x=5`` -> ``5`` when the gold is not an equation and the left side is a bare name."""
    if "=" in pred and "=" not in gold:
        lhs, _, rhs = pred.rpartition("=")
        lhs = lhs.split("=")[0]
        if rhs and _SIMPLE_LHS.match(lhs):
            return rhs
    return pred


def _numbers_equal(pred: str, gold: str, pred_norm: Normalized, gold_norm: Normalized) -> bool | None:
    """Exact / rounding comparison of plain numbers and constant closed forms; None if either
    side is not a constant."""
    p_exact, g_exact = parse_exact(pred), parse_exact(gold)
    if p_exact is not None and g_exact is not None:
        candidates = [p_exact]
        if pred_norm.percent and not gold_norm.percent:
            candidates.append(p_exact / 100)
        if gold_norm.percent and not pred_norm.percent:
            candidates.append(p_exact * 100)
        return any(c == g_exact or rounds_to(c, gold) for c in candidates)
    p_float = float(p_exact) if p_exact is not None else evaluate_constant(pred)
    g_float = float(g_exact) if g_exact is not None else evaluate_constant(gold)
    if p_float is None or g_float is None:
        return None
    if close_enough(p_float, g_float):
        return True
    if g_exact is not None and p_exact is None:
        # A closed form against a rounded decimal gold: 1.73 accepts \sqrt{3}.
        try:
            return rounds_to(Fraction(p_float), gold)
        except (OverflowError, ValueError):
            return False
    return False


def _fast_values(pred: str, gold: str, pred_norm: Normalized, gold_norm: Normalized, depth: int = 0) -> bool | None:
    """Compare two normalised non-choice answers; None means "ask the symbolic checker"."""
    if pred == gold:
        return True
    if not pred or not gold:
        return False
    pred = _strip_equation_lhs(pred, gold)
    if pred == gold:
        return True
    if _WORDS.match(gold) and len(gold) > 1:
        return pred.lower().replace(" ", "") == gold.lower().replace(" ", "")
    numeric = _numbers_equal(pred, gold, pred_norm, gold_norm)
    if numeric is not None:
        return numeric
    if depth < 2:
        p_open, p_close, p_inner = _outer_brackets(pred)
        g_open, g_close, g_inner = _outer_brackets(gold)
        p_items, g_items = _split_top_level(p_inner), _split_top_level(g_inner)
        if len(g_items) > 1 and len(p_items) == len(g_items) and (p_open, p_close) == (g_open, g_close):
            plain = Normalized(text="")
            if g_open in ("(", "["):
                verdicts = [_fast_values(p, g, plain, plain, depth + 1) for p, g in zip(p_items, g_items)]
                if all(v is True for v in verdicts):
                    return True
                if all(v is not None for v in verdicts):
                    return False
            else:
                remaining = list(p_items)
                for g in g_items:
                    match = next((p for p in remaining if _fast_values(p, g, plain, plain, depth + 1) is True), None)
                    if match is None:
                        break
                    remaining.remove(match)
                else:
                    return True
    return None


def _mc_letters(raw: str, normalized: str) -> frozenset[str] | None:
    letters = letter_set(normalized)
    if letters is None:
        letter, _ = split_option_label(normalized)
        letters = frozenset(letter) if letter else None
    return letters


def fast_equivalence(pred: str, gold: str, *, choices: list[str] | None = None) -> tuple[bool | None, str, str, str]:
    """Fast-path verdict for raw answers.

    Returns ``(verdict, path, pred_text, gold_text)``: verdict True/False if decided cheaply, None
    if the normalised pair ``(pred_text, gold_text)`` needs the symbolic checker.
    """
    pred_latex, gold_latex = normalize_latex(pred), normalize_latex(gold)
    gold_letters = letter_set(gold_latex)
    if gold_letters is not None:
        pred_letters = _mc_letters(pred, pred_latex)
        if pred_letters is None and choices:
            letter = _letter_for_text(pred, choices)
            pred_letters = frozenset(letter) if letter else None
        if pred_letters is not None:
            return pred_letters == gold_letters, "choice", pred_latex, gold_latex
        return normalize_answer(pred).text == normalize_answer(gold).text, "choice", pred_latex, gold_latex

    if choices:
        letter, _ = split_option_label(pred_latex)
        single = letter_set(pred_latex)
        if letter is None and single is not None and len(single) == 1:
            letter = next(iter(single))
        if letter is not None and OPTION_LETTERS.index(letter) < len(choices):
            pred = choices[OPTION_LETTERS.index(letter)]
        elif single is not None and len(single) > 1:
            return False, "choice", pred_latex, gold_latex

    letter, option_text = split_option_label(normalize_latex(pred))
    if letter is not None and option_text:
        pred = option_text  # "B. 12" against a non-letter gold: compare the option text

    pred_norm, gold_norm = normalize_answer(pred), normalize_answer(gold)
    if pred_norm.unit and gold_norm.unit and pred_norm.unit != gold_norm.unit:
        return False, "unit", pred_norm.text, gold_norm.text
    verdict = _fast_values(pred_norm.text, gold_norm.text, pred_norm, gold_norm)
    path = "fast" if verdict is not None else "symbolic"
    return verdict, path, pred_norm.text, gold_norm.text


def _letter_for_text(pred: str, choices: list[str]) -> str | None:
    hits = []
    for i, choice in enumerate(choices[: len(OPTION_LETTERS)]):
        verdict, _, _, _ = fast_equivalence(pred, choice)
        if verdict:
            hits.append(OPTION_LETTERS[i])
    return hits[0] if len(hits) == 1 else None


# ---- symbolic step with a per-process result cache ------------------------------------------

_CACHE_SIZE = 65536
_symbolic_cache: OrderedDict[tuple[str, str], bool] = OrderedDict()
_cache_lock = threading.Lock()


def _cached(key):
    with _cache_lock:
        if key in _symbolic_cache:
            _symbolic_cache.move_to_end(key)
            return _symbolic_cache[key]
    return None


def _remember(key, value: bool) -> None:
    with _cache_lock:
        _symbolic_cache[key] = value
        if len(_symbolic_cache) > _CACHE_SIZE:
            _symbolic_cache.popitem(last=False)


def check_equivalence(
    pred: str,
    gold: str,
    *,
    choices: list[str] | None = None,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    pool=None,
) -> EquivalenceResult:
    """Full check with provenance; see :func:`is_equivalent` for the arguments."""
    if not isinstance(pred, str) or not isinstance(gold, str) or not pred.strip() or not gold.strip():
        return EquivalenceResult(False, "empty")
    verdict, path, pred_text, gold_text = fast_equivalence(pred, gold, choices=choices)
    if verdict is not None:
        return EquivalenceResult(verdict, path)
    key = (pred_text, gold_text)
    cached = _cached(key)
    if cached is not None:
        return EquivalenceResult(cached, "symbolic_cached")
    if timeout_s is None:
        try:
            equal = symbolic_equivalent(pred_text, gold_text)
        except Exception:  # noqa: BLE001 - sympy raises anything; an unparsable answer is wrong
            return EquivalenceResult(False, "symbolic", error=True)
        _remember(key, equal)
        return EquivalenceResult(equal, "symbolic")
    if pool is None:
        from reward_fns.deadline import default_pool

        pool = default_pool()
    result = pool.call(symbolic_equivalent, pred_text, gold_text, timeout_s=timeout_s)
    if result.ok:
        _remember(key, bool(result.value))
        return EquivalenceResult(bool(result.value), "symbolic")
    # A pair that timed out will time out again: remember it as wrong.
    _remember(key, False)
    return EquivalenceResult(False, "symbolic", timed_out=result.timed_out, error=not result.timed_out)


def is_equivalent(
    pred: str,
    gold: str,
    *,
    choices: list[str] | None = None,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    pool=None,
) -> bool:
    """True if the answer ``pred`` means the same as the gold answer ``gold``.

    Both are answer strings (already extracted, e.g. by :func:`extract_answer`).

    * Normalisation first: Unicode math and full-width forms, ``\\dfrac``/``\\tfrac``,
      ``\\left``/``\\right``, ``\\text{}``, spacing, thousands separators, ``%``, degrees, units
      (units only matter when both sides carry one: ``6 cm`` vs ``6 m`` is wrong, ``6 cm`` vs
      ``6`` is right).
    * Multiple choice: a letter or letter-set gold (``B``, ``A, C``, ``AC``) accepts ``(B)``,
      ``B. 12``, ``Option B``, ``CA`` etc.; extra or missing letters are wrong.
    * ``choices``: optional list of option texts (A, B, C...).  With a letter gold, a prediction
      that is an option's text maps to its letter; with a text gold (MathVista), a predicted
      letter maps to its option text.
    * Exact rational/decimal comparison; a gold decimal also accepts a more precise prediction
      that rounds to it.  Constant closed forms are compared numerically (rel. 1e-9).
    * Anything else goes to math-verify on the two normalised strings, guarded against
      pathological input, in a scoring process killed after ``timeout_s`` seconds (``pool``
      defaults to the process-wide :func:`~reward_fns.deadline.default_pool`).  A timeout is
      False.  ``timeout_s=None`` runs math-verify in this process without a deadline (for code
      that already runs under an outside deadline).
    """
    return check_equivalence(pred, gold, choices=choices, timeout_s=timeout_s, pool=pool).equal
