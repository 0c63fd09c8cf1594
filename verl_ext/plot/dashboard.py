"""One PNG dashboard per stage, drawn from the stage's metrics JSONL.

An RL stage gets fixed panels: reward and accuracy, every logged reward term, zero-variance groups,
the effective-token share, PAD's counts and tau, the entropy bonus, response length. A panel none of
whose keys a run logged is left out (the heading says which); a key missing from a drawn panel is named
in it as "not logged"; nothing fails on it. Any other stage (the SFT cold start) gets one panel per
metric name, ``train/loss`` and ``val/loss`` sharing the "loss" panel; one whose values are all zero
(GPU memory on a CPU run) is left out.

Read at a glance: a noisy curve is drawn thin with a moving average over it; a curve equal to one
drawn before it in the same panel gets hollow markers and a dashed line so that neither hides the
other; legends sit below their panel, outside the data; titles hold no paths.

Figures are built on matplotlib's object API with the Agg canvas: no pyplot state, no display.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from verl_ext.names import AT_LIMIT_KEY
from verl_ext.plot.metrics import find_stage_metrics, join_launches, launch_starts, read_launches, series


@dataclass(frozen=True)
class Panel:
    """What one panel of a dashboard draws."""

    title: str
    """The panel's heading."""
    left: tuple[str, ...]
    """Metric keys drawn as lines on the left axis."""
    right: tuple[str, ...] = ()
    """Metric keys drawn as dashed lines on a second axis (a different scale)."""
    prefixes: tuple[str, ...] = ()
    """Every logged key starting with one of these is drawn on the left axis too (validation curves)."""
    suffix: str = ""
    """With ``prefixes``: only the keys ending with this (``/mean`` of each reward term)."""
    flags: tuple[str, ...] = ()
    """0/1 keys, drawn as shading over the steps where they are 1."""
    ylabel: str = ""
    """Left axis label."""
    right_ylabel: str = ""
    """Second axis label."""
    optional: tuple[str, ...] = ()
    """Keys of this panel that are extras: not named as "not logged" when absent."""
    fraction: bool = False
    """The left axis is a share in [0, 1]: fix its range so a flat 0 or 1 reads as such."""

    def keys(self) -> tuple[str, ...]:
        return self.left + self.right + self.flags

    def prefixed_keys(self, logged) -> list[str]:
        """The ``logged`` keys this panel draws through ``prefixes`` and ``suffix``, sorted."""
        if not self.prefixes:
            return []
        return sorted(key for key in logged if key.startswith(self.prefixes) and key.endswith(self.suffix))


RL_PANELS = (
    Panel(
        "reward and accuracy",
        left=("critic/score/mean", "reward/acc/mean"),
        prefixes=("val-core/",),
        ylabel="mean over rollouts",
    ),
    Panel(
        "reward terms (mean per rollout)",
        left=(),
        prefixes=("reward/term/",),
        suffix="/mean",
        ylabel="term value",
    ),
    Panel(
        "zero-variance groups",
        left=("stagnation/zero_var_group_frac", "stagnation/all_correct_group_frac", "stagnation/all_wrong_group_frac"),
        ylabel="fraction of groups",
        fraction=True,
    ),
    Panel(
        "effective tokens",
        left=("stagnation/effective_token_frac",),
        right=("stagnation/dropped_tokens_cum",),
        ylabel="share of response tokens",
        fraction=True,
        right_ylabel="dropped tokens (cumulative)",
    ),
    Panel(
        "PAD: kept and selected sequences, tau",
        left=("pad/num_effective", "pad/num_selected"),
        right=("pad/tau",),
        flags=("pad/prioritised",),
        ylabel="sequences",
        right_ylabel="tau",
    ),
    Panel(
        "entropy bonus",
        left=("actor/entropy_coeff",),
        right=("actor/entropy",),
        ylabel="coefficient",
        right_ylabel="entropy",
        optional=("actor/entropy",),
    ),
    Panel(
        "response length",
        left=("response_length/mean",),
        right=(AT_LIMIT_KEY,),
        ylabel="tokens",
        right_ylabel="share cut at the limit",
    ),
)

# Panels of a non-RL stage, by the last part of the metric name: these first, the rest alphabetically.
GENERIC_FIRST = ("loss", "lr", "grad_norm")
MAX_GENERIC_PANELS = 12
MARKERS_UP_TO = 40  # points per curve; with more, markers only clutter the line
MARKERS = ("o", "s", "^", "D", "v", "P", "X")  # one shape per curve of a panel: lines that cross stay apart
SMOOTH_FROM = 6  # points; a shorter curve is read as it is
BOUNDARY_STYLE = {"color": "0.35", "linewidth": 0.8, "linestyle": ":"}


