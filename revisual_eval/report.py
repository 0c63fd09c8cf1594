"""results.json and results.md: the run's scores beside the paper's Table 2."""

from __future__ import annotations

import json
from pathlib import Path

from revisual_eval.judge_protocols import PROTOCOLS
from revisual_eval.paper import BENCHMARKS, DISPLAY_NAMES, LLM_JUDGED, PAPER_BENCHMARKS, PAPER_TABLE2, REVISUAL_ROW
from revisual_eval.runfiles import write_text_atomic


def judged_entry(name: str, entry) -> dict:
    """The judged metric of one benchmark and how its rows were decided (judged, rule, failed)."""
    result = entry.judged
    return {
        "metric": result.metric,
        "score": round(float(result.score), 4),
        "n": int(result.n),
        "details": result.details,
        "protocol": "judge" if name in PROTOCOLS else "rules",
        **entry.judge_tally.as_dict(),
    }


def results_dict(scores: dict, errors: dict[str, str], judge: dict | None = None) -> dict:
    """``{"benchmarks": {name: {metric, score, n, ...}}, "average": mean score, "errors": {...}}``;
    with a judge also ``benchmarks[name]["judged"]``, ``"average_judged"`` and ``"judge"``."""
    benchmarks = {}
    for name in [b for b in BENCHMARKS if b in scores] + [b for b in scores if b not in BENCHMARKS]:
        entry = scores[name]
        result = entry.result
        benchmarks[name] = {
            "metric": result.metric,
            "score": round(float(result.score), 4),
            "n": int(result.n),
            "rows": entry.rows,
            "unanswered": entry.unanswered,
            "missing_rows": entry.missing_rows,
            "lower_bound": name in LLM_JUDGED,
            "details": result.details,
            "notes": entry.notes,
        }
        if entry.judged is not None:
            benchmarks[name]["judged"] = judged_entry(name, entry)
    averaged = average_names(list(benchmarks))
    results = {"benchmarks": benchmarks, "average": _mean([benchmarks[n]["score"] for n in averaged]), "averaged": averaged, "errors": dict(errors)}
    if judge is not None:
        results["average_judged"] = _mean([benchmarks[n]["judged"]["score"] for n in averaged if "judged" in benchmarks[n]])
        results["judge"] = judge
    return results


def average_names(names: list[str]) -> list[str]:
    """The benchmarks the average is over: those of the paper's ten in this run, so that it compares
    with the paper rows (MMMU has no paper number); all of them when none of the ten is here."""
    return [n for n in names if n in PAPER_BENCHMARKS] or list(names)


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.1f}"


def paper_average(model: str, names: list[str]) -> float | None:
    """A paper row's mean over the benchmarks of this run (its own 10-average if all ten are present)."""
    row = PAPER_TABLE2[model]
    if set(names) == set(PAPER_BENCHMARKS):
        return row["average"]
    values = [row[n] for n in names if n in row]
    return sum(values) / len(values) if values else None


def _judge_lines(judge: dict) -> list[str]:
    answered = judge["requests"] - judge["failed_requests"]
    return [
        f"Judge `{judge['model']}` at {judge['url']}: {judge['asked']} requests, {judge['cache_hits']} answered from the cache, "
        f"{answered} by the judge, {judge['failed_requests']} failed after up to {judge['retries']} retries each "
        f"({judge['http_attempts']} HTTP attempts in all). Rule-based and judged scores are side by side; each judged "
        "number says how many of its rows the judge decided, and a row whose request failed fell back to its rule verdict.",
        "",
    ]


def judged_cell(entry: dict) -> str:
    """A judged score marked with how it was reached: rows the judge decided out of all, and rows
    that fell back to rules after a failed request; ``(rules)`` where the protocol is rule-based."""
    judged = entry["judged"]
    if judged["protocol"] != "judge":
        return f"{_fmt(judged['score'])} (rules)"
    fell_back = f", {judged['failed']} fell back" if judged["failed"] else ""
    return f"{_fmt(judged['score'])} ({judged['judged']}/{entry['rows']} judged{fell_back})"


def _one_row_table(header: list[str], cells: list) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), "| " + " | ".join(str(c) for c in cells) + " |"]


def _benchmark_table(name: str, entry: dict, judged: dict | None) -> list[str]:
    """A benchmark's scores beside the paper's: rule-based only, or rule-based and judged."""
    paper = PAPER_TABLE2[REVISUAL_ROW].get(name)
    shown = entry if judged is None else judged
    delta = "–" if paper is None else f"{shown['score'] - paper:+.1f}"
    common = [entry["n"], entry["rows"], entry["unanswered"]]
    if judged is None:
        header = ["metric", "this run", "ReVisual-R1 (7B)", "Δ", "n", "rows", "no answer"]
        return _one_row_table(header, [entry["metric"], _fmt(entry["score"]), _fmt(paper), delta, *common])
    header = ["metric", "rules", "judged", "ReVisual-R1 (7B)", "Δ judged", "n", "rows", "no answer (rules)", "judged rows", "fell back to rules"]
    cells = [entry["metric"], _fmt(entry["score"]), _fmt(judged["score"]), _fmt(paper), delta, *common, judged["judged"], judged["failed"]]
    return _one_row_table(header, cells)


