"""Hard deadlines: pathological inputs, hung and crashing calls, calls from threads."""

import os
import threading
import time

import pytest

from reward_fns import ScoringPool, accuracy_reward, is_equivalent
from reward_fns.equivalence import check_equivalence
from reward_fns.symbolic import is_pathological


@pytest.fixture(scope="module")
def pool():
    with ScoringPool(workers=2) as p:
        yield p


PATHOLOGICAL = [
    "10^{10^{10}}",
    "9^{9^{9^{9}}}",
    "2^{2^{40}}",
    "(10^{10})!",
    "\\sin^{1000}x+\\cos^{1000}x",
    "\\frac{10^{10^6}+1}{10^{10^6}}",
    "(" * 60 + "x" + ")" * 60,
    "\\frac{1}{1+" * 40 + "1" + "}" * 40,
    "7^{123456789}",
    "1e999999999",
]


@pytest.mark.parametrize("answer", PATHOLOGICAL)
def test_pathological_answers_score_zero(pool, answer):
    result = check_equivalence(answer, "1", timeout_s=1.0, pool=pool)
    assert result.equal is False
    assert accuracy_reward("\\boxed{" + answer + "}", "2", timeout_s=1.0, pool=pool) == 0.0


def test_guard_flags_towers_but_not_ordinary_powers():
    assert is_pathological("2^{2^{40}}")
    assert not is_pathological("2^{\\frac{1}{2}}")
    assert not is_pathological("x^{10}+1")


HANGING_MODULE = """
import time

def hanging_symbolic_check(pred, gold):
    time.sleep(60)
    return True
"""


def test_hung_call_is_killed_and_the_worker_replaced(pool):
    before = pool.stats["timeouts"]
    result = pool.call(time.sleep, 60, timeout_s=0.5)
    assert result.timed_out and not result.ok
    assert pool.stats["timeouts"] == before + 1
    # The pool still works afterwards (the killed worker is respawned).
    assert pool.call(pow, 2, 10, timeout_s=30).value == 1024


def test_crash_and_exception_are_errors_not_raises(pool):
    crashed = pool.call(os._exit, 3, timeout_s=30)
    assert not crashed.ok and not crashed.timed_out and crashed.error
    raised = pool.call(divmod, 1, 0, timeout_s=30)
    assert not raised.ok and "ZeroDivisionError" in raised.error
    assert pool.call(pow, 3, 2, timeout_s=30).value == 9


def test_symbolic_timeout_scores_zero_and_is_counted(tmp_path, monkeypatch):
    import importlib

    import reward_fns.equivalence as equivalence

    # A symbolic check that hangs, in a module the scoring process can import.
    (tmp_path / "hanging_check.py").write_text(HANGING_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    hanging = importlib.import_module("hanging_check")
    monkeypatch.setattr(equivalence, "symbolic_equivalent", hanging.hanging_symbolic_check)
    with ScoringPool(workers=1, preload=()) as own_pool:
        # An integral is outside what the parser models, so the pair goes to the symbolic step.
        result = check_equivalence("\\int_0^1 x\\,dx", "\\frac{1}{2}", timeout_s=0.5, pool=own_pool)
        assert result.timed_out and result.equal is False
        assert own_pool.stats["timeouts"] == 1


def test_unimportable_job_is_an_error_and_the_worker_survives(pool, tmp_path, monkeypatch):
    import importlib

    pool.warm_up()  # workers start before the module below is on the path
    (tmp_path / "parent_only_module.py").write_text("def job():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    job = importlib.import_module("parent_only_module").job
    result = pool.call(job, timeout_s=30)
    assert not result.ok and not result.timed_out and "parent_only_module" in result.error
    assert pool.call(pow, 2, 5, timeout_s=30).value == 32


def test_calls_from_threads(pool):
    answers = [("\\boxed{x^2+2x+1}", "(x+1)^2", 1.0), ("\\boxed{B}", "B", 1.0), ("\\boxed{3}", "4", 0.0)] * 4
    results = [None] * len(answers)

    def work(i):
        response, gold, _ = answers[i]
        results[i] = accuracy_reward(response, gold, timeout_s=30, pool=pool)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(answers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected for _, _, expected in answers]


def test_symbolic_through_pool_matches_in_process(pool):
    for pred, gold in [("x(x+1)", "x^2+x"), ("(1,2]", "1<x\\le 2"), ("x+2", "x+1")]:
        assert is_equivalent(pred, gold, timeout_s=30, pool=pool) == is_equivalent(pred, gold, timeout_s=None)
