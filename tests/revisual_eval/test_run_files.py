"""Scoring run files made by anyone: rows without a reference (scored from the data root), clear
errors without one, lmms-eval's samples files, and a score that never loads verl."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from revisual_eval.convert import convert_lmms_eval, lmms_eval_rows
from revisual_eval.errors import EvalDataError
from revisual_eval.fixtures import write_fixture_data
from revisual_eval.runfiles import read_run_rows
from revisual_eval.score import score_run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_root(tmp_path):
    return write_fixture_data(tmp_path / "data")


def write_rows(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


MATH500 = [
    {"benchmark": "math500", "id": "test/algebra/1.json", "sample": 0, "response": "So \\boxed{0.5}."},
    {"benchmark": "math500", "id": "test/precalculus/807.json", "sample": 0, "response": "\\boxed{(0, 5)}"},
]


def test_rows_without_reference_are_scored_from_the_data_root(data_root, tmp_path):
    run = tmp_path / "run"
    write_rows(run / "math500.jsonl", MATH500)
    entry = score_run(run, data_root, log=lambda m: None, progress=False)["benchmarks"]["math500"]
    assert (entry["score"], entry["n"], entry["missing_rows"]) == (50.0, 2, 0)  # 0.5 = 1/2; (0, 5) is not (5, pi/2)
    rows = read_run_rows(run / "math500.jsonl")
    assert rows[0]["reference"]["answer"] == "\\frac{1}{2}" and rows[0]["correct"] is True


def test_without_a_data_root_a_missing_reference_names_file_row_and_field(tmp_path):
    run = tmp_path / "run"
    write_rows(run / "math500.jsonl", [{**MATH500[0], "reference": {"answer": "\\frac{1}{2}"}}, MATH500[1]])
    results = score_run(run, log=lambda m: None, progress=False)
    assert "math500.jsonl, row 1, field 'reference': missing: with no readable --data-root" in results["errors"]["math500"]
    write_rows(run / "math500.jsonl", [{**MATH500[0], "reference": {"choices": []}}])
    assert "row 0, field 'reference.answer'" in score_run(run, log=lambda m: None, progress=False)["errors"]["math500"]
    write_rows(run / "math500.jsonl", [{**MATH500[0], "benchmark": "aime24"}])
    assert "field 'benchmark': 'aime24' in the file of 'math500'" in score_run(run, log=lambda m: None, progress=False)["errors"]["math500"]


def lmms_sample(doc_id, doc, resps):
    """One line of lmms-eval's <date>_samples_<task>.jsonl (the fields its evaluator logs)."""
    return {"doc_id": doc_id, "doc": doc, "target": doc.get("answer", ""), "arguments": ["prompt text", {"max_new_tokens": 16}],
            "resps": resps, "filtered_resps": [r[0] if isinstance(r, list) else r for r in resps], "doc_hash": "h"}


def test_lmms_eval_samples_convert_and_score(data_root, tmp_path):
    samples = tmp_path / "lmms" / "20260101_samples_mathvista_testmini_cot.jsonl"
    write_rows(samples, [
        lmms_sample(0, {"pid": "1", "question": "What colour?", "answer": "white"}, [["<think>pale</think> \\boxed{B}"]]),
        lmms_sample(1, {"pid": "2", "question": "Ratio?", "answer": "0.3"}, [["\\boxed{0.34}", "\\boxed{0.5}"]]),  # 2 repeats
    ])
    run = tmp_path / "run"
    assert convert_lmms_eval(samples, "mathvista", run) == run / "mathvista.jsonl"
    rows = read_run_rows(run / "mathvista.jsonl")
    assert [(r["id"], r["sample"]) for r in rows] == [("1", 0), ("2", 0), ("2", 1)] and rows[0]["prompt"] == "prompt text"
    entry = score_run(run, data_root, log=lambda m: None, progress=False)["benchmarks"]["mathvista"]
    # pid 1: B -> "white" right; pid 2: 0.34 rounds to 0.3 (right), 0.5 wrong -> (1 + 0.5) / 2.
    assert entry["score"] == 75.0 and entry["metric"] == "avg@2"
    with pytest.raises(EvalDataError, match="exists already"):
        convert_lmms_eval(samples, "mathvista", run)


def test_lmms_eval_conversion_errors_name_file_row_and_field(tmp_path):
    path = tmp_path / "samples.jsonl"
    write_rows(path, [lmms_sample(0, {"question": "q"}, [["x"]])])
    with pytest.raises(EvalDataError, match=r"samples.jsonl, row 0, field 'doc': no field 'pid'"):
        lmms_eval_rows(path, "mathvista")
    with pytest.raises(EvalDataError, match="no default id template"):
        lmms_eval_rows(path, "aime24")
    assert [r["id"] for r in lmms_eval_rows(path, "aime24", id_template="aime/{question}")] == ["aime/q"]
    write_rows(path, [lmms_sample(0, {"pid": "1"}, [[3]])])
    with pytest.raises(EvalDataError, match="row 0, field 'resps'"):
        lmms_eval_rows(path, "mathvista")


def test_generate_convert_and_judged_score_load_no_verl(data_root, tmp_path, judge):
    samples = tmp_path / "samples.jsonl"
    write_rows(samples, [lmms_sample(0, {"pid": "1"}, [["ANSWER=white"]])])
    script = f"""
import sys
from revisual_eval.__main__ import main
data, run = {str(data_root)!r}, {str(tmp_path / 'run')!r}
assert main(["generate", "--model", "none", "--backend", "echo", "--data-root", data, "--out", run,
             "--benchmarks", "logicvista,math500", "--no-progress"]) == 0
assert main(["convert", "lmms-eval", "--samples", {str(samples)!r}, "--benchmark", "mathvista", "--run", run]) == 0
assert main(["score", "--run", run, "--data-root", data, "--judge", {judge.url!r}, "--judge-model", "j", "--no-progress"]) == 0
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("verl", "torch", "vllm", "ray"))
assert not loaded, loaded
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["benchmarks"]["mathvista"]["judged"]["score"] == 100.0 and results["judge"]["model"] == "j"
