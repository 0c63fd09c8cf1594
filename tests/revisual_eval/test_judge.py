"""The LLM judge over real HTTP: a localhost OpenAI-compatible server (conftest.py) and the real
``openai`` client. Judged protocols, the reply cache, retries, timeouts, 500s and malformed JSON."""

import json
import socket

import pytest

from revisual_eval.__main__ import main
from revisual_eval.fixtures import write_fixture_data
from revisual_eval.judge_client import JudgeSettings
from revisual_eval.judge_prompts import UnreadableReply, read_consistency, read_extraction, response_tail
from revisual_eval.judge_protocols import mathvista_option
from revisual_eval.runfiles import read_run_rows
from revisual_eval.score import score_run

# Rows as another tool would write them: no reference, no prompt. "ANSWER=" is invisible to the
# rules (no box, no "answer is") and is what the test judge reads.
RUN = {
    "mathverse": [("1", "The angle is 60 degrees. ANSWER=60°"), ("2", "\\boxed{B}"), ("3", "AB is 440 cm long. ANSWER=440 cm")],
    "mathvista": [("1", "It looks pale. ANSWER=whitish"), ("2", "The ratio is about 0.33. ANSWER=0.33")],
    "logicvista": [("v1_0", "\\boxed{A}"), ("v1_1", "I pick D and B. ANSWER=D, B"), ("v1_3", "ANSWER=A")],
    "math500": [("test/algebra/1.json", "\\boxed{\\frac{2}{4}}"), ("test/precalculus/807.json", "ANSWER=(5, pi/2)")],
}
# Hand-checked against the fixtures (see each row's comment in RUN):
RULES = {"mathverse": 100 / 3, "mathvista": 0.0, "logicvista": 100 / 3, "math500": 50.0}
JUDGED = {"mathverse": 100.0, "mathvista": 100.0, "logicvista": 200 / 3, "math500": 50.0}
# MathVerse: extraction + consistency per row; MathVista, LogicVista: one extraction; MATH-500: none.
REQUESTS = 3 * 2 + 2 + 3


@pytest.fixture
def data_root(tmp_path):
    return write_fixture_data(tmp_path / "data")


def write_run(run, rows=RUN):
    run.mkdir(parents=True, exist_ok=True)
    for benchmark, items in rows.items():
        lines = [json.dumps({"benchmark": benchmark, "id": i, "sample": 0, "response": r}) for i, r in items]
        (run / f"{benchmark}.jsonl").write_text("\n".join(lines) + "\n")


def settings(server, **overrides):
    values = dict(url=server.url, model="test-judge", concurrency=4, timeout_s=5.0, retries=1, backoff_s=0.0)
    values.update(overrides)
    return JudgeSettings(**values)


def scores(results, key=None):
    entries = results["benchmarks"]
    return {name: (entry[key]["score"] if key else entry["score"]) for name, entry in entries.items()}


def test_judged_protocols_beside_rules_then_a_rescore_asks_nothing(judge, data_root, tmp_path):
    run = tmp_path / "run"
    write_run(run)
    results = score_run(run, data_root, judge=settings(judge), log=lambda m: None, progress=False)
    assert scores(results) == pytest.approx(RULES, abs=1e-3)
    assert scores(results, "judged") == pytest.approx(JUDGED, abs=1e-3)
    assert len(judge.requests) == REQUESTS and {r["model"] for r in judge.requests} == {"test-judge"}
    assert (results["judge"]["requests"], results["judge"]["http_attempts"], results["judge"]["failed_requests"]) == (REQUESTS, REQUESTS, 0)
    assert results["average_judged"] == pytest.approx(sum(JUDGED.values()) / 4, abs=1e-3)
    assert results["benchmarks"]["math500"]["judged"]["protocol"] == "rules"
    assert results["benchmarks"]["logicvista"]["judged"]["judged"] == 3
    vista = {row["id"]: row for row in read_run_rows(run / "mathvista.jsonl")}
    assert vista["1"]["judge_answer"] == "white" and vista["1"]["judge_correct"] and not vista["1"]["correct"]
    assert vista["1"]["reference"]["answer"] == "white"  # the data's reference, written back
    table = (run / "results.md").read_text()
    assert "| **this run, rules** |" in table and "| **this run, judged** (`test-judge`) |" in table
    assert "Judge `test-judge`" in table and "| metric | rules | judged |" in table

    # A restarted score finds every reply in the cache: the server sees no request.
    judge.requests.clear()
    again = score_run(run, data_root, judge=settings(judge), log=lambda m: None, progress=False)
    assert judge.requests == []
    assert again["judge"]["cache_hits"] == REQUESTS and scores(again, "judged") == scores(results, "judged")

    # Without --judge nothing changes: no judged fields, rows or columns.
    plain = score_run(run, data_root, log=lambda m: None, progress=False)
    assert "judge" not in plain and all("judged" not in e for e in plain["benchmarks"].values())
    assert scores(plain) == scores(results)
    assert all("judge_status" not in row for row in read_run_rows(run / "mathverse.jsonl"))
    assert "| **this run** |" in (run / "results.md").read_text() and "judged" not in (run / "results.md").read_text()


