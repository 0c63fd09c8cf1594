"""Efficient-length reward values/bounds/monotonicity and the heuristic terms."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reward_fns import efficient_length_reward, image_revisit_reward, repetition_reward, self_critique_reward


@pytest.mark.parametrize(
    "length, budget, expected",
    [
        (4096, 4096, 0.5),  # delta at the budget
        (3996, 4096, 1.0),  # 100 tokens under: 0.005*100 + 0.5
        (4046, 4096, 0.75),
        (4146, 4096, 0.25),
        (4196, 4096, 0.0),
        (0, 4096, 1.0),
        (9000, 4096, 0.0),
        (8092, 8192, 1.0),  # official config: budget == max length -> 1.0 until the last 100 tokens
        (8192, 8192, 0.5),
    ],
)
def test_efficient_length_values(length, budget, expected):
    assert efficient_length_reward(length, budget) == pytest.approx(expected)


def test_text_stage_parameters():
    # text.py in the released code uses alpha=0.001, delta=0.95
    assert efficient_length_reward(1000, 1000, alpha=0.001, delta=0.95) == pytest.approx(0.95)
    assert efficient_length_reward(1100, 1000, alpha=0.001, delta=0.95) == pytest.approx(0.85)


def test_bad_budget_is_a_clear_error():
    with pytest.raises(ValueError, match="budget"):
        efficient_length_reward(10, 0)


@given(
    st.integers(0, 50000), st.integers(0, 50000), st.integers(1, 20000),
    st.floats(1e-5, 0.1), st.floats(0.0, 1.0),
)
def test_efficient_length_bounded_and_monotone(a, b, budget, alpha, delta):
    short, long = min(a, b), max(a, b)
    r_short = efficient_length_reward(short, budget, alpha, delta)
    r_long = efficient_length_reward(long, budget, alpha, delta)
    assert 0.0 <= r_long <= r_short <= 1.0


@given(st.integers(1, 20000), st.floats(1e-4, 0.05), st.floats(0.01, 0.99))
def test_efficient_length_linear_inside_the_clip(budget, alpha, delta):
    # At the budget the reward is exactly delta; one token more costs exactly alpha.
    assert efficient_length_reward(budget, budget, alpha, delta) == pytest.approx(delta)
    expected = max(0.0, delta - alpha)
    assert efficient_length_reward(budget + 1, budget, alpha, delta) == pytest.approx(expected)


def test_self_critique_rewards_checking():
    plain = "We add the numbers and get 12. So the answer is 12."
    critical = (
        "We add and get 11. Wait, let me recheck the sum. "
        "The carry was wrong, so the correct total should be 12. I made a mistake earlier."
    )
    assert self_critique_reward(plain) == 0.0
    assert 0.5 < self_critique_reward(critical) <= 1.0


def test_image_revisit():
    assert image_revisit_reward("Compute 3+4.") == 0.0
    text = (
        "The image shows a triangle. Looking back at the image again, the base is 4. "
        "I see, so the area is 6."
    )
    assert image_revisit_reward(text) == pytest.approx(0.2 + 0.3 + 0.3)


def test_repetition_penalises_loops():
    fresh = "First we compute the area of the triangle. Then we divide it by two to get the answer."
    looping = "We compute the area of the triangle now. " * 6
    assert repetition_reward(fresh) == 1.0
    assert repetition_reward(looping) < 0.3


@given(st.text(max_size=400))
def test_heuristics_stay_in_unit_interval(text):
    for fn in (self_critique_reward, image_revisit_reward, repetition_reward):
        assert 0.0 <= fn(text) <= 1.0
