"""lmms-eval files written by lmms-eval itself: its ``EvaluationTracker`` writes the results and samples
files, which must equal what ``lmms_eval_writer`` (our step-by-step copy of that writer) writes, and
must convert and score.

lmms-eval is not a dependency (it pins torch and other heavy packages). Its tracker needs only two
small extras, so the test runs against a no-deps install on PYTHONPATH and skips without one:

    python -m pip download --no-deps -d /tmp/lmms lmms-eval==0.7.3
    python -m pip install --no-deps --target /tmp/lmms/site /tmp/lmms/lmms_eval-0.7.3-py3-none-any.whl pytz loguru
    PYTHONPATH=/tmp/lmms/site:$PYTHONPATH python -m pytest tests/revisual_eval/test_lmms_eval_own_writer.py
"""

import json
import sys
from pathlib import Path

import pytest

tracker_module = pytest.importorskip(
    "lmms_eval.loggers.evaluation_tracker",
    reason="lmms-eval is not importable: install it with --no-deps into a folder on PYTHONPATH (see this file's doc)",
)

from revisual_eval.convert import convert_lmms_eval  # noqa: E402
from revisual_eval.fixtures import write_fixture_data  # noqa: E402
from revisual_eval.runfiles import read_run_rows  # noqa: E402
from revisual_eval.score import score_run  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from lmms_eval_writer import MATHVISTA_CONFIG, evaluator_record, write_run  # noqa: E402

TASK = "mathvista_testmini_cot"
DATE = "20260101_120000"


def records() -> list[dict]:
    """The evaluator's records of two MathVista docs: doc 0 answered once, doc 1 with two repeats."""
    return [
        evaluator_record(0, {"pid": "1", "question": "What colour?", "answer": "white"}, "white",
                         "What colour? (A) red (B) white", ["<think>pale</think> \\boxed{B}"], task=TASK, split="testmini"),
        evaluator_record(1, {"pid": "2", "question": "Ratio?", "answer": "0.3"}, "0.3", "Ratio?",
                         ["\\boxed{0.34}", "\\boxed{0.5}"], task=TASK, split="testmini"),
    ]


def written_by_lmms_eval(out: Path) -> Path:
    """lmms-eval's own tracker writes the aggregated results (with the task config) and the samples."""
    tracker = tracker_module.EvaluationTracker(output_path=str(out))
    tracker.general_config_tracker.log_experiment_args(
        model_source="qwen2_5_vl", model_args="pretrained=tiny-model", system_instruction=None, chat_template=None,
        fewshot_as_multiturn=False)
    samples = {TASK: records()}
    results = {"results": {TASK: {"alias": TASK}}, "configs": {TASK: {"task": TASK, **MATHVISTA_CONFIG}},
               "versions": {TASK: 0.0}}
    tracker.save_results_aggregated(results=results, samples=samples, datetime_str=DATE)
    tracker.save_results_samples(task_name=TASK, samples=samples[TASK])
    (written,) = (out / "tiny-model").glob(f"{DATE}_samples_{TASK}.jsonl")
    return written


def test_lmms_evals_own_files_match_our_copy_of_its_writer_and_score(tmp_path):
    theirs = written_by_lmms_eval(tmp_path / "lmms")
    ours = write_run(tmp_path / "ours", TASK, records(), MATHVISTA_CONFIG, "0.7", date_id=DATE)
    assert [json.loads(line) for line in theirs.read_text().splitlines()] == \
        [json.loads(line) for line in ours.read_text().splitlines()]
    data_root = write_fixture_data(tmp_path / "data")
    run = tmp_path / "run"
    # No --benchmark: the task config in lmms-eval's results file names the dataset.
    assert convert_lmms_eval(theirs, None, run, data_root=data_root) == run / "mathvista.jsonl"
    rows = read_run_rows(run / "mathvista.jsonl")
    assert [(r["id"], r["sample"]) for r in rows] == [("1", 0), ("2", 0), ("2", 1)]
    entry = score_run(run, data_root, log=lambda m: None, progress=False)["benchmarks"]["mathvista"]
    assert entry["score"] == 75.0 and entry["metric"] == "avg@2"
