"""Answer extraction: last complete box, <answer> fallback, no fishing in the reasoning."""

import pytest

from reward_fns import extract_answer, format_reward
from reward_fns.extract import extract_answer_candidates


@pytest.mark.parametrize(
    "response, expected",
    [
        ("so x = 3 and \\boxed{5}", "5"),
        ("first \\boxed{2}, finally \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("nested \\boxed{\\boxed{7}}", "7"),
        ("braces \\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
        ("deep \\boxed{\\frac{\\sqrt{3}}{2}}.", "\\frac{\\sqrt{3}}{2}"),
        ("spaced \\boxed {12}", "12"),
        ("bare \\boxed 42 done", "42"),
        ("math mode $\\boxed{x^2}$", "x^2"),
        ("fbox \\fbox{C}", "C"),
        ("<think>..</think><answer>B</answer>", "B"),
        ("<think>..</think><answer> $\\boxed{3\\pi}$ </answer>", "3\\pi"),
        ("< answer >12</ answer >", "12"),
        ("<answer>1</answer> then <answer>2</answer>", "2"),
    ],
)
def test_extracts_final_answer(response, expected):
    assert extract_answer(response) == expected


@pytest.mark.parametrize(
    "response",
    [
        "The answer is 5.",  # no box: never pick numbers out of the text
        "We get 12 so 12",
        "truncated \\boxed{\\frac{1}{2",  # unterminated box
        "\\boxed{3} then again \\boxed{4",  # the final box is cut off
        "<answer>5",  # unterminated answer block
        "",
        "\\boxed{}",
        "\\boxedcontent{5}",  # another macro
    ],
)
def test_no_answer(response):
    assert extract_answer(response) is None


def test_overlong_box_is_no_answer():
    assert extract_answer("\\boxed{" + "1+" * 2000 + "1}") is None


def test_box_after_think_wins_and_candidates_are_ordered():
    response = "<think>maybe \\boxed{3}</think> final \\boxed{4} or \\boxed{5}"
    assert extract_answer_candidates(response) == ["4", "5"]
    assert extract_answer(response) == "5"


def test_linear_on_huge_response():
    # 200k characters of unbalanced braces and box commands finishes and yields the last box.
    response = ("{ \\boxed " * 20000)[:150000] + "x" * 50000 + " \\boxed{9}"
    assert extract_answer(response) is None  # an earlier box is never closed -> swallows the rest
    response = "\\boxed{1} " + "{" * 100000 + "}" * 100000 + " \\boxed{9}"
    assert extract_answer(response) == "9"


@pytest.mark.parametrize(
    "response, expected",
    [
        ("<think>reason</think> so \\boxed{3}", 1.0),
        ("  <think>\nreason\n</think>\n\\boxed{A}", 1.0),
        ("reason \\boxed{3}", 0.0),  # no think block
        ("<think>reason \\boxed{3}</think>", 0.0),  # box only inside the reasoning
        ("<think>a</think> <think>b</think> \\boxed{3}", 0.0),
        ("<think>reason</think> \\boxed{3", 0.0),
        ("<think>reason</think> <answer>3</answer>", 0.0),
    ],
)
def test_format_reward(response, expected):
    assert format_reward(response) == expected
