"""results.json and results.md: the run's scores beside the paper's Table 2."""

from __future__ import annotations

import json
from pathlib import Path

from revisual_eval.paper import BENCHMARKS, DISPLAY_NAMES, LLM_JUDGED, PAPER_TABLE2, REVISUAL_ROW


def results_dict(scores: dict, errors: dict[str, str]) -> dict:
    """``{"benchmarks": {name: {metric, score, n, ...}}, "average": mean score, "errors": {...}}``."""
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
    values = [b["score"] for b in benchmarks.values()]
    average = round(sum(values) / len(values), 4) if values else 0.0
    return {"benchmarks": benchmarks, "average": average, "errors": dict(errors)}


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.1f}"


def paper_average(model: str, names: list[str]) -> float | None:
    """A paper row's mean over the benchmarks of this run (its own 10-average if all ten are present)."""
    row = PAPER_TABLE2[model]
    if set(names) == set(BENCHMARKS):
        return row["average"]
    values = [row[n] for n in names if n in row]
    return sum(values) / len(values) if values else None


def render_markdown(results: dict, run_config: dict, title: str) -> str:
    """The summary table (this run above the paper's rows) and one small table per benchmark."""
    names = list(results["benchmarks"])
    mark = {n: (" †" if n in LLM_JUDGED else "") for n in names}
    lines = [f"# Evaluation: {title}", ""]
    if run_config:
        sampling = run_config.get("sampling", {})
        lines += [
            f"Model `{run_config.get('model', '?')}`, backend `{run_config.get('backend', '?')}`, "
            f"temperature {sampling.get('temperature')}, top-p {sampling.get('top_p')}, max tokens {sampling.get('max_tokens')}.",
            "",
        ]
    if names:
        subset = "" if set(names) == set(BENCHMARKS) else f" over these {len(names)}"
        header = ["Model"] + [f"{DISPLAY_NAMES.get(n, n)}{mark[n]}" for n in names] + [f"Avg{subset}"]
        lines += ["## Beside the paper (Table 2)", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        ours = [_fmt(results["benchmarks"][n]["score"]) for n in names]
        lines.append("| **this run** | " + " | ".join(ours) + f" | **{_fmt(results['average'])}** |")
        for model, row in PAPER_TABLE2.items():
            label = f"**{model}**" if model == REVISUAL_ROW else model
            lines.append(f"| {label} | " + " | ".join(_fmt(row.get(n)) for n in names) + f" | {_fmt(paper_average(model, names))} |")
        lines.append("")
        if any(mark.values()):
            lines += [
                "† The standard protocol for this benchmark uses an LLM judge or extractor; this run is scored "
                "by rules only, so its number is a **lower bound** on what the standard protocol would give.",
                "",
            ]
        lines += ["## Per benchmark", ""]
        for name in names:
            entry = results["benchmarks"][name]
            paper = PAPER_TABLE2[REVISUAL_ROW].get(name)
            delta = None if paper is None else entry["score"] - paper
            lines += [
                f"### {DISPLAY_NAMES.get(name, name)}{mark[name]}",
                "",
                "| metric | this run | ReVisual-R1 (7B) | Δ | n | rows | no answer |",
                "|---|---|---|---|---|---|---|",
                f"| {entry['metric']} | {_fmt(entry['score'])} | {_fmt(paper)} | {'–' if delta is None else f'{delta:+.1f}'} "
                f"| {entry['n']} | {entry['rows']} | {entry['unanswered']} |",
                "",
            ]
            if name in LLM_JUDGED:
                lines += [f"Rule-based score, a lower bound: {LLM_JUDGED[name]}.", ""]
            for key, value in entry["details"].items():
                lines.append(f"- {key}: {json.dumps(value)}")
            for note in entry["notes"]:
                lines.append(f"- note: {note}")
            lines.append("")
    if results["errors"]:
        lines += ["## Not scored", ""] + [f"- **{name}**: {message}" for name, message in results["errors"].items()] + [""]
    return "\n".join(lines)


def write_results(run_dir: Path, scores: dict, errors: dict[str, str], run_config: dict) -> dict:
    """Write ``results.json`` and ``results.md`` into the run folder; returns the results dict."""
    results = results_dict(scores, errors)
    run_dir = Path(run_dir)
    (run_dir / "results.json").write_text(json.dumps(results, indent=2))
    (run_dir / "results.md").write_text(render_markdown(results, run_config, run_dir.name))
    return results
