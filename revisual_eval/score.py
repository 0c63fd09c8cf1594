"""Phase 2: score a run folder, add the extracted answer and verdict to every row, write the results.

With a data root, each benchmark's items are read again: the data's reference answers are used
(rows then need only ``benchmark``, ``id``, ``sample`` and ``response``) and the run's coverage
(missing rows) is reported. Without one (or where the data cannot be read) the references stored
in the rows are used, and a row without one is an error naming the file, row and field.

With a judge (:class:`~revisual_eval.judge_client.JudgeSettings`), every row is also scored by its
benchmark's judged protocol, and each benchmark gets a judged metric beside the rule-based one.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from revisual_eval.answers import judge_response
from revisual_eval.errors import EvalDataError
from revisual_eval.judging import JudgeTally, drop_judge_fields, judge_rows
from revisual_eval.layouts import benchmark_dir
from revisual_eval.loaders import LOADERS, LoadOptions, limit_items
from revisual_eval.metrics import METRICS, MetricResult
from revisual_eval.paper import BENCHMARKS, DEFAULT_SAMPLES
from revisual_eval.report import write_results
from revisual_eval.runfiles import read_run_rows, rewrite_rows, run_file


@dataclass
class BenchmarkScore:
    """A benchmark's metric plus how complete the run was (and, when judged, the judged metric)."""

    result: MetricResult
    rows: int
    unanswered: int
    missing_rows: int | None = None
    notes: list[str] = field(default_factory=list)
    judged: MetricResult | None = None
    judge_tally: JudgeTally | None = None


def score_rows(benchmark: str, rows: list[dict]) -> list[dict]:
    """Rows with ``extracted_answer`` and ``correct`` set by the benchmark's rule."""
    scored = []
    for row in rows:
        verdict = judge_response(benchmark, row["response"], row["reference"])
        scored.append({**row, "extracted_answer": verdict.answer, "correct": verdict.correct})
    return scored


def reference_items(data_root: Path, benchmark: str, run_config: dict, paths: dict | None) -> tuple[dict[str, dict], set[str]]:
    """id -> reference from the benchmark's data, read with the options the run was generated
    with, and the ids the run was meant to cover (its ``--limit``)."""
    options = LoadOptions(**run_config.get("load_options", {}))
    folder = benchmark_dir(Path(data_root), benchmark, paths)
    items = LOADERS[benchmark](folder, options)
    expected = {item.id for item in limit_items(items, run_config.get("limit"))}
    return {item.id: item.reference for item in items}, expected


def attach_data_references(path: Path, benchmark: str, rows: list[dict], references: dict, expected: set[str], samples: int, notes: list[str]):
    """Rows with the data's references, and how many expected rows the run lacks."""
    unknown = [row["id"] for row in rows if row["id"] not in references]
    if unknown:
        raise EvalDataError(path, f"ids not in the benchmark data, e.g. {unknown[0]!r}", field="id")
    stale = sum(row.get("reference") is not None and row["reference"] != references[row["id"]] for row in rows)
    if stale:
        notes.append(f"{stale} rows carried a reference that differs from the data; the data's was used")
    present = {(row["id"], row["sample"]) for row in rows if row["id"] in expected and row["sample"] < samples}
    missing = len(expected) * samples - len(present)
    if missing:
        notes.append(f"incomplete run: {missing} of {len(expected) * samples} rows not generated yet")
    return [{**row, "reference": references[row["id"]]} for row in rows], missing


def unique_rows(path: Path, rows: list[dict], notes: list[str]) -> dict:
    """One row per (id, sample). A resumed run never writes a key twice, but two runs on one folder or a
    merged file may: identical copies are dropped and counted in ``notes``; copies with different
    responses are refused, naming the key and both rows, since either could be the one meant."""
    unique: dict[tuple, dict] = {}
    where: dict[tuple, int] = {}
    dropped = 0
    for index, row in enumerate(rows):
        key = (row["id"], row["sample"])
        if key not in unique:
            unique[key], where[key] = row, index
        elif row["response"] == unique[key]["response"]:
            dropped += 1
        else:
            raise EvalDataError(path, f"item {key[0]!r} sample {key[1]} appears twice with different responses "
                                      f"(rows {where[key]} and {index}, counting rows from 0); keep the one you "
                                      "mean and score again", row=index, field="response")
    if dropped:
        notes.append(f"dropped {dropped} duplicate row{'s' if dropped > 1 else ''} (same item, sample and response)")
    return unique


