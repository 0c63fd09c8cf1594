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

sys.path.insert(0, str(Path(__file__).parent))
from lmms_eval_writer import MATHVERSE_CONFIG, MATHVISTA_CONFIG, MMMU_CONFIG, WRITERS, evaluator_record, write_run  # noqa: E402

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


def lmms_eval_mathvista(tmp_path, writer, folder="lmms"):
    """An lmms-eval MathVista run as the writer of release ``writer`` leaves it on disk: doc 0 once,
    doc 1 with two repeats."""
    records = [
        evaluator_record(0, {"pid": "1", "question": "What colour?", "answer": "white"}, "white", "What colour? (A) red (B) white",
                         ["<think>pale</think> \\boxed{B}"], task="mathvista_testmini_cot", split="testmini"),
        evaluator_record(1, {"pid": "2", "question": "Ratio?", "answer": "0.3"}, "0.3", "Ratio?", ["\\boxed{0.34}", "\\boxed{0.5}"],
                         task="mathvista_testmini_cot", split="testmini"),
    ]
    return write_run(tmp_path / folder, "mathvista_testmini_cot", records, MATHVISTA_CONFIG, writer)


@pytest.mark.parametrize("writer", WRITERS)
def test_lmms_eval_files_of_every_release_convert_and_score(data_root, tmp_path, writer):
    samples = lmms_eval_mathvista(tmp_path, writer)
    if writer != "0.3.5":
        assert '"doc"' not in samples.read_text()  # what the user met: no doc since v0.4
    run = tmp_path / "run"
    # No --benchmark: the task config beside the samples names the dataset.
    assert convert_lmms_eval(samples, None, run, data_root=data_root) == run / "mathvista.jsonl"
    rows = read_run_rows(run / "mathvista.jsonl")
    assert [(r["id"], r["sample"]) for r in rows] == [("1", 0), ("2", 0), ("2", 1)]
    assert rows[0]["prompt"] == "What colour? (A) red (B) white" and "reference" not in rows[0]
    entry = score_run(run, data_root, log=lambda m: None, progress=False)["benchmarks"]["mathvista"]
    # pid 1: B -> "white" right; pid 2: 0.34 rounds to 0.3 (right), 0.5 wrong -> (1 + 0.5) / 2.
    assert entry["score"] == 75.0 and entry["metric"] == "avg@2"
    with pytest.raises(EvalDataError, match="exists already"):
        convert_lmms_eval(samples, "mathvista", run, data_root=data_root)


@pytest.mark.parametrize("writer", ["0.4", "0.7"])
def test_lmms_eval_mathverse_and_mmmu_ids_come_from_doc_id_and_the_data(data_root, tmp_path, writer):
    verse = [evaluator_record(i, {}, answer, "q", [response]) for i, (answer, response) in
             enumerate([("B", "\\boxed{B}"), ("B", "\\boxed{C}"), ("4.4 m", "\\boxed{4.4 m}")])]
    samples = write_run(tmp_path / "verse", "mathverse_testmini", verse, MATHVERSE_CONFIG, writer)
    run = tmp_path / "run"
    convert_lmms_eval(samples, None, run, data_root=data_root)
    assert [r["id"] for r in read_run_rows(run / "mathverse.jsonl")] == ["1", "2", "3"]
    # MMMU in lmms-lab's order (subject, number): Accounting_1 (B), Accounting_2 (3.5), Math_1 (A).
    mmmu = [evaluator_record(0, {}, "B", "q", ["The answer is (B)."]), evaluator_record(1, {}, "3.5", "q", ["so the sum is 3.50"]),
            evaluator_record(2, {}, "A", "q", ["\\boxed{B}"])]
    convert_lmms_eval(write_run(tmp_path / "mmmu", "mmmu_val", mmmu, MMMU_CONFIG, writer), None, run, data_root=data_root)
    assert [r["id"] for r in read_run_rows(run / "mmmu.jsonl")] == ["validation_Accounting_1", "validation_Accounting_2", "validation_Math_1"]
    results = score_run(run, data_root, log=lambda m: None, progress=False)
    assert round(results["benchmarks"]["mathverse"]["score"], 2) == 66.67
    assert round(results["benchmarks"]["mmmu"]["score"], 2) == 66.67
    assert results["averaged"] == ["mathverse"]  # MMMU has no paper number, so the average leaves it out


def test_lmms_eval_doc_ids_that_do_not_fit_the_data_are_refused(data_root, tmp_path):
    records = [evaluator_record(0, {}, "red", "q", ["\\boxed{A}"])]  # the data's item 0 has the answer "white"
    samples = write_run(tmp_path / "lmms", "mathvista_testmini_cot", records, MATHVISTA_CONFIG, "0.7")
    with pytest.raises(EvalDataError, match=r"row 0, field 'target': 'red' is not the answer of the data root's item 0 \(1: 'white'\)"):
        lmms_eval_rows(samples, data_root=data_root)
    samples = write_run(tmp_path / "far", "mathvista_testmini_cot", [evaluator_record(7, {}, "x", "q", ["y"])], MATHVISTA_CONFIG, "0.7")
    with pytest.raises(EvalDataError, match="field 'doc_id': 7 is past the 2 items of the data root's mathvista testmini"):
        lmms_eval_rows(samples, data_root=data_root)
    filtered = write_run(tmp_path / "sub", "mathvista_testmini_cot", records, {**MATHVISTA_CONFIG, "process_docs": "<function f>"}, "0.7")
    with pytest.raises(EvalDataError, match="filters its rows"):
        lmms_eval_rows(filtered, data_root=data_root)


