"""Verdicts and aggregate metrics, against hand-computed values."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revisual_eval.answers import Verdict, extract_final_answer, judge_response, wemath_fallback
from revisual_eval.metrics import aime_metrics, dynamath_worst_case, mean_accuracy, wemath_counts, wemath_metrics, wemath_scores


def boxed(text):
    return f"<think>work</think> The answer is \\boxed{{{text}}}."


# ---- verdicts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "benchmark,answer,reference,expected",
    [
        # MathVision: the letter, or the option's text (multi-choice conversion); bare A-E lists have no text
        ("mathvision", "B", {"answer": "B", "choices": ["circle", "box", "star"]}, True),
        ("mathvision", "box", {"answer": "B", "choices": ["circle", "box", "star"]}, True),
        ("mathvision", "star", {"answer": "B", "choices": ["circle", "box", "star"]}, False),
        ("mathvision", "\\frac{1}{2}", {"answer": "0.5", "choices": []}, True),
        # MathVista: the gold is option text; a letter maps to it; floats rounded to precision
        ("mathvista", "B", {"answer": "white", "question_type": "multi_choice", "answer_type": "text", "choices": ["red", "white"]}, True),
        ("mathvista", "(A)", {"answer": "white", "question_type": "multi_choice", "answer_type": "text", "choices": ["red", "white"]}, False),
        ("mathvista", "0.34", {"answer": "0.3", "question_type": "free_form", "answer_type": "float", "precision": 1.0}, True),
        ("mathvista", "0.36", {"answer": "0.3", "question_type": "free_form", "answer_type": "float", "precision": 1.0}, False),
        ("mathvista", "[2007, 2008]", {"answer": "[2007, 2008]", "question_type": "free_form", "answer_type": "list"}, True),
        # DynaMath: float tolerance 1e-3, MC letters, text by substring
        ("dynamath", "1.5004", {"answer": "1.5", "answer_type": "float"}, True),
        ("dynamath", "1.502", {"answer": "1.5", "answer_type": "float"}, False),
        ("dynamath", "(A)", {"answer": "A", "answer_type": "multiple choice", "choices": ["yes", "no"]}, True),
        ("dynamath", "yes", {"answer": "A", "answer_type": "multiple choice", "choices": ["yes", "no"]}, True),
        ("dynamath", "It is Sep", {"answer": "Sep", "answer_type": "text"}, True),
        # WeMath: option letter against its option list
        ("wemath", "C", {"answer": "C", "choices": ["1", "2", "3", "4", "No correct answer"]}, True),
        ("wemath", "D", {"answer": "C", "choices": ["1", "2", "3", "4", "No correct answer"]}, False),
        # LogicVista: letter sets, order and separators do not matter; extra letters are wrong
        ("logicvista", "D, B", {"answer": "B, D"}, True),
        ("logicvista", "BD", {"answer": "B, D"}, True),
        ("logicvista", "B", {"answer": "B, D"}, False),
        ("logicvista", "3", {"answer": "3"}, True),
        # GPQA: letter, or the text of the shuffled option at that letter
        ("gpqa_diamond", "C", {"answer": "C", "choices": ["oxygen", "chlorine", "argon", "fluorine"]}, True),
        ("gpqa_diamond", "argon", {"answer": "C", "choices": ["oxygen", "chlorine", "argon", "fluorine"]}, True),
        ("aime24", "033", {"answer": "33"}, True),
        ("math500", "\\left( 5, \\frac{\\pi}{2} \\right)", {"answer": "\\left( 5, \\frac{\\pi}{2} \\right)"}, True),
        ("math500", "5", {"answer": "\\left( 5, \\frac{\\pi}{2} \\right)"}, False),
        # MathVerse free-form with a unit on the gold only
        ("mathverse", "4.4", {"answer": "4.4 m", "question_type": "free-form", "choices": []}, True),
        ("mathverse", "60°", {"answer": "B", "question_type": "multi-choice", "choices": ["40°", "60°", "80°"]}, True),
    ],
)
def test_verdicts(benchmark, answer, reference, expected):
    verdict = judge_response(benchmark, boxed(answer), reference)
    assert verdict.answer is not None
    assert verdict.correct is expected


def test_extraction_fallbacks():
    assert extract_final_answer("<think>x</think> so the final answer is: 42.") == "42"
    assert extract_final_answer("no answer at all") is None
    # WeMath's official rule: the first A-H letter after the last "Answer"
    assert wemath_fallback("blah. Answer: (C) because") == "C"
    verdict = judge_response("wemath", "Answer - option C", {"answer": "C", "choices": []})
    assert verdict.correct and verdict.answer == "C"


# ---- metrics -----------------------------------------------------------------------------------


def row(item_id, correct, sample=0, **reference):
    return {"id": item_id, "sample": sample, "correct": correct, "reference": reference}


def test_dynamath_worst_case_hand_computed():
    # 3 seeds x 3 variants. seed 1: all right; seed 2: one variant wrong; seed 3: all wrong.
    verdicts = {"1": [1, 1, 1], "2": [1, 0, 1], "3": [0, 0, 0]}
    rows = [
        row(f"sample_variant{v + 1}/{seed}", bool(c), seed_id=seed, variant=f"sample_variant{v + 1}")
        for seed, cs in verdicts.items()
        for v, c in enumerate(cs)
    ]
    result = dynamath_worst_case(rows)
    assert result.metric == "worst-case"
    assert result.n == 3
    assert result.score == pytest.approx(100 / 3, abs=1e-3)  # only seed 1
    assert result.details["average_accuracy"] == pytest.approx(500 / 9, abs=1e-3)  # 5 of 9 rows


def test_wemath_strict_and_loose_hand_computed():
    # Four composite problems:
    #   P1 two-step: subs (1,1), multi 1 -> CM strict and loose
    #   P2 two-step: subs (1,1), multi 0 -> IG
    #   P3 three-step: subs (1,0,0), multi 1 -> RM strict, CM loose
    #   P4 two-step: subs (0,0), multi 0 -> IK
    #   P5 two-step: subs (0,0), multi 1 -> RM strict, RM loose
    spec = {"P1": ([1, 1], 1), "P2": ([1, 1], 0), "P3": ([1, 0, 0], 1), "P4": ([0, 0], 0), "P5": ([0, 0], 1)}
    rows = []
    for problem, (subs, multi) in spec.items():
        for k, c in enumerate(subs, start=1):
            rows.append(row(f"{problem}/s{k}", bool(c), problem=problem, key=f"{len(subs)}steps_{k}"))
        rows.append(row(f"{problem}/multi", bool(multi), problem=problem, key=f"{len(subs)}steps_multi"))
    counts = wemath_counts(rows)
    assert counts == {"N": 5, "IK": 1, "IG": 1, "CM_strict": 1, "RM_strict": 2, "CM_loose": 2, "RM_loose": 1, "incomplete": 0}
    scores = wemath_scores(counts)
    assert scores["strict"] == pytest.approx(100 * (1 + 0.5) / 5)  # 30.0
    assert scores["loose"] == pytest.approx(100 * (2 + 0.5) / 5)  # 50.0
    result = wemath_metrics(rows)
    assert (result.metric, result.score, result.n) == ("score (strict)", 30.0, 5)
    assert result.details["loose"] == 50.0
    assert result.details["accuracy"] == 100 * 8 / 16  # right rows: 3 + 2 + 2 + 0 + 1 of 16


def test_wemath_incomplete_problem_left_out():
    rows = [row("A/1", True, problem="A", key="2steps_1"), row("B/1", True, problem="B", key="2steps_1"), row("B/m", True, problem="B", key="2steps_multi")]
    counts = wemath_counts(rows)
    assert counts["N"] == 1 and counts["incomplete"] == 1 and counts["CM_strict"] == 1


def test_aime_avg_at_8_hand_computed():
    # problem x: 3 of 8 right, problem y: 8 of 8, problem z: 0 of 8 -> (3/8 + 1 + 0) / 3
    per_item = {"x": [1, 1, 1, 0, 0, 0, 0, 0], "y": [1] * 8, "z": [0] * 8}
    rows = [row(i, bool(c), sample=s) for i, cs in per_item.items() for s, c in enumerate(cs)]
    result = aime_metrics(rows)
    assert result.metric == "avg@8"
    assert result.n == 3
    assert result.score == pytest.approx(100 * (3 / 8 + 1) / 3, abs=1e-3)  # 45.8333
    assert result.details["pass@8"] == pytest.approx(200 / 3, abs=1e-3)


def test_pass_at_1():
    result = mean_accuracy([row("a", True), row("b", False), row("c", True), row("d", True)])
    assert (result.metric, result.score, result.n) == ("pass@1", 75.0, 4)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.booleans(), min_size=1, max_size=4), min_size=1, max_size=8), st.lists(st.booleans(), min_size=8, max_size=8))
def test_wemath_loose_at_least_strict(subs_lists, multis):
    rows = []
    for p, subs in enumerate(subs_lists):
        for k, c in enumerate(subs):
            rows.append(row(f"{p}/{k}", c, problem=str(p), key=f"s_{k}"))
        rows.append(row(f"{p}/m", multis[p], problem=str(p), key="s_multi"))
    counts = wemath_counts(rows)
    assert counts["CM_strict"] + counts["RM_strict"] + counts["IG"] + counts["IK"] == counts["N"] == len(subs_lists)
    assert counts["CM_loose"] + counts["RM_loose"] == counts["CM_strict"] + counts["RM_strict"]
    scores = wemath_scores(counts)
    assert 0 <= scores["strict"] <= scores["loose"] <= 100


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.booleans(), min_size=3, max_size=3), min_size=1, max_size=10))
def test_dynamath_worst_case_at_most_average(verdicts):
    rows = [row(f"v{v}/{s}", c, seed_id=str(s)) for s, cs in enumerate(verdicts) for v, c in enumerate(cs)]
    result = dynamath_worst_case(rows)
    assert result.score <= result.details["average_accuracy"] + 1e-9
    assert result.score == pytest.approx(100 * sum(all(cs) for cs in verdicts) / len(verdicts), abs=1e-3)


MMMU_MC = {"answer": "B", "question_type": "multiple-choice", "choices": ["red", "white", "blue"]}
MMMU_OPEN = {"answer": "3.5", "question_type": "open", "choices": []}


@pytest.mark.parametrize(
    "response, reference, answer, correct",
    [
        ("The answer is (B).", MMMU_MC, "B", True),  # bracketed letter
        ("I pick B because it is pale", MMMU_MC, "B", True),  # bare letter as a word
        ("(A) is wrong, so (B)", MMMU_MC, "B", True),  # several: the last one wins
        ("Looking at it the box is clearly white in colour", MMMU_MC, "B", True),  # option text, in a long response
        ("\\boxed{C}", MMMU_MC, "C", False),
        # the evaluation-mode extraction finds the stated value; MMMU's parser rounds numbers to 2 decimals
        ("so the total is 3.50", MMMU_OPEN, "3.50", True),
        ("the result = 7/2", MMMU_OPEN, "the result = 7/2", False),  # the official parser does not evaluate fractions
        ("\\boxed{3,5}", MMMU_OPEN, "3,5", False),
        ("It is 24/7", {"answer": "['24/7', '3.43']", "question_type": "open", "choices": []}, "24/7", True),  # list gold
    ],
)
def test_mmmu_official_protocol(response, reference, answer, correct):
    assert judge_response("mmmu", response, reference) == Verdict(answer, correct)


def test_mmmu_no_choice_found_is_a_seeded_guess_counted_as_unanswered():
    verdicts = {judge_response("mmmu", "no idea", MMMU_MC) for _ in range(3)}
    assert len(verdicts) == 1 and next(iter(verdicts)).answer is None  # reproducible, and no extracted answer
