"""Both phases end to end: the tiny model generating on the fixtures, resume, scoring, the CLI."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from revisual_eval import generate as generate_module
from revisual_eval.engines import EngineSpec, GenerationRequest, SamplingSettings
from revisual_eval.errors import EvalDataError
from revisual_eval.fixtures import write_fixture_data
from revisual_eval.generate import GenerateConfig, generate
from revisual_eval.parallel import run_worker_processes
from revisual_eval.runfiles import RowWriter, read_run_rows
from revisual_eval.score import score_run

REPO = Path(__file__).resolve().parents[2]
TINY = SamplingSettings(temperature=0.3, top_p=0.95, max_tokens=6, min_pixels=784, max_pixels=56 * 56)
SUBSET = ["mathvista", "logicvista", "aime25", "math500"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from verl_ext.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture
def data_root(tmp_path):
    return write_fixture_data(tmp_path / "data")


def hf_config(model, data_root, out, **overrides):
    settings = dict(model=str(model), data_root=data_root, out=out, benchmarks=SUBSET, backend="hf", sampling=TINY, samples={"aime25": 2})
    settings.update(overrides)
    return GenerateConfig(**settings)


def rows_by_key(path):
    return {(r["id"], r["sample"]): r for r in read_run_rows(path)}


def test_tiny_model_generate_end_to_end_then_resume(tiny_model, data_root, tmp_path, monkeypatch):
    full = tmp_path / "full"
    progress = generate(hf_config(tiny_model, data_root, full), log=lambda m: None)
    assert {name: p.generated for name, p in progress.items()} == {"mathvista": 2, "logicvista": 3, "aime25": 4, "math500": 2}
    reference = {name: rows_by_key(full / f"{name}.jsonl") for name in SUBSET}
    first = reference["mathvista"][("1", 0)]
    assert first["benchmark"] == "mathvista" and first["prompt"].startswith("Hint:") and isinstance(first["response"], str)
    assert first["reference"]["choices"] == ["red", "white"]
    assert sorted(reference["aime25"]) == [("aime2025-I/0", 0), ("aime2025-I/0", 1), ("aime2025-II/0", 0), ("aime2025-II/0", 1)]

    # Interrupt a second run after 5 rows, and leave half a line behind as a crash mid-write would.
    interrupted = tmp_path / "interrupted"
    original_write = RowWriter.write
    calls = {"n": 0}

    def crashing_write(self, row):
        if calls["n"] == 5:
            self._handle.write(json.dumps(row)[:40])
            self._handle.flush()
            raise KeyboardInterrupt
        calls["n"] += 1
        original_write(self, row)

    monkeypatch.setattr(RowWriter, "write", crashing_write)
    with pytest.raises(KeyboardInterrupt):
        generate(hf_config(tiny_model, data_root, interrupted), log=lambda m: None)
    monkeypatch.setattr(RowWriter, "write", original_write)
    partial = sum(len(read_run_rows(p)) for p in interrupted.glob("*.jsonl"))
    assert partial == 5

    generated = []
    real_dispatch = generate_module.dispatch

    def counting_dispatch(cfg, backend, requests, on_result):
        generated.extend(r.key for r in requests)
        return real_dispatch(cfg, backend, requests, on_result)

    monkeypatch.setattr(generate_module, "dispatch", counting_dispatch)
    resumed = generate(hf_config(tiny_model, data_root, interrupted), log=lambda m: None)
    assert len(generated) == 11 - 5  # only what was missing
    assert sum(p.existing for p in resumed.values()) == 5
    for name in SUBSET:
        # Seeds are per sample, so the resumed run equals the uninterrupted one row for row.
        assert rows_by_key(interrupted / f"{name}.jsonl") == reference[name]
        assert (interrupted / f"{name}.jsonl").read_text().endswith("\n")

    # A third call finds nothing to do.
    generated.clear()
    generate(hf_config(tiny_model, data_root, interrupted), log=lambda m: None)
    assert generated == []

    results = score_run(interrupted, data_root, log=lambda m: None)
    assert set(results["benchmarks"]) == set(SUBSET)
    assert results["benchmarks"]["aime25"]["metric"] == "avg@2"
    for entry in results["benchmarks"].values():
        assert 0.0 <= entry["score"] <= 100.0 and entry["missing_rows"] == 0
    for row in read_run_rows(interrupted / "math500.jsonl"):
        assert "extracted_answer" in row and isinstance(row["correct"], bool)


def test_resume_refuses_other_settings(data_root, tmp_path):
    cfg = GenerateConfig(model="m", data_root=data_root, out=tmp_path / "run", benchmarks=["math500"], backend="echo")
    generate(cfg, log=lambda m: None)
    cfg.sampling = SamplingSettings(temperature=1.0)
    with pytest.raises(EvalDataError, match="other settings \\(sampling\\)"):
        generate(cfg, log=lambda m: None)


def test_truncated_last_line_is_repaired_and_bad_middle_line_is_an_error(tmp_path):
    good = {"benchmark": "math500", "id": "a", "sample": 0, "prompt": "p", "response": "r", "reference": {"answer": "1"}}
    path = tmp_path / "math500.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "id": "b"})[:25])
    assert [r["id"] for r in read_run_rows(path)] == ["a"]
    read_run_rows(path, repair=True)
    assert path.read_text() == json.dumps(good) + "\n"
    path.write_text("{broken\n" + json.dumps(good) + "\n")
    with pytest.raises(EvalDataError, match="math500.jsonl, row 0: not valid JSON"):
        read_run_rows(path)
    path.write_text(json.dumps({**good, "sample": "0"}) + "\n")
    with pytest.raises(EvalDataError, match="row 0, field 'sample': expected int"):
        read_run_rows(path)


def test_score_writes_results_beside_the_paper(data_root, tmp_path):
    run = tmp_path / "run"
    generate(GenerateConfig(model="m", data_root=data_root, out=run, backend="echo"), log=lambda m: None)
    (run / "gpqa_diamond.jsonl").write_text('{"benchmark": "gpqa_diamond"}\n')  # a bad run file
    results = score_run(run, data_root, log=lambda m: None)
    assert "gpqa_diamond.jsonl, row 0, field 'id': missing" in results["errors"]["gpqa_diamond"]
    on_disk = json.loads((run / "results.json").read_text())
    assert set(on_disk["benchmarks"]) == {"mathverse", "mathvision", "mathvista", "dynamath", "wemath", "logicvista", "aime24", "aime25", "math500", "mmmu"}
    for entry in on_disk["benchmarks"].values():
        assert set(entry) >= {"metric", "score", "n"}
    # The echo engine answers \boxed{A}: hand-checked against the fixtures.
    assert on_disk["benchmarks"]["dynamath"]["score"] == 50.0  # seed 2 (gold A) right in both variants
    assert on_disk["benchmarks"]["wemath"]["details"]["counts"]["IK"] == 2
    assert on_disk["benchmarks"]["logicvista"]["score"] == pytest.approx(100 / 3, abs=1e-3)
    assert on_disk["benchmarks"]["aime24"]["metric"] == "avg@8"
    # MMMU (echo's A: right on Math_1, a letter but wrong on the others) is not in the paper, nor in the average.
    assert on_disk["benchmarks"]["mmmu"]["score"] == pytest.approx(100 / 3, abs=1e-3)
    scores = [e["score"] for name, e in on_disk["benchmarks"].items() if name != "mmmu"]
    assert on_disk["average"] == pytest.approx(sum(scores) / len(scores), abs=1e-3)
    table = (run / "results.md").read_text()
    assert "| **ReVisual-R1 (7B)** | 53.6 | 48.8 | 73.1 | 27.5 | 42.0 | 52.3 | 53.3 | 43.3 | 89.2 | – |" in table
    assert "| VL-Rethinker-7B |" in table and "| **this run** |" in table
    assert "MathVerse †" in table and "lower bound" in table
    assert "## Not scored" in table and "gpqa_diamond" in table


def test_data_parallel_workers_return_every_row_once():
    requests = [GenerationRequest(("math500", str(i), 0), [{"role": "user", "content": "q"}], [], i) for i in range(7)]
    results = []
    run_worker_processes(EngineSpec("echo", "", SamplingSettings()), requests, lambda r, text: results.append((r.key, text)),
                         num_workers=2, chunk_size=2, visible_devices=["0", "1"])
    assert sorted(key for key, _ in results) == sorted(r.key for r in requests)
    assert all(text.endswith("\\boxed{A}") for _, text in results)


def test_recipe_generates_judges_and_scores_in_one_command(data_root, tmp_path, judge):
    out = tmp_path / "recipe_run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        ["bash", str(REPO / "recipes" / "revisual_eval.sh"), "none", str(data_root), "--backend", "echo", "--out", str(out),
         "--benchmarks", "wemath,logicvista", "--judge", judge.url, "--judge-model", "recipe-judge"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "| **this run, rules** |" in done.stdout and "| **this run, judged** (`recipe-judge`) |" in done.stdout
    # One progress bar per benchmark while generating, and one while judging.
    assert "wemath: 100%" in done.stderr and "logicvista: 100%" in done.stderr and "judge logicvista: 100%" in done.stderr
    results = json.loads((out / "results.json").read_text())
    assert set(results["benchmarks"]) == {"wemath", "logicvista"}
    assert results["benchmarks"]["wemath"]["metric"] == "score (strict)"
    # The echo engine boxes its answer, so WeMath keeps its rule verdicts and LogicVista asks the judge once per item.
    checks = [r for r in judge.requests if r["max_tokens"] == 1]  # the one check request before generating
    assert results["benchmarks"]["wemath"]["judged"]["rule"] == 7 and len(judge.requests) == 3 + len(checks) and len(checks) == 1


def test_score_reports_missing_rows_against_the_limit(data_root, tmp_path):
    run = tmp_path / "run"
    generate(GenerateConfig(model="m", data_root=data_root, out=run, benchmarks=["dynamath"], backend="echo", limit=1), log=lambda m: None)
    assert score_run(run, data_root, log=lambda m: None)["benchmarks"]["dynamath"]["missing_rows"] == 0
    lines = (run / "dynamath.jsonl").read_text().splitlines(keepends=True)
    (run / "dynamath.jsonl").write_text(lines[0])  # drop the second variant of seed 1
    entry = score_run(run, data_root, log=lambda m: None)["benchmarks"]["dynamath"]
    assert entry["missing_rows"] == 1 and "incomplete run: 1 of 2 rows" in entry["notes"][0]