def is_rl(rows: list[dict]) -> bool:
    """Whether any row carries a key of the RL panels."""
    keys = {key for panel in RL_PANELS for key in panel.keys()}
    return any(keys.intersection(row) for row in rows)


def generic_panels(rows: list[dict]) -> tuple[list[Panel], int]:
    """One panel per metric name (the part after the last ``/``), and how many names did not fit."""
    groups: dict[str, list[str]] = {}
    for key in sorted({key for row in rows for key in row if key != "step"}):
        groups.setdefault(key.rsplit("/", 1)[-1], []).append(key)
    rank = {name: i for i, name in enumerate(GENERIC_FIRST)}
    order = sorted(groups, key=lambda name: (rank.get(name, len(rank)), name))
    panels = [Panel(name, left=tuple(groups[name]), ylabel=name) for name in order if not _all_zero(rows, groups[name])]
    return panels[:MAX_GENERIC_PANELS], max(0, len(panels) - MAX_GENERIC_PANELS)


def _all_zero(rows: list[dict], keys: list[str]) -> bool:
    """Whether every logged value of ``keys`` is 0 (a GPU-only metric on a CPU run)."""
    values = [v for key in keys for v in series(rows, key)[1]]
    return bool(values) and all(v == 0 for v in values)


def has_data(panel: Panel, rows: list[dict]) -> bool:
    """Whether the rows hold any key the panel draws."""
    logged = {key for row in rows for key in row}
    return any(key in logged for key in panel.keys()) or bool(panel.prefixed_keys(logged))


def moving_average(values: list[float], window: int) -> list[float]:
    """The mean of the last ``window`` values at each point (fewer at the start); NaNs are skipped."""
    out = []
    for i in range(len(values)):
        part = [v for v in values[max(0, i - window + 1):i + 1] if v == v]
        out.append(sum(part) / len(part) if part else float("nan"))
    return out


def is_noisy(values: list[float]) -> bool:
    """Whether a curve zig-zags: at least ``SMOOTH_FROM`` points and its direction flips on a third of
    the steps or more (a schedule or a count that only climbs is not smoothed)."""
    finite = [v for v in values if v == v]
    if len(finite) < SMOOTH_FROM:
        return False
    moves = [b - a for a, b in zip(finite, finite[1:]) if b != a]
    flips = sum(1 for a, b in zip(moves, moves[1:]) if (a > 0) != (b > 0))
    return flips >= len(finite) / 3