@pytest.mark.parametrize("fault", ["500", "malformed", "slow"])
def test_failed_calls_keep_the_rule_verdict_and_are_counted(judge, data_root, tmp_path, fault):
    run = tmp_path / "run"
    write_run(run, {"mathvista": RUN["mathvista"]})
    judge.faults = lambda prompt, attempt: fault
    results = score_run(run, data_root, judge=settings(judge, timeout_s=0.2), log=lambda m: None, progress=False)
    entry = results["benchmarks"]["mathvista"]
    assert entry["judged"]["failed"] == 2 and entry["judged"]["judged"] == 0
    assert entry["judged"]["score"] == entry["score"] == 0.0  # the rule verdicts, not a silent 0 from the judge
    assert len(judge.requests) == 2 * 2  # every call tried twice (retries=1)
    reason = {"500": "HTTP 500", "malformed": "malformed reply", "slow": "timed out after 0.2 s"}[fault]
    assert all(reason in text for text in entry["judged"]["failure_reasons"])
    rows = read_run_rows(run / "mathvista.jsonl")
    assert all(row["judge_status"].startswith("failed: " + reason) for row in rows)
    assert "judge failed on 2 rows (rule verdict kept)" in (run / "results.md").read_text()


def test_a_retry_recovers_and_an_interrupted_score_resumes_from_the_cache(judge, data_root, tmp_path):
    run = tmp_path / "run"
    write_run(run, {"mathvista": RUN["mathvista"], "logicvista": RUN["logicvista"]})
    # The first attempt of every prompt gets a 500, the second an answer: retried, all judged.
    judge.faults = lambda prompt, attempt: "500" if attempt == 0 else None
    first = score_run(run, data_root, judge=settings(judge), log=lambda m: None, progress=False)
    assert len(judge.requests) == 2 * 5
    # One unit per counter: 5 requests, all answered, in 10 HTTP attempts.
    assert (first["judge"]["requests"], first["judge"]["failed_requests"], first["judge"]["http_attempts"]) == (5, 0, 10)
    assert scores(first, "judged") == pytest.approx({"mathvista": 100.0, "logicvista": 200 / 3}, abs=1e-3)

    # An interrupted score: a judge that went down after some replies (LogicVista's prompts fail).
    (run / "judge_cache.sqlite").unlink()
    judge.reset()
    judge.faults = lambda prompt, attempt: "500" if "Chosen letter(s)" in prompt else None
    partial = score_run(run, data_root, judge=settings(judge, retries=0), log=lambda m: None, progress=False)
    assert partial["benchmarks"]["logicvista"]["judged"]["failed"] == 3
    assert partial["benchmarks"]["logicvista"]["judged"]["score"] == pytest.approx(100 / 3, abs=1e-3)  # rule verdicts
    # Restarted with the judge back: only the calls that failed are made again.
    judge.reset()
    resumed = score_run(run, data_root, judge=settings(judge), log=lambda m: None, progress=False)
    assert len(judge.requests) == 3 and all("Chosen letter(s)" in r["messages"][-1]["content"] for r in judge.requests)
    assert scores(resumed, "judged") == scores(first, "judged")


def test_a_judge_that_stays_down_is_given_up(judge, data_root, tmp_path):
    run = tmp_path / "run"
    write_run(run, {"logicvista": RUN["logicvista"]})
    judge.faults = lambda prompt, attempt: "500"
    results = score_run(run, data_root, judge=settings(judge, retries=0, give_up_after=1, concurrency=1), log=lambda m: None, progress=False)
    assert len(judge.requests) == 1  # after one failed call the other rows are not sent
    reasons = results["benchmarks"]["logicvista"]["judged"]["failure_reasons"]
    assert sum(reasons.values()) == 3 and any(reason.startswith("judge down") for reason in reasons)


