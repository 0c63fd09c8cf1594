"""Benchmark metrics from per-row verdicts, as the paper's Table 2 reports them.

Each function takes the scored rows of one benchmark (dicts with ``id``, ``sample``, ``correct``
and ``reference``) and returns a :class:`MetricResult` with the score in percent. Metrics that
group rows (DynaMath seeds, WeMath composites) are computed per sample index and averaged, so
with several samples per item they are the mean over independent runs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class MetricResult:
    """Primary metric (name, score in 0-100, the number of units it averages over) and extras."""

    metric: str
    score: float
    n: int
    details: dict = field(default_factory=dict)


def _percent(value: float) -> float:
    return round(100.0 * value, 4)


def per_item_correct(rows: list[dict]) -> dict[str, list[bool]]:
    """Verdicts of each item, in sample order."""
    by_item: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    for row in rows:
        by_item[row["id"]].append((int(row["sample"]), bool(row["correct"])))
    return {item: [c for _, c in sorted(samples)] for item, samples in by_item.items()}


def by_sample(rows: list[dict]) -> dict[int, list[dict]]:
    """Rows split by sample index (one "run" each)."""
    runs: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        runs[int(row["sample"])].append(row)
    return dict(sorted(runs.items()))


def mean_accuracy(rows: list[dict]) -> MetricResult:
    """pass@1 (avg@k with k samples): each item's mean verdict, averaged over items."""
    items = per_item_correct(rows)
    if not items:
        return MetricResult("pass@1", 0.0, 0)
    k = max(len(v) for v in items.values())
    score = sum(sum(v) / len(v) for v in items.values()) / len(items)
    return MetricResult("pass@1" if k == 1 else f"avg@{k}", _percent(score), len(items), {"samples_per_item": k})


def aime_metrics(rows: list[dict]) -> MetricResult:
    """avg@k (the paper's "averaged over eight runs"), plus pass@k (any sample right)."""
    result = mean_accuracy(rows)
    items = per_item_correct(rows)
    k = result.details.get("samples_per_item", 0)
    result.metric = f"avg@{k}"
    if items:
        result.details[f"pass@{k}"] = _percent(sum(any(v) for v in items.values()) / len(items))
    return result


def mathverse_metrics(rows: list[dict]) -> MetricResult:
    """Accuracy over all versions, plus per-version accuracy (Vision Only among them)."""
    result = mean_accuracy(rows)
    versions: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        versions[row["reference"].get("problem_version", "?")].append(row)
    result.details["per_version"] = {name: mean_accuracy(group).score for name, group in sorted(versions.items())}
    return result


def dynamath_worst_case(rows: list[dict]) -> MetricResult:
    """Worst-case accuracy: share of seed questions answered right in every variant; also the
    average accuracy over all variant rows."""
    seeds_per_run, worst_per_run = [], []
    for run_rows in by_sample(rows).values():
        variants: dict[str, list[bool]] = defaultdict(list)
        for row in run_rows:
            variants[row["reference"]["seed_id"]].append(bool(row["correct"]))
        seeds_per_run.append(len(variants))
        worst_per_run.append(sum(all(v) for v in variants.values()) / max(len(variants), 1))
    if not worst_per_run:
        return MetricResult("worst-case", 0.0, 0)
    average = mean_accuracy(rows)
    return MetricResult(
        "worst-case",
        _percent(sum(worst_per_run) / len(worst_per_run)),
        max(seeds_per_run),
        {"average_accuracy": average.score, "rows": len(rows)},
    )


def wemath_counts(run_rows: list[dict]) -> dict[str, int]:
    """IK / IG / CM / RM counts (strict and loose) over the composite problems of one run.

    A problem is its one-step rows (keys not ending in ``multi``) plus its multi-step row.
    Problems missing either part are counted as ``incomplete`` and left out.
    """
    problems: dict[str, dict[str, list[bool]]] = defaultdict(lambda: {"subs": [], "multi": []})
    for row in run_rows:
        part = "multi" if str(row["reference"]["key"]).endswith("multi") else "subs"
        problems[row["reference"]["problem"]][part].append(bool(row["correct"]))
    counts = dict.fromkeys(["N", "IK", "IG", "CM_strict", "RM_strict", "CM_loose", "RM_loose", "incomplete"], 0)
    for parts in problems.values():
        if not parts["subs"] or len(parts["multi"]) != 1:
            counts["incomplete"] += 1
            continue
        all_subs, any_sub, multi = all(parts["subs"]), any(parts["subs"]), parts["multi"][0]
        counts["N"] += 1
        if multi:
            counts["CM_strict" if all_subs else "RM_strict"] += 1
            counts["CM_loose" if any_sub else "RM_loose"] += 1
        else:
            counts["IG" if all_subs else "IK"] += 1
    return counts


def wemath_scores(counts: dict[str, int]) -> dict[str, float]:
    """Score = (N - 0.5 IG - RM - IK) / N = (CM + 0.5 IG) / N, strict and loose, in percent."""
    n = counts["N"]
    if n == 0:
        return {"strict": 0.0, "loose": 0.0}
    return {
        "strict": _percent((counts["CM_strict"] + 0.5 * counts["IG"]) / n),
        "loose": _percent((counts["CM_loose"] + 0.5 * counts["IG"]) / n),
    }


def wemath_metrics(rows: list[dict]) -> MetricResult:
    """Score (strict) over composite problems, plus loose, the four counts and plain accuracy."""
    runs = [wemath_counts(run_rows) for run_rows in by_sample(rows).values()]
    if not runs:
        return MetricResult("score (strict)", 0.0, 0)
    scores = [wemath_scores(c) for c in runs]
    strict = sum(s["strict"] for s in scores) / len(scores)
    loose = sum(s["loose"] for s in scores) / len(scores)
    details = {"loose": round(loose, 4), "accuracy": mean_accuracy(rows).score, "counts": runs[0] if len(runs) == 1 else runs}
    return MetricResult("score (strict)", round(strict, 4), runs[0]["N"], details)


METRICS: dict[str, Callable[[list[dict]], MetricResult]] = {
    "mathverse": mathverse_metrics,
    "mathvision": mean_accuracy,
    "mathvista": mean_accuracy,
    "dynamath": dynamath_worst_case,
    "wemath": wemath_metrics,
    "logicvista": mean_accuracy,
    "aime24": aime_metrics,
    "aime25": aime_metrics,
    "gpqa_diamond": mean_accuracy,
    "math500": mean_accuracy,
    "mmmu": mean_accuracy,
}
