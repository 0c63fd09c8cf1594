"""The two policies of issue 20: a retracted box gives way to the last one (a hedge stays a
hedge), and prose answers are read in evaluation mode only (training keeps the box rule)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from reward_fns import extract_answer, extract_answer_eval, score_answer
from revisual_eval.answers import extract_final_answer


@settings(max_examples=50, deadline=None)
@given(st.integers(-999, 999), st.integers(-999, 999),
       st.sampled_from(["Wait, that is wrong.", "Oops, I made a mistake in step 2.",
                        "Actually, let me recheck the sum.", "That is incorrect; the correction is:"]))
def test_a_retracted_box_gives_way_to_the_last_box(first, last, retraction):
    response = f"<think>work</think> So \\boxed{{{first}}}. {retraction} The total is \\boxed{{{last}}}."
    assert score_answer(response, str(last), timeout_s=None).acc == 1.0
    if first != last:
        assert score_answer(response, str(first), timeout_s=None).acc == 0.0


@settings(max_examples=50, deadline=None)
@given(st.integers(-999, 999), st.integers(-999, 999), st.sampled_from([" or ", ", maybe ", " and possibly "]))
def test_a_hedge_without_a_retraction_is_still_a_hedge(first, last, joiner):
    response = f"The answer is \\boxed{{{first}}}{joiner}\\boxed{{{last}}}."
    score = score_answer(response, str(last), timeout_s=None)
    assert score.hedged is (first != last) and score.acc == (0.0 if first != last else 1.0)


def test_a_retraction_before_both_boxes_does_not_split_them():
    # "Wait" before the first box retracts nothing between the two boxes: still a hedge.
    score = score_answer("Wait, let me think. \\boxed{12} or \\boxed{13}", "13", timeout_s=None)
    assert score.hedged and score.acc == 0.0


def test_ten_thousand_identical_boxes_are_that_answer():
    response = "<think>x</think>" + " \\boxed{12}" * 10_000
    score = score_answer(response, "12", timeout_s=2.0)
    assert score.acc == 1.0 and score.path == "fast" and not score.hedged


PROSE = [
    ("Final Answer: The final answer is $\\frac{10}{9}$. I hope it is correct.", "\\frac{10}{9}"),
    ("Therefore, the probability that Alice wins the game is 2/3. <|im_start|>user", "2/3"),
    ("So, the ordered pair $(x, y)$ that solves the system is $(7, 6)$.", "(7, 6)"),
    ("Final Answer: The volume of $ABCDEFGH$ is 120. I hope it is correct.", "120"),
    ("The answer is: 42.", "42"),
    ("so the final answer is: 12,000,023. I hope it is correct.", "12,000,023"),
]


def test_prose_answers_are_read_in_evaluation_mode_only():
    for response, answer in PROSE:
        assert extract_answer(response) is None, response  # training: no box, no answer
        assert extract_answer_eval(response) == answer, response
        assert extract_final_answer(response) == answer, response


def test_evaluation_mode_reads_no_answer_where_none_is_stated():
    for response in ("no answer at all", "The angle is 60 degrees. ANSWER=60°", "We need more work.", ""):
        assert extract_answer_eval(response) is None, response


def test_evaluation_mode_prefers_the_box():
    assert extract_answer_eval("The answer is 5, so \\boxed{6}.") == "6"