def test_judge_flags_on_the_command_line(judge, data_root, tmp_path, capsys):
    run = tmp_path / "run"
    write_run(run, {"mathvista": RUN["mathvista"]})
    with pytest.raises(SystemExit, match="--judge needs --judge-model"):
        main(["score", "--run", str(run), "--judge", judge.url])
    with pytest.raises(SystemExit, match="must start with http"):
        main(["score", "--run", str(run), "--judge", "localhost:1", "--judge-model", "m"])
    cache = tmp_path / "shared_cache.sqlite"
    argv = ["score", "--run", str(run), "--data-root", str(data_root), "--judge", judge.url, "--judge-model", "cli-judge",
            "--judge-cache", str(cache), "--no-progress"]
    assert main(argv) == 0
    assert cache.exists() and "| **this run, judged** (`cli-judge`) | 100.0 (2/2 judged) | **100.0** |" in capsys.readouterr().out


def test_a_wrong_model_or_a_dead_endpoint_stops_before_scoring_with_one_line(judge, data_root, tmp_path, capsys):
    run = tmp_path / "run"
    write_run(run, {"mathvista": RUN["mathvista"]})
    judge.models = {"served-judge"}
    base = ["score", "--run", str(run), "--data-root", str(data_root), "--no-progress", "--judge-retries", "0"]
    with pytest.raises(SystemExit) as stopped:
        main([*base, "--judge", judge.url, "--judge-model", "typo-judge"])
    err = capsys.readouterr().err.strip()
    assert stopped.value.code == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"error: judge {judge.url} model 'typo-judge': HTTP 404") and "does not exist" in err
    assert len(judge.requests) == 1 and not (run / "results.json").exists()  # one check request, nothing scored
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    with pytest.raises(SystemExit) as stopped:
        main([*base, "--judge", dead, "--judge-model", "served-judge"])
    err = capsys.readouterr().err.strip()
    assert stopped.value.code == 2 and len(err.splitlines()) == 1 and "cannot connect" in err
    assert main([*base, "--judge", judge.url, "--judge-model", "served-judge"]) == 0


def test_failed_requests_over_the_flag_exit_nonzero_and_judged_cells_say_what_fell_back(judge, data_root, tmp_path, capsys):
    run = tmp_path / "run"
    write_run(run, {"mathvista": RUN["mathvista"], "logicvista": RUN["logicvista"], "math500": RUN["math500"]})
    judge.faults = lambda prompt, attempt: "500" if "Chosen letter(s)" in prompt else None  # LogicVista's requests fail
    argv = ["score", "--run", str(run), "--data-root", str(data_root), "--no-progress", "--judge", judge.url,
            "--judge-model", "j", "--judge-retries", "0"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "error: judge: 3 of 5 requests failed (60%), more than --judge-max-failed 0.05" in captured.err
    assert "| **this run, judged** (`j`) | 100.0 (2/2 judged) | 33.3 (0/3 judged, 3 fell back) | 50.0 (rules) |" in captured.out
    assert "5 requests, 0 answered from the cache, 2 by the judge, 3 failed after up to 0 retries each (5 HTTP attempts in all)" in captured.out
    assert main([*argv, "--judge-max-failed", "1"]) == 0  # the same failures, accepted by the flag


def test_reply_readers_and_mathvista_normalisation():
    assert read_consistency("Judgement: 1") is True and read_consistency(" 0\n") is False
    for unreadable in ["yes", "1 or 0", "0.5"]:
        with pytest.raises(UnreadableReply):
            read_consistency(unreadable)
    assert read_extraction("Final answer: 20 cm\nbecause ...") == "20 cm"
    assert read_extraction("NONE") is None and read_extraction("  ") is None and read_extraction("null") is None
    assert mathvista_option("(B)", ["red", "white"]) == "white"
    assert mathvista_option("whitish", ["red", "white"]) == "white"
    assert mathvista_option("C", ["red", "white"]) == "red"  # not an option letter: most similar text
    assert response_tail("<think>long</think> the answer is 3", 100) == "the answer is 3"
    assert response_tail("x" * 50, 10) == "…" + "x" * 10


def test_judge_settings_check_their_values():
    with pytest.raises(ValueError, match="concurrency"):
        JudgeSettings(url="http://h/v1", model="m", concurrency=0)
    with pytest.raises(ValueError, match="non-empty"):
        JudgeSettings(url="http://h/v1", model=" ")
    with pytest.raises(ValueError, match="retries"):
        JudgeSettings(url="http://h/v1", model="m", retries=-1)