def score_benchmark(run_dir: Path, benchmark: str, data_root: Path | None, run_config: dict, paths=None, judge=None, progress: bool = True) -> BenchmarkScore:
    """Score one benchmark's run file in place and compute its metric (and its judged metric)."""
    path = run_file(run_dir, benchmark)
    notes: list[str] = []
    references = expected = None
    if data_root is not None:
        try:
            references, expected = reference_items(data_root, benchmark, run_config, paths)
        except EvalDataError as exc:
            notes.append(f"data not read ({exc}); scored with the references stored in the rows")
    rows = read_run_rows(path, benchmark=benchmark, need_reference=references is None)
    if not rows:
        raise EvalDataError(path, "no generated rows")
    missing = None
    if references is not None:
        samples = int(run_config.get("samples", {}).get(benchmark, DEFAULT_SAMPLES.get(benchmark, 1)))
        rows, missing = attach_data_references(path, benchmark, rows, references, expected, samples, notes)
    unique = unique_rows(path, rows, notes)
    scored = score_rows(benchmark, [drop_judge_fields(row) for row in unique.values()])
    judged_result = tally = None
    if judge is not None:
        scored, tally = judge_rows(benchmark, scored, judge, progress=progress)
        judged_result = METRICS[benchmark]([{**row, "correct": row["judge_correct"]} for row in scored])
    rewrite_rows(path, scored)
    result = METRICS[benchmark](scored)
    unanswered = sum(row["extracted_answer"] is None for row in scored)
    return BenchmarkScore(result, len(scored), unanswered, missing, notes, judged_result, tally)


def score_run(run_dir: Path, data_root: Path | None = None, benchmarks: list[str] | None = None, paths=None, log=None, judge=None, progress: bool = True) -> dict:
    """Score every benchmark present in ``run_dir`` (or the listed ones); write results.json/.md.

    ``judge``: a :class:`~revisual_eval.judge_client.JudgeSettings` to add judged scores.
    Returns the results dictionary. A benchmark that cannot be scored is reported under
    ``errors`` and the rest are still scored.
    """
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    run_dir = Path(run_dir)
    config_path = run_dir / "run_config.json"
    run_config = json.loads(config_path.read_text()) if config_path.exists() else {}
    names = benchmarks or [b for b in BENCHMARKS if run_file(run_dir, b).exists()]
    log(run_files_found(run_dir, names, explicit=benchmarks is not None))
    if not names:
        others = sorted(p.name for p in run_dir.glob("*.jsonl"))
        found = f"; it holds {', '.join(others)}" if others else ""
        raise EvalDataError(run_dir, f"no run file to score: expected <benchmark>.jsonl with <benchmark> one of {', '.join(BENCHMARKS)}{found}")
    scores: dict[str, BenchmarkScore] = {}
    errors: dict[str, str] = {}
    client = open_judge(judge, run_dir) if judge is not None else None
    try:
        for benchmark in names:
            if benchmark not in METRICS:
                errors[benchmark] = f"unknown benchmark {benchmark!r}"
                continue
            try:
                scores[benchmark] = score_benchmark(run_dir, benchmark, data_root, run_config, paths, client, progress)
            except EvalDataError as exc:
                errors[benchmark] = str(exc)
                log(f"[{benchmark}] not scored: {exc}")
                continue
            entry = scores[benchmark]
            judged = "" if entry.judged is None else f", judged {entry.judged.score:.1f} ({entry.judge_tally.failed} rows failed)"
            log(f"[{benchmark}] {entry.result.metric} = {entry.result.score:.1f}{judged} (n={entry.result.n})")
    finally:
        if client is not None:
            client.cache.close()
    return write_results(run_dir, scores, errors, run_config, judge_summary(client))


def run_files_found(run_dir: Path, names: list[str], explicit: bool) -> str:
    """One line: the run files that will be scored, the benchmarks without one, and any other
    JSONL in the folder (a misnamed run file, e.g. ``MathVista.jsonl``, is not read)."""
    found = [run_file(run_dir, b).name for b in names if run_file(run_dir, b).exists()]
    absent = [b for b in (names if explicit else BENCHMARKS) if not run_file(run_dir, b).exists()]
    known = {run_file(run_dir, b).name for b in BENCHMARKS}
    others = sorted(p.name for p in Path(run_dir).glob("*.jsonl") if p.name not in known)
    line = f"scoring {run_dir}: {len(found)} run files ({', '.join(found) or 'none'})"
    if absent:
        line += f"; no file for {', '.join(absent)}"
    if others:
        line += f"; not read (not <benchmark>.jsonl): {', '.join(others)}"
    return line


def open_judge(settings, run_dir: Path):
    """A judge client whose cache is ``settings.cache_path`` or ``RUN_DIR/judge_cache.sqlite``."""
    from revisual_eval.judge_cache import JudgeCache
    from revisual_eval.judge_client import JudgeClient

    return JudgeClient(settings, JudgeCache(settings.cache_path or Path(run_dir) / "judge_cache.sqlite"))


def judge_summary(client) -> dict | None:
    """What results.json records about the judge, counted in requests (one per question asked):
    ``asked`` (sent + from the cache), ``requests`` sent, ``cache_hits``, ``failed_requests`` and
    their share of ``asked``; ``http_attempts`` (retries included) is the one count in calls."""
    if client is None:
        return None
    asked = client.requests + client.cache_hits
    return {
        "model": client.settings.model,
        "url": client.settings.url,
        "asked": asked,
        "requests": client.requests,
        "cache_hits": client.cache_hits,
        "failed_requests": client.failed_requests,
        "failed_share": round(client.failed_requests / asked, 4) if asked else 0.0,
        "http_attempts": client.http_attempts,
        "retries": client.settings.retries,
        "cache": str(client.cache.path),
    }
