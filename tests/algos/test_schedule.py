"""The prompt scheduler's rule (verl_ext.algos.schedule): hand-computed decisions, the exploration floor,
the adaptation, and the state's round trip."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verl_ext.algos.schedule import (
    ALL_CORRECT, ALL_WRONG, MIXED, UNSEEN, ScheduleHistory, adapt_exploration, decide, group_outcome,
    keep_probability, record_outcomes,
)


def test_group_outcomes_hand_counted():
    assert group_outcome(8, 8) == ALL_CORRECT and group_outcome(0, 8) == ALL_WRONG
    assert group_outcome(3, 8) == MIXED and group_outcome(0, 0) == UNSEEN


def test_streaks_count_the_same_stagnation_in_a_row_and_reset_on_a_mixed_group():
    history = ScheduleHistory()
    record_outcomes(history, [0, 1, 2], [ALL_CORRECT, ALL_WRONG, MIXED], [10, 20, 30], step=1)
    record_outcomes(history, [0, 1, 2], [ALL_CORRECT, ALL_CORRECT, ALL_WRONG], [11, 21, 31], step=2)
    record_outcomes(history, [0, 1, 2], [ALL_CORRECT, ALL_CORRECT, MIXED], [12, 22, 32], step=3)
    assert history.streak[:3].tolist() == [3, 2, 0]
    assert history.last[:3].tolist() == [ALL_CORRECT, ALL_CORRECT, MIXED]
    assert history.seen_step[:3].tolist() == [3, 3, 3] and history.mean_tokens[:3].tolist() == [12, 22, 32]
    # a group whose every score failed is no evidence: the prompt's history stays as it was
    record_outcomes(history, [0], [UNSEEN], [99], step=4)
    assert history.streak[0] == 3 and history.seen_step[0] == 3


def test_keep_probability_is_explore_to_the_streak():
    history = ScheduleHistory(explore={ALL_CORRECT: 0.5, ALL_WRONG: 0.8})
    record_outcomes(history, [0, 1, 2], [ALL_CORRECT, ALL_WRONG, MIXED], [1, 1, 1], step=1)
    record_outcomes(history, [0, 1], [ALL_CORRECT, ALL_WRONG], [1, 1], step=2)
    # prompt 3 was never seen, prompt 2 was mixed: always kept
    assert keep_probability(history, np.array([0, 1, 2, 3]), 0.5).tolist() == pytest.approx([0.25, 0.64, 1.0, 1.0])


def test_decisions_keep_unseen_and_mixed_prompts_and_skip_at_the_predicted_rate():
    history = ScheduleHistory(explore={ALL_CORRECT: 0.5, ALL_WRONG: 0.5})
    record_outcomes(history, np.arange(2000), [ALL_WRONG] * 1000 + [MIXED] * 1000, np.ones(2000), step=1)
    out = decide(history, np.arange(3000), np.random.default_rng(0), explore_init=0.5, audit_share=0.0)
    assert out.keep[1000:].all() and not out.predicted_stagnant[1000:].any()
    # streak 1 -> kept with P 0.5; binomial std over 1000 is 0.016, allow 4 sigma
    assert abs(out.keep[:1000].mean() - 0.5) < 0.064
    assert not out.audited.any()


def test_the_audit_keeps_its_share_of_predicted_skips_and_marks_them():
    history = ScheduleHistory(explore={ALL_CORRECT: 0.1, ALL_WRONG: 0.1})
    record_outcomes(history, np.arange(4000), [ALL_CORRECT] * 4000, np.ones(4000), step=1)
    out = decide(history, np.arange(4000), np.random.default_rng(1), explore_init=0.5, audit_share=0.25)
    predicted = out.predicted_stagnant.sum()
    assert abs(predicted / 4000 - 0.9) < 0.02
    assert abs(out.audited.sum() / predicted - 0.25) < 0.03  # std ~0.008
    assert (out.keep == (~out.predicted_stagnant | out.audited)).all()


def test_the_same_seed_gives_the_same_decisions():
    history = ScheduleHistory()
    record_outcomes(history, np.arange(64), [ALL_WRONG] * 64, np.ones(64), step=1)
    a = decide(history, np.arange(64), np.random.default_rng([3, 7]), explore_init=0.5, audit_share=0.1)
    b = decide(history, np.arange(64), np.random.default_rng([3, 7]), explore_init=0.5, audit_share=0.1)
    assert (a.keep == b.keep).all() and (a.audited == b.audited).all()


@settings(max_examples=100, deadline=None)
@given(shares=st.lists(st.floats(0, 1), min_size=1, max_size=60), target=st.floats(0.01, 1),
       rate=st.floats(0.01, 0.5), floor=st.floats(0.01, 0.5))
def test_exploration_stays_between_its_floor_and_one_and_moves_against_the_excess(shares, target, rate, floor):
    history = ScheduleHistory()
    for share in shares:
        before = history.explore.get(ALL_WRONG, 0.5)
        groups = 100
        outcome = np.array([ALL_WRONG] * round(share * groups) + [MIXED] * (groups - round(share * groups)))
        adapt_exploration(history, outcome, target_share=target, rate=rate, explore_init=0.5, explore_min=floor)
        after = history.explore[ALL_WRONG]
        assert floor - 1e-12 <= after <= 1.0
        if np.mean(outcome == ALL_WRONG) > target:
            assert after <= before or after == floor
        else:
            assert after >= before or after == 1.0


def test_the_floor_keeps_every_prompt_explorable():
    history = ScheduleHistory(explore={ALL_CORRECT: 0.0, ALL_WRONG: 0.0})
    for step in range(50):  # far more stagnant groups than the target, for 50 steps
        adapt_exploration(history, np.array([ALL_CORRECT] * 10), target_share=0.1, rate=0.05, explore_init=0.5,
                          explore_min=0.2)
    assert history.explore[ALL_CORRECT] == pytest.approx(0.2)
    record_outcomes(history, [0], [ALL_CORRECT], [1], step=1)
    assert keep_probability(history, np.array([0]), 0.5)[0] == pytest.approx(0.2)


def test_the_state_round_trips_through_json():
    history = ScheduleHistory(explore={ALL_CORRECT: 0.35, ALL_WRONG: 0.9})
    record_outcomes(history, [5, 9, 2], [ALL_CORRECT, MIXED, ALL_WRONG], [3.5, 4.0, 7.25], step=4)
    record_outcomes(history, [5], [ALL_CORRECT], [2.0], step=5)
    back = ScheduleHistory.from_json(json.loads(json.dumps(history.to_json())))
    for name in ("last", "streak", "seen_step", "mean_tokens"):
        assert getattr(back, name).tolist() == getattr(history, name).tolist(), name
    assert back.explore == history.explore
    rng = [11, 2]
    a = decide(history, np.arange(12), np.random.default_rng(rng), explore_init=0.5, audit_share=0.1)
    b = decide(back, np.arange(12), np.random.default_rng(rng), explore_init=0.5, audit_share=0.1)
    assert (a.keep == b.keep).all()


def test_the_decision_benchmark_runs_and_reports_its_workload():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_schedule.py"
    spec = importlib.util.spec_from_file_location("bench_schedule", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.main(["--prompts", "64", "--epochs", "3", "--repeats", "3"])
    assert result["prompts"] == 64 and result["scheduler_step_ms"] > 0 and result["state_bytes_per_prompt"] == 13
