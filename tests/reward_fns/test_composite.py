"""Composite reward, registry, term specs from Hydra overrides, and the custom-reward example."""

import pathlib
import pickle

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from reward_fns import (
    compose_rewards,
    get_reward,
    parse_terms,
    register_reward,
    summarize_reward_infos,
)
from reward_fns.composite import score_in_worker
from reward_fns.deadline import ScoringPool

REPO = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "custom_reward" / "my_reward.py"
GOOD = "<think>2+2 is 4</think> \\boxed{4}"


def test_default_terms_and_values():
    scorer = compose_rewards(length_budget=1000)
    result = scorer(GOOD, "4", response_length=1000)
    assert result == {
        "score": pytest.approx(0.9 * 1.0 + 0.1 * 0.5),
        "acc": 1.0,
        "term/accuracy": 1.0,
        "term/efficient_length": 0.5,
        "reward_timeout": 0.0,
        "reward_error": 0.0,
    }
    wrong = scorer("<think>x</think> \\boxed{5}", "4", response_length=0)
    assert wrong["score"] == pytest.approx(0.1) and wrong["acc"] == 0.0


def test_accuracy_kept_even_when_not_a_term():
    scorer = compose_rewards({"format": 1.0})
    result = scorer(GOOD, "5", response_length=10)
    assert result["acc"] == 0.0 and result["term/format"] == 1.0 and result["score"] == 1.0


def test_parse_terms_forms():
    assert parse_terms({"accuracy": 0.9, "efficient_length": 0.1}) == [("accuracy", 0.9), ("efficient_length", 0.1)]
    assert parse_terms("accuracy:0.8, pkg.mod:fn:0.2") == [("accuracy", 0.8), ("pkg.mod:fn", 0.2)]
    with pytest.raises(ValueError, match="weight"):
        parse_terms({"accuracy": "lots"})
    with pytest.raises(KeyError, match="unknown reward 'nope'"):
        compose_rewards({"nope": 1.0})


def test_hydra_override_string_parses_to_the_example_term():
    override = "reward.terms={accuracy:0.8,examples/custom_reward/my_reward.py:brevity:0.2}"
    value = OverridesParser.create().parse_override(override).value()
    assert parse_terms(value) == [("accuracy", 0.8), ("examples/custom_reward/my_reward.py:brevity", 0.2)]


def test_registry_rejects_conflicting_names_and_allows_reregistration():
    @register_reward("test_constant_term")
    def constant():
        return 0.25

    register_reward("test_constant_term")(constant)  # same function again: fine
    assert get_reward("test_constant_term") is constant
    with pytest.raises(ValueError, match="already registered"):
        register_reward("test_constant_term")(lambda: 1.0)


def test_module_function_spec():
    fn = get_reward("reward_fns.length:efficient_length_reward")
    assert fn(4096, 4096) == 0.5
    with pytest.raises(AttributeError, match="no function"):
        get_reward("reward_fns.length:missing")
    with pytest.raises(FileNotFoundError, match="not_there.py"):
        get_reward("not_there.py:fn")


def test_custom_reward_example_through_the_composite(monkeypatch):
    monkeypatch.chdir(REPO)
    value = OverridesParser.create().parse_override(
        "reward.terms={accuracy:0.8,examples/custom_reward/my_reward.py:brevity:0.2}"
    ).value()
    scorer = compose_rewards(value)
    short = scorer(GOOD, "4", response_length=256)
    long = scorer(GOOD, "4", response_length=1024)
    wrong = scorer("<think>x</think> \\boxed{5}", "4", response_length=10)
    assert short["term/brevity"] == 1.0 and short["score"] == pytest.approx(1.0)
    assert long["term/brevity"] == 0.5 and long["score"] == pytest.approx(0.9)
    assert wrong["score"] == 0.0
    assert get_reward("brevity")(1.0, 2048) == 0.25  # loading the file registered its name


def test_custom_reward_in_a_scoring_process(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    scorer = compose_rewards({"accuracy": 0.8, "examples/custom_reward/my_reward.py:brevity": 0.2})
    pickle.loads(pickle.dumps(scorer))  # travels to workers
    monkeypatch.chdir(tmp_path)  # the worker resolves the file by absolute path
    with ScoringPool(workers=1) as pool:
        result = pool.call(
            score_in_worker, scorer, {"response": GOOD, "ground_truth": "4", "response_length": 1024}, timeout_s=60
        )
    assert result.ok, result.error
    assert result.value["term/brevity"] == 0.5 and result.value["score"] == pytest.approx(0.9)


def test_summarize_reward_infos():
    infos = [
        {"acc": 1.0, "term/accuracy": 1.0, "term/efficient_length": 0.5, "reward_timeout": 0.0, "reward_error": 0.0},
        {"acc": 0.0, "term/accuracy": 0.0, "term/efficient_length": 1.0, "reward_timeout": 1.0, "reward_error": 0.0},
    ]
    assert summarize_reward_infos(infos) == {
        "reward/acc/mean": 0.5,
        "reward/term/accuracy/mean": 0.5,
        "reward/term/efficient_length/mean": 0.75,
        "reward/timeouts": 1.0,
        "reward/errors": 0.0,
    }


def test_reward_fns_import_is_light():
    import subprocess
    import sys

    code = "import sys, reward_fns; print(sorted(m for m in ('torch','verl','ray','sympy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"