def test_lmms_eval_without_a_data_root_scores_against_the_targets(tmp_path):
    records = [evaluator_record(0, {}, "0.5", "q", ["\\boxed{1/2}"]), evaluator_record(1, {}, "3", "q", ["\\boxed{4}"])]
    samples = write_run(tmp_path / "lmms", "math500_custom", records, {"output_type": "generate_until"}, "0.7")
    rows = lmms_eval_rows(samples, "math500")
    assert [(r["id"], r["reference"]) for r in rows] == [("0", {"answer": "0.5"}), ("1", {"answer": "3"})]
    with pytest.raises(EvalDataError, match="cannot tell which benchmark"):
        lmms_eval_rows(samples)
    run = tmp_path / "run"
    convert_lmms_eval(samples, "math500", run)
    assert score_run(run, log=lambda m: None, progress=False)["benchmarks"]["math500"]["score"] == 50.0


def test_lmms_eval_conversion_errors_name_file_row_and_field(tmp_path):
    path = lmms_eval_mathvista(tmp_path, "0.3.5")
    text = path.read_text().replace('"pid": "1"', '"nopid": "1"')
    path.write_text(text)
    with pytest.raises(EvalDataError, match=r"row 0, field 'doc': no field 'pid'"):
        lmms_eval_rows(path, "mathvista")
    with pytest.raises(EvalDataError, match="no default id template"):
        lmms_eval_rows(path, "aime24")
    assert [r["id"] for r in lmms_eval_rows(path, "aime24", id_template="aime/{question}")][:1] == ["aime/What colour?"]
    bad = write_run(tmp_path / "bad", "mathvista_testmini_cot", [evaluator_record(0, {}, "white", "q", ["3"])], MATHVISTA_CONFIG, "0.7")
    bad.write_text(bad.read_text().replace('"filtered_resps": "3"', '"filtered_resps": {"text": "3"}'))  # a file edited by hand
    with pytest.raises(EvalDataError, match="row 0, field 'filtered_resps': expected strings"):
        lmms_eval_rows(bad, "mathvista")
    with pytest.raises(EvalDataError, match="no such file"):
        lmms_eval_rows(tmp_path / "missing.jsonl", "mathvista")


def test_generate_convert_and_judged_score_load_no_verl(data_root, tmp_path, judge):
    samples = write_run(tmp_path / "lmms", "mathvista_testmini_cot", [evaluator_record(0, {}, "white", "q", ["ANSWER=white"])],
                        MATHVISTA_CONFIG, "0.7")
    script = f"""
import sys
from revisual_eval.__main__ import main
data, run = {str(data_root)!r}, {str(tmp_path / 'run')!r}
assert main(["generate", "--model", "none", "--backend", "echo", "--data-root", data, "--out", run,
             "--benchmarks", "logicvista,math500", "--no-progress"]) == 0
assert main(["convert", "lmms-eval", "--samples", {str(samples)!r}, "--data-root", data, "--run", run]) == 0
assert main(["score", "--run", run, "--data-root", data, "--judge", {judge.url!r}, "--judge-model", "j", "--no-progress"]) == 0
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("verl", "torch", "vllm", "ray"))
assert not loaded, loaded
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["benchmarks"]["mathvista"]["judged"]["score"] == 100.0 and results["judge"]["model"] == "j"


def one_error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, lines
    return lines[0]


def test_score_says_what_it_scored_and_stops_on_nothing_to_score(data_root, tmp_path, capsys):
    from revisual_eval.__main__ import main

    run = tmp_path / "run"
    write_rows(run / "MathVista.jsonl", MATH500)  # misnamed: run files are <benchmark>.jsonl
    assert main(["score", "--run", str(run), "--data-root", str(data_root), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "0 run files (none)" in err and "not read (not <benchmark>.jsonl): MathVista.jsonl" in err
    assert "error: " in err and "no run file to score" in err and "it holds MathVista.jsonl" in err
    assert not (run / "results.md").exists()
    # A typo in --data-root is named as such, not as a missing field in every row.
    write_rows(run / "math500.jsonl", MATH500)
    assert main(["score", "--run", str(run), "--data-root", str(tmp_path / "dtaa"), "--no-progress"]) == 2
    assert one_error_line(capsys) == f"error: --data-root {tmp_path / 'dtaa'} does not exist"
    assert main(["score", "--run", str(run), "--data-root", str(data_root), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert f"scoring {run}: 1 run files (math500.jsonl); no file for mathverse, mathvision" in err


def test_bad_paths_and_refused_resumes_are_one_error_line_with_status_2(data_root, tmp_path, capsys):
    from revisual_eval.__main__ import main

    out = tmp_path / "run"
    common = ["--data-root", str(data_root), "--out", str(out), "--benchmarks", "math500", "--no-progress"]
    assert main(["generate", "--model", str(tmp_path / "no_such_model"), "--backend", "hf", *common]) == 2
    assert one_error_line(capsys) == f"error: --model {tmp_path / 'no_such_model'}: no such folder (and not a hub id 'org/name')"
    assert main(["generate", "--model", "none", "--backend", "echo", *common]) == 0
    capsys.readouterr()
    assert main(["generate", "--model", "none", "--backend", "echo", "--temperature", "0.7", *common]) == 2
    assert "this run was generated with other settings (sampling); use a new --out folder" in one_error_line(capsys)
    assert main(["score", "--run", str(tmp_path / "nothing")]) == 2
    assert "nothing does not exist" in one_error_line(capsys)
    assert main(["convert", "lmms-eval", "--samples", str(tmp_path / "none.jsonl"), "--run", str(out)]) == 2
    assert one_error_line(capsys).endswith("none.jsonl: no such file")
