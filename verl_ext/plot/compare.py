"""Training arms side by side over seeds, like the paper's Fig. 3: per arm the mean over seeds of a
metric at each step, with a band for the seed spread; one panel per metric (by default training
accuracy and the zero-variance (stagnant) group fraction)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from verl_ext.plot.dashboard import save_png
from verl_ext.plot.metrics import series

DEFAULT_METRICS = ("reward/acc/mean", "stagnation/zero_var_group_frac")
SPREADS = {"minmax": "band: min-max over seeds", "std": "band: mean +- 1 std over seeds (n-1)"}
# Fixed colours for the arms of algorithm.pad.variant, so every figure of the experiment agrees.
ARM_COLORS = {"grpo": "C0", "filter": "C1", "random": "C2", "pad": "C3", "official": "C4"}


@dataclass(frozen=True)
class SeedBand:
    """One arm's curve of one metric over its seeds."""

    steps: tuple[int, ...]
    """Every step at which at least one seed logged the metric."""
    mean: tuple[float, ...]
    """Mean over the seeds that logged the metric at that step."""
    low: tuple[float, ...]
    """Lower edge of the band at that step."""
    high: tuple[float, ...]
    """Upper edge of the band at that step."""
    seeds: int
    """How many seeds logged the metric at all."""


def seed_band(seed_rows: Sequence[Sequence[dict]], key: str, spread: str = "minmax") -> SeedBand:
    """Mean and spread of ``key`` over seeds, step by step. A step counts the seeds that logged a
    finite value there; ``spread`` is ``minmax`` or ``std`` (sample std, 0 for a single seed)."""
    if spread not in SPREADS:
        raise ValueError(f"spread must be one of {sorted(SPREADS)}, got {spread!r}")
    by_step: dict[int, list[float]] = {}
    seeds = 0
    for rows in seed_rows:
        steps, values = series(list(rows), key)
        finite = [(s, v) for s, v in zip(steps, values) if math.isfinite(v)]
        seeds += bool(finite)
        for step, value in finite:
            by_step.setdefault(step, []).append(value)
    steps = sorted(by_step)
    mean = [statistics.fmean(by_step[s]) for s in steps]
    if spread == "minmax":
        low = [min(by_step[s]) for s in steps]
        high = [max(by_step[s]) for s in steps]
    else:
        std = [statistics.stdev(by_step[s]) if len(by_step[s]) > 1 else 0.0 for s in steps]
        low = [m - d for m, d in zip(mean, std)]
        high = [m + d for m, d in zip(mean, std)]
    return SeedBand(tuple(steps), tuple(mean), tuple(low), tuple(high), seeds)


def plot_arm_comparison(
    runs: Mapping[str, Sequence[Sequence[dict]]],
    out_png: Path,
    metrics: str | Sequence[str] = DEFAULT_METRICS,
    spread: str = "minmax",
    title: str | None = None,
) -> Path:
    """Draw ``runs`` (arm name -> one list of metric rows per seed, e.g. from
    :func:`verl_ext.plot.load_metrics`) into ``out_png``, one panel per metric key, and return the path."""
    if not runs:
        raise ValueError("runs is empty: give at least one arm with its seeds' metric rows")
    if spread not in SPREADS:
        raise ValueError(f"spread must be one of {sorted(SPREADS)}, got {spread!r}")
    keys = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    if not keys:
        raise ValueError("metrics is empty: name at least one metric key")
    fig = Figure(figsize=(6.5 * len(keys), 4.4), layout="constrained")
    axes = fig.subplots(1, len(keys), squeeze=False).ravel()
    extra_colors = iter(f"C{i}" for i in range(len(ARM_COLORS), 100))
    colors = {arm: ARM_COLORS.get(arm) or next(extra_colors) for arm in runs}
    for ax, key in zip(axes, keys):
        for arm, seed_rows in runs.items():
            band = seed_band(seed_rows, key, spread)
            if not band.steps:
                ax.plot([], [], color=colors[arm], label=f"{arm}: not logged")
                continue
            ax.plot(band.steps, band.mean, color=colors[arm], linewidth=1.6,
                    label=f"{arm} (mean of {band.seeds} seed{'s' * (band.seeds != 1)})")
            ax.fill_between(band.steps, band.low, band.high, color=colors[arm], alpha=0.18, linewidth=0)
        ax.set_title(key, fontsize=10)
        ax.set_xlabel("training step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(title=SPREADS[spread], fontsize=8, title_fontsize=8, loc="best")
    if title:
        fig.suptitle(title, fontsize=11)
    return save_png(fig, out_png)
