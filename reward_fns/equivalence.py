"""Answer equivalence: normalisation, the parser-based comparison, then guarded symbolic checking.

Normalisation (:mod:`reward_fns.normalize`), parsing (:mod:`reward_fns.answer_parse`) and
comparison (:mod:`reward_fns.answer_compare`) are bounded-time and run in the calling process;
they decide almost every pair. Only pairs that use notation the parser does not model go to
math-verify, and by default that happens in a :class:`~reward_fns.deadline.ScoringPool` worker
with a hard deadline.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass

from reward_fns.answer_compare import compare
from reward_fns.answer_parse import CALLS, FUNCTION_ALIASES, FUNCTIONS, GREEK_WORDS, GluedNumbers, ParseError, parse_answer
from reward_fns.choices import OPTION_LETTERS, letter_set, split_option_label
from reward_fns.latex_tokens import WORD
from reward_fns.normalize import TEXT_WORD, Normalized, normalize_answer, normalize_latex
from reward_fns.symbolic import symbolic_equivalent

DEFAULT_TIMEOUT_S = 2.0
# Words that are mathematics, not prose: function names (LaTeX, SymPy and Python spellings),
# spelled-out Greek letters and infinity.
_NOT_TEXT = FUNCTIONS | set(FUNCTION_ALIASES) | set(CALLS) | GREEK_WORDS | {"and", "or", "pi", "infty", "infinity", "oo"}


@dataclass(frozen=True)
class EquivalenceResult:
    """Verdict plus how it was reached (``path``) and whether the symbolic step failed."""

    equal: bool
    path: str
    timed_out: bool = False
    error: bool = False


# ---- fast path: normalise, parse, compare ----------------------------------------------------


@functools.lru_cache(maxsize=16384)
def analyse(answer: str) -> tuple[Normalized, tuple | None]:
    """Normalised form and parse tree of one answer (None if it does not parse); cached, since
    the rollouts of a prompt share their gold and often repeat an answer."""
    norm = normalize_answer(answer)
    try:
        node = parse_answer(norm.tokens) if norm.tokens else None
    except GluedNumbers:
        node = ("text", norm.text)  # "2 3" or "11.0 4/9": no number, equal only to itself
    except ParseError:
        node = None
    return norm, node


def _is_text(norm: Normalized) -> bool:
    """Prose rather than mathematics: a word of ``\\text{}`` or a plain word of 3+ letters (not a
    function name, and not a subscript such as ``S_{ABC}``)."""
    tokens = norm.tokens
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.text == "_" and i + 1 < len(tokens):
            i += 2
            if tokens[i - 1].text == "{":
                while i < len(tokens) and tokens[i].text != "}":
                    i += 1
            continue
        word = tok.text.lower()
        if tok.kind == TEXT_WORD and len(word) > 1 and word not in _NOT_TEXT:
            return True
        if tok.kind == WORD and len(word) > 2 and word not in _NOT_TEXT:
            return True
        i += 1
    return False


def _text_key(norm: Normalized) -> str:
    return "".join(norm.text.lower().split()).rstrip(".")


def compare_normalized(pred: str, gold: str) -> bool | None:
    """Compare two non-choice answers; None means "ask the symbolic checker"."""
    pred_norm, pred_node = analyse(pred)
    gold_norm, gold_node = analyse(gold)
    if pred_norm.text == gold_norm.text:
        return True
    if not pred_norm.text or not gold_norm.text:
        return False
    if _is_text(pred_norm) or _is_text(gold_norm):
        return _text_key(pred_norm) == _text_key(gold_norm)
    if pred_node is None or gold_node is None:
        return None
    return compare(pred_node, gold_node, pred_percent=pred_norm.percent, gold_percent=gold_norm.percent)


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

    pred_norm, gold_norm = analyse(pred)[0], analyse(gold)[0]
    if pred_norm.unit and gold_norm.unit and pred_norm.unit != gold_norm.unit:
        return False, "unit", pred_norm.text, gold_norm.text
    verdict = compare_normalized(pred, gold)
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
    * Parsed and compared without sympy (:mod:`reward_fns.answer_compare`): lists and sets as
      multisets, tuples, intervals and matrices in order, ``x = v`` by its value, equations and
      inequalities up to a constant factor, expressions by exact (``Fraction``) or complex
      evaluation at fixed points; a gold decimal also accepts a more precise value that rounds
      to it.
    * Notation the parser does not model goes to math-verify on the two normalised strings, guarded against
      pathological input, in a scoring process killed after ``timeout_s`` seconds (``pool``
      defaults to the process-wide :func:`~reward_fns.deadline.default_pool`).  A timeout is
      False.  ``timeout_s=None`` runs math-verify in this process without a deadline (for code
      that already runs under an outside deadline).
    """
    return check_equivalence(pred, gold, choices=choices, timeout_s=timeout_s, pool=pool).equal
