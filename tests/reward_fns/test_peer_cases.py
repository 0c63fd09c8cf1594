"""Regression on the labelled cases from other projects' test suites
(``benchmarks/data/peer_answer_cases.jsonl``): every case whose label is a plain fact must keep
its verdict; the policy cases follow the policies in docs/rewards.md."""

import json
import pathlib

import pytest

from reward_fns import score_answer

DATA = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "peer_answer_cases.jsonl"
CASES = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
FACTS = [c for c in CASES if c["policy"] is None]


def test_the_corpus_is_what_the_docs_say():
    assert len(CASES) == 453 and len(FACTS) == 369
    assert all(c["source"].count(":") == 1 and "@" in c["source"] for c in CASES)


@pytest.mark.parametrize("case", FACTS, ids=[f"{c['id']}-{c['suite']}" for c in FACTS])
def test_plain_fact_cases(case):
    score = score_answer(case["response"], case["gold"], timeout_s=None)
    assert (score.acc == 1.0) is case["label"], (case["gold"], score)


@pytest.mark.parametrize(
    "policy, verdict",
    [
        ("unboxed-prose", 0.0),  # no box, no answer: numbers are never taken from prose
        ("decimal-comma", 0.0),  # a comma is a thousands separator or a list separator
        ("rounded-prediction", 0.0),  # a rounded decimal is not an exact gold
        ("bare-list-order", 1.0),  # a bare list of answers is unordered
    ],
)
def test_policy_cases_follow_the_documented_policy(policy, verdict):
    tagged = [c for c in CASES if c["policy"] == policy]
    assert tagged
    for case in tagged:
        assert score_answer(case["response"], case["gold"], timeout_s=None).acc == verdict, case["id"]