def _plot(ax, rows: list[dict], key: str, color, dashed: bool = False, index: int = 0,
          drawn: dict | None = None) -> None:
    """One curve: its own marker shape; thin under a moving average when noisy; hollow markers and
    dashes when it equals a curve drawn before it in ``drawn`` (``{(steps, values): key}``)."""
    steps, values = series(rows, key)
    marker = MARKERS[index % len(MARKERS)] if len(steps) <= MARKERS_UP_TO else None
    same = drawn.get((tuple(steps), tuple(values))) if drawn is not None else None
    if drawn is not None:
        drawn.setdefault((tuple(steps), tuple(values)), key)
    # A copy of a curve already drawn is not smoothed again: its average would cover the first one's.
    noisy = is_noisy(values) and same is None
    style = {"color": color, "marker": marker, "markersize": 3, "linestyle": "--" if dashed else "-",
             "linewidth": 1.4}
    label = key
    if same is not None:
        label = f"{key} (same as {same})"
        style.update(marker=marker or "o", markersize=7, markerfacecolor="none", linestyle=(0, (4, 3)))
    if noisy:
        style.update(alpha=0.35, linewidth=0.9)
    ax.plot(steps, values, label=label, **style)
    if noisy:
        window = max(3, len(values) // 8)
        ax.plot(steps, moving_average(values, window), label=f"{key}, mean of {window}", color=color,
                linestyle="--" if dashed else "-", linewidth=2.2)


def draw_panel(ax, panel: Panel, rows: list[dict], boundaries: list[int]) -> None:
    """Draw one panel on ``ax``; keys the rows lack are listed as not logged."""
    logged = {key for row in rows for key in row}
    left = [key for key in panel.left if key in logged] + panel.prefixed_keys(logged)
    right = [key for key in panel.right if key in logged]
    flags = [key for key in panel.flags if key in logged]
    missing = [key for key in panel.keys() if key not in logged and key not in panel.optional]
    ax.set_title(panel.title, fontsize=10)
    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if not (left or right or flags):
        ax.text(0.5, 0.5, "not logged:\n" + "\n".join(missing), transform=ax.transAxes,
                ha="center", va="center", color="0.4", fontsize=9)
        ax.set_yticks([])
        return
    colors = iter(f"C{i}" for i in range(100))
    drawn: dict = {}
    for index, key in enumerate(left):
        _plot(ax, rows, key, next(colors), index=index, drawn=drawn)
    ax.set_ylabel(panel.ylabel or panel.title)
    if panel.fraction:
        ax.set_ylim(-0.03, 1.03)
    handles, labels = ax.get_legend_handles_labels()
    if right:
        twin = ax.twinx()
        for index, key in enumerate(right, start=len(left)):
            _plot(twin, rows, key, next(colors), dashed=True, index=index)
        twin.set_ylabel(panel.right_ylabel)
        more_handles, more_labels = twin.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    for key in flags:
        color = next(colors)
        steps, values = series(rows, key)
        for step, value in zip(steps, values):
            if value >= 0.5:
                ax.axvspan(step - 0.5, step + 0.5, color=color, alpha=0.15, linewidth=0)
        handles.append(Patch(color=color, alpha=0.3))
        labels.append(f"{key} = 1 (shaded)")
    for step in boundaries:
        ax.axvline(step, **BOUNDARY_STYLE)
    # Below the panel, outside the data (constrained layout makes room for it), with the keys not logged.
    legend = ax.legend(handles, labels, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2,
                       frameon=False, title=("not logged: " + ", ".join(missing)) if missing else None,
                       title_fontsize=7)
    if missing:
        legend.get_title().set_color("0.4")


def save_png(fig: Figure, out_png: Path) -> Path:
    """Write the figure atomically: a temporary sibling, then a rename."""
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_png.with_name(f".{out_png.name}.{os.getpid()}.tmp")
    FigureCanvasAgg(fig)
    fig.savefig(tmp, format="png", dpi=100)
    os.replace(tmp, out_png)
    return out_png


def draw_dashboard(stage: str, metrics_dir: Path, out_png: Path) -> Path:
    """The dashboard of one stage's metrics folder, written to ``out_png``."""
    return save_png(build_dashboard(stage, metrics_dir), out_png)


def build_dashboard(stage: str, metrics_dir: Path) -> Figure:
    """The dashboard figure of one stage's metrics folder."""
    launches = read_launches(metrics_dir)
    rows = join_launches(launches)
    boundaries = launch_starts(launches)
    empty: list[str] = []
    if is_rl(rows):
        panels = [panel for panel in RL_PANELS if has_data(panel, rows)]
        empty = [panel.title for panel in RL_PANELS if panel not in panels]
        left_out = 0
    else:
        panels, left_out = generic_panels(rows)
    ncols = 2 if len(panels) <= 6 else 3
    nrows = max(1, -(-len(panels) // ncols))
    fig = Figure(figsize=(6.5 * ncols, 4.2 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, panel in zip(axes, panels):
        draw_panel(ax, panel, rows, boundaries)
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    if rows:
        plural = "es" * (len(launches) != 1)
        heading = f"{stage}: steps {rows[0]['step']}-{rows[-1]['step']}, {len(launches)} launch{plural}"
        if boundaries:
            heading += "; dotted lines: resumed at step " + ", ".join(map(str, boundaries))
        if left_out:
            heading += f"; {left_out} more metric names not drawn"
        if empty:
            heading += "\nnot logged by this run, left out: " + ", ".join(empty)
    else:
        heading = f"{stage}: no metrics logged yet"
        axes[0].text(0.5, 0.5, "no metrics logged yet", transform=axes[0].transAxes, ha="center")
    # The stage's name, not its folder: a path in a title is a machine's, not the reader's.
    fig.suptitle(heading, fontsize=11)
    return fig


def write_dashboards(run_dir: Path, out_dir: Path | None = None) -> list[Path]:
    """One ``<stage>.png`` per stage found under ``run_dir`` (see :func:`find_stage_metrics`), in
    ``out_dir`` (default: ``dashboards/`` in the run, or in the stage folder of a metrics folder)."""
    run_dir = Path(run_dir)
    stages = find_stage_metrics(run_dir)
    if out_dir is None:
        is_metrics_folder = stages[0][1] == run_dir and run_dir.name == "metrics"
        root = run_dir.parent if is_metrics_folder else run_dir
        out_dir = root / "dashboards"
    return [draw_dashboard(name, metrics_dir, Path(out_dir) / f"{name}.png") for name, metrics_dir in stages]