def render_markdown(results: dict, run_config: dict, title: str) -> str:
    """The summary table (this run above the paper's rows) and one small table per benchmark.

    With a judge, this run has two rows (rules, judged) and each benchmark table both scores."""
    names = list(results["benchmarks"])
    judge = results.get("judge")
    mark = {n: (" †" if n in LLM_JUDGED else "") for n in names}
    lines = [f"# Evaluation: {title}", ""]
    if run_config:
        sampling = run_config.get("sampling", {})
        lines += [
            f"Model `{run_config.get('model', '?')}`, backend `{run_config.get('backend', '?')}`, "
            f"temperature {sampling.get('temperature')}, top-p {sampling.get('top_p')}, max tokens {sampling.get('max_tokens')}.",
            "",
        ]
    if judge is not None:
        lines += _judge_lines(judge)
    if names:
        averaged = average_names(names)
        if set(averaged) == set(PAPER_BENCHMARKS):
            subset = "" if len(names) == len(averaged) else " of the paper's ten"
        else:
            subset = f" over these {len(averaged)}" if len(names) == len(averaged) else f" over {', '.join(DISPLAY_NAMES.get(n, n) for n in averaged)}"
        header = ["Model"] + [f"{DISPLAY_NAMES.get(n, n)}{mark[n]}" for n in names] + [f"Avg{subset}"]
        lines += ["## Beside the paper (Table 2)", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        ours = [_fmt(results["benchmarks"][n]["score"]) for n in names]
        if judge is None:
            lines.append("| **this run** | " + " | ".join(ours) + f" | **{_fmt(results['average'])}** |")
        else:
            judged = [judged_cell(results["benchmarks"][n]) for n in names]
            lines.append("| **this run, rules** | " + " | ".join(ours) + f" | **{_fmt(results['average'])}** |")
            lines.append(f"| **this run, judged** (`{judge['model']}`) | " + " | ".join(judged) + f" | **{_fmt(results['average_judged'])}** |")
        for model, row in PAPER_TABLE2.items():
            label = f"**{model}**" if model == REVISUAL_ROW else model
            lines.append(f"| {label} | " + " | ".join(_fmt(row.get(n)) for n in names) + f" | {_fmt(paper_average(model, averaged))} |")
        lines.append("")
        if any(mark.values()):
            if judge is None:
                lines += [
                    "† The standard protocol for this benchmark uses an LLM judge or extractor; this run is scored "
                    "by rules only, so its number is a **lower bound** on what the standard protocol would give.",
                    "",
                ]
            else:
                lines += [
                    "† The standard protocol for this benchmark uses an LLM judge or extractor: the *rules* row is a "
                    f"lower bound, the *judged* row follows the benchmark's protocol with `{judge['model']}` as the judge.",
                    "",
                ]
        lines += ["## Per benchmark", ""]
        for name in names:
            entry = results["benchmarks"][name]
            judged = entry.get("judged")
            lines += [f"### {DISPLAY_NAMES.get(name, name)}{mark[name]}", "", *_benchmark_table(name, entry, judged), ""]
            if name in LLM_JUDGED and judged is None:
                lines += [f"Rule-based score, a lower bound: {LLM_JUDGED[name]}.", ""]
            for key, value in entry["details"].items():
                lines.append(f"- {key}: {json.dumps(value)}")
            if judged is not None:
                lines.append(f"- judged by: {'the judge, per the benchmark protocol' if judged['protocol'] == 'judge' else 'rules (the official evaluator is rule-based)'}")
                for reason, count in judged["failure_reasons"].items():
                    lines.append(f"- judge failed on {count} rows (rule verdict kept): {reason}")
            for note in entry["notes"]:
                lines.append(f"- note: {note}")
            lines.append("")
    if results["errors"]:
        lines += ["## Not scored", ""] + [f"- **{name}**: {message}" for name, message in results["errors"].items()] + [""]
    return "\n".join(lines)


def write_results(run_dir: Path, scores: dict, errors: dict[str, str], run_config: dict, judge: dict | None = None) -> dict:
    """Write ``results.json`` and ``results.md`` into the run folder; returns the results dict."""
    results = results_dict(scores, errors, judge)
    run_dir = Path(run_dir)
    write_text_atomic(run_dir / "results.json", json.dumps(results, indent=2))
    write_text_atomic(run_dir / "results.md", render_markdown(results, run_config, run_dir.name))
    return results
