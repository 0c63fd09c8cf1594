"""Pure functions behind the demo's table: rollout tokens spent, accuracy gained, the cost of a point of
accuracy, seed statistics, and the Markdown table beside the paper's Table 4. No verl, no I/O."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

RESPONSE_LENGTH_KEY = "response_length/mean"
"""verl's per-step mean response length (generated tokens per rollout sequence, over the whole batch)."""
STAGNATION_KEYS = ("stagnation/zero_var_group_frac", "stagnation/all_correct_group_frac",
                   "stagnation/all_wrong_group_frac")
NO_GAIN = "n/a (no gain)"


def rollout_tokens(rows: Sequence[dict], sequences_per_step: int) -> float:
    """Generated rollout tokens over a run: per step ``response_length/mean`` x the sequences sampled that
    step (prompts x rollouts per prompt), summed over the steps that logged it.

    ``rows`` are metric rows as :func:`verl_ext.plot.load_metrics` returns them (``{"step": s, key: v}``).
    """
    if sequences_per_step < 1:
        raise ValueError(f"sequences_per_step must be >= 1, got {sequences_per_step}")
    return float(sum(row[RESPONSE_LENGTH_KEY] * sequences_per_step for row in rows if RESPONSE_LENGTH_KEY in row))


def gain_points(final_acc: float, base_acc: float) -> float:
    """Accuracy gained, in points (accuracies are fractions in [0, 1])."""
    return 100.0 * (final_acc - base_acc)


def tokens_per_point(tokens: float, final_acc: float, base_acc: float) -> float | None:
    """Rollout tokens spent per point of accuracy gained; None when nothing was gained (gain <= 0)."""
    gain = gain_points(final_acc, base_acc)
    return tokens / gain if gain > 0 else None


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n-1; 0 for a single value)."""
    if not values:
        raise ValueError("mean_std needs at least one value")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def step_metrics(rows: Sequence[dict], step: int, keys: Sequence[str] = STAGNATION_KEYS) -> dict:
    """The values of ``keys`` logged at ``step`` (keys not logged there are left out)."""
    for row in rows:
        if row.get("step") == step:
            return {key: row[key] for key in keys if key in row}
    return {}


def mean_of(rows: Sequence[dict], key: str) -> float | None:
    """Mean of ``key`` over the rows that logged it; None when none did (e.g. ``pad/*`` for the grpo arm)."""
    values = [row[key] for row in rows if key in row]
    return statistics.fmean(values) if values else None


def _pct(mean: float, std: float) -> str:
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def arm_summary(runs: Sequence[dict], base: Mapping[str, float]) -> dict:
    """One arm's numbers over its seeds. Each run has ``val`` (``greedy``/``sampled`` accuracy, fractions) and
    ``rollout_tokens``; ``base`` is the cold-start model's ``greedy``/``sampled`` accuracy. The token cost per
    point uses the seeds' mean tokens and mean sampled-accuracy gain."""
    if not runs:
        raise ValueError("arm_summary needs at least one run")
    greedy = mean_std([r["val"]["greedy"] for r in runs])
    sampled = mean_std([r["val"]["sampled"] for r in runs])
    tokens = statistics.fmean(r["rollout_tokens"] for r in runs)
    return {
        "seeds": len(runs),
        "greedy_mean": greedy[0], "greedy_std": greedy[1],
        "sampled_mean": sampled[0], "sampled_std": sampled[1],
        "sampled_gain_points": gain_points(sampled[0], base["sampled"]),
        "rollout_tokens_mean": tokens,
        "tokens_per_point": tokens_per_point(tokens, sampled[0], base["sampled"]),
    }


def format_table(arms: Mapping[str, dict], base: Mapping[str, float], paper: Mapping[str, tuple]) -> str:
    """The Markdown table: one row per arm (in ``arms`` order) with its validation accuracy over seeds, the
    paper's Table 4 row and number beside it, and the rollout tokens per point of sampled accuracy gained."""
    lines = [
        "| arm | paper row | paper Table 4 avg (%) | greedy val acc (%) | sampled val acc (%) "
        "| sampled gain (points) | rollout tokens | tokens per point gained | seeds |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| cold start (stage 1) | | | {100 * base['greedy']:.1f} | {100 * base['sampled']:.1f} | | | | |",
    ]
    for arm, s in arms.items():
        row_name, number = paper.get(arm, ("", None))
        cost = s["tokens_per_point"]
        cost_text = NO_GAIN if cost is None or not math.isfinite(cost) else f"{cost:,.0f}"
        lines.append(
            f"| {arm} | {row_name} | {'' if number is None else f'{number:.1f}'} "
            f"| {_pct(s['greedy_mean'], s['greedy_std'])} | {_pct(s['sampled_mean'], s['sampled_std'])} "
            f"| {s['sampled_gain_points']:+.1f} | {s['rollout_tokens_mean']:,.0f} | {cost_text} | {s['seeds']} |"
        )
    return "\n".join(lines) + "\n"


VAL_ACC_PREFIX, VAL_ACC_SUFFIX = "val-core/", "/acc/mean@1"
"""verl's in-training validation accuracy per data source: ``val-core/<source>/acc/mean@1``."""
STEP_TIME_KEY = "timing_s/step"


def val_accuracy_curve(rows: Sequence[dict], weights: Mapping[str, float]) -> list[tuple[int, float]]:
    """``(step, accuracy)`` at each in-training validation (``trainer.test_freq``): the per-source accuracies
    weighted by each source's share of the validation set (``weights``: data source -> item count)."""
    curve = []
    for row in rows:
        parts = {key[len(VAL_ACC_PREFIX):-len(VAL_ACC_SUFFIX)]: value for key, value in row.items()
                 if key.startswith(VAL_ACC_PREFIX) and key.endswith(VAL_ACC_SUFFIX)}
        if not parts:
            continue
        total = sum(weights.get(source, 0.0) for source in parts)
        if total <= 0:
            raise ValueError(f"no validation weight for the sources {sorted(parts)}")
        curve.append((row["step"], sum(weights.get(s, 0.0) * acc for s, acc in parts.items()) / total))
    return curve


def cost_to_reach(rows: Sequence[dict], curve: Sequence[tuple[int, float]], target: float,
                  sequences_per_step: int) -> dict | None:
    """Rollout tokens and training seconds spent up to the first validation at or above ``target``; None when
    the run never reached it."""
    reached = next((step for step, acc in curve if acc >= target - 1e-12), None)
    if reached is None:
        return None
    upto = [row for row in rows if row.get("step", 0) <= reached]
    return {"step": reached, "rollout_tokens": rollout_tokens(upto, sequences_per_step),
            "seconds": float(sum(row.get(STEP_TIME_KEY, 0.0) for row in upto))}
