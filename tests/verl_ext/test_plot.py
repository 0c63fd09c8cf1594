"""Dashboards and arm comparisons from metrics JSONL written here by hand (no Ray, no training)."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure
from PIL import Image

from verl_ext.plot import find_stage_metrics, load_metrics, plot_arm_comparison, seed_band, write_dashboards
from verl_ext.plot.__main__ import main
from verl_ext.plot.dashboard import RL_PANELS, draw_panel
from verl_ext.plot.metrics import Launch, join_launches, launch_starts, parse_launch, read_launches

REPO = Path(__file__).resolve().parents[2]


def write_jsonl(path: Path, records: list[tuple[int, dict]], torn_tail: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps({"step": step, "data": data}) + "\n" for step, data in records)
    path.write_text(lines + torn_tail)
    return path


def rl(score, acc, zero_var, **extra):
    return {"critic/score/mean": score, "reward/acc/mean": acc, "stagnation/zero_var_group_frac": zero_var, **extra}


def write_resumed_stage(stage_dir: Path) -> None:
    """Launch A logs steps 1-3 and is killed writing step 4; launch B resumes from the step-2
    checkpoint: it validates at step 2, redoes step 3 (without the zero-variance key) and logs step 4
    in two lines (training, then validation). B's name sorts before A's, its stamp after."""
    write_jsonl(
        stage_dir / "metrics" / "stage2_mrl-20260101-100000.jsonl",
        [(1, rl(0.1, 0.0, 0.5, **{"pad/tau": 1.0})), (2, rl(0.2, 0.25, 0.5)), (3, rl(0.3, 0.25, 0.75))],
        torn_tail='{"step": 4, "data": {"critic/sc',
    )
    write_jsonl(
        stage_dir / "metrics" / "a_renamed-20260101-110000.jsonl",
        [
            (2, {"val-core/synth/acc/mean@1": 0.5}),
            (3, {"critic/score/mean": 0.35, "reward/acc/mean": 0.5, "pad/prioritised": 1}),
            (4, rl(0.4, 0.75, 0.25)),
            (4, {"val-core/synth/acc/mean@1": 0.75}),
        ],
    )


def write_sft_stage(stage_dir: Path) -> None:
    write_jsonl(
        stage_dir / "metrics" / "stage1_cold_start-20260101-090000.jsonl",
        [
            (1, {"train/loss": 0.9, "train/lr": 1e-3, "train/grad_norm": 1.5}),
            (2, {"train/loss": 0.5, "train/lr": 5e-4, "train/grad_norm": 1.0}),
            (2, {"val/loss": 0.7}),
        ],
    )


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
    assert 600 <= width <= 4000 and 300 <= height <= 3000, (width, height)


# ----------------------------------------------------------------------------- loading
def test_resumed_launches_join_by_stamp_and_later_values_win(tmp_path):
    write_resumed_stage(tmp_path)
    rows = load_metrics(tmp_path / "metrics")
    assert rows == [
        {"step": 1, **rl(0.1, 0.0, 0.5, **{"pad/tau": 1.0})},
        {"step": 2, **rl(0.2, 0.25, 0.5), "val-core/synth/acc/mean@1": 0.5},
        # B redid step 3 without the zero-variance key: A's value of that key survives.
        {"step": 3, "critic/score/mean": 0.35, "reward/acc/mean": 0.5, "stagnation/zero_var_group_frac": 0.75,
         "pad/prioritised": 1.0},
        {"step": 4, **rl(0.4, 0.75, 0.25), "val-core/synth/acc/mean@1": 0.75},
    ]
    launches = read_launches(tmp_path / "metrics")
    assert [launch.path.name[:3] for launch in launches] == ["sta", "a_r"]
    assert launch_starts(launches) == [2]


def test_torn_last_line_is_ignored_but_a_bad_line_inside_is_an_error(tmp_path):
    good = write_jsonl(tmp_path / "live.jsonl", [(1, {"a": 1}), (2, {"a": 2})], torn_tail='{"step": 3, "da')
    assert [step for step, _ in parse_launch(good).records] == [1, 2]
    # A complete last record that only lacks its newline is kept.
    whole = write_jsonl(tmp_path / "whole.jsonl", [(1, {"a": 1})], torn_tail='{"step": 2, "data": {"a": 5}}')
    assert parse_launch(whole).records == ((1, {"a": 1.0}), (2, {"a": 5.0}))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"step": 1, "data": {}}\n{"step": 2, "da\n{"step": 3, "data": {}}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl, line 2: not JSON"):
        parse_launch(bad)
    no_step = tmp_path / "no_step.jsonl"
    no_step.write_text('{"data": {}}\n{"step": 2, "data": {}}\n')
    with pytest.raises(ValueError, match=r"no_step.jsonl, line 1: field 'step'"):
        parse_launch(no_step)


def test_null_reads_as_nan_and_non_numbers_are_dropped(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [(1, {"x": None, "name": "abc", "vec": [1, 2], "n": 3})])
    (step, data), = parse_launch(path).records
    assert step == 1 and set(data) == {"x", "n"} and math.isnan(data["x"]) and data["n"] == 3.0


launch_records = st.lists(
    st.tuples(st.integers(0, 5), st.dictionaries(st.sampled_from("abc"), st.integers(-9, 9), max_size=3)), max_size=6
)


@settings(max_examples=60, deadline=None)
@given(st.lists(launch_records, max_size=4))
def test_each_value_is_the_last_one_written_for_its_step_and_key(records_per_launch):
    launches = [Launch(Path(f"l{i}.jsonl"), tuple(records)) for i, records in enumerate(records_per_launch)]
    rows = join_launches(launches)
    written = [(step, data) for records in records_per_launch for step, data in records]
    assert [row["step"] for row in rows] == sorted({step for step, _ in written})
    for row in rows:
        for key in "abc":
            history = [data[key] for step, data in written if step == row["step"] and key in data]
            assert row.get(key) == (history[-1] if history else None)


def test_find_stage_metrics_accepts_run_stage_and_metrics_folders(tmp_path):
    write_sft_stage(tmp_path / "run" / "stage1_cold_start")
    write_resumed_stage(tmp_path / "run" / "stage2_mrl")
    (tmp_path / "run" / "logs").mkdir()
    run = tmp_path / "run"
    assert find_stage_metrics(run) == [
        ("stage1_cold_start", run / "stage1_cold_start" / "metrics"),
        ("stage2_mrl", run / "stage2_mrl" / "metrics"),
    ]
    assert find_stage_metrics(run / "stage2_mrl") == [("stage2_mrl", run / "stage2_mrl" / "metrics")]
    assert find_stage_metrics(run / "stage2_mrl" / "metrics") == [("stage2_mrl", run / "stage2_mrl" / "metrics")]
    with pytest.raises(FileNotFoundError, match="no metrics under"):
        find_stage_metrics(run / "logs")


# ----------------------------------------------------------------------------- dashboards
def rl_panel(title: str):
    (found,) = [p for p in RL_PANELS if p.title == title]
    return found


def test_panel_names_the_keys_a_run_did_not_log():
    rows = [{"step": 1, "critic/score/mean": 0.5, "stagnation/zero_var_group_frac": 0.25}]
    fig = Figure()
    axes = fig.subplots(1, 3)
    zero_var, effective, pad = (rl_panel(t) for t in ("zero-variance groups", "effective tokens",
                                                     "PAD: kept and selected sequences, tau"))
    for ax, panel in zip(axes, (zero_var, effective, pad)):
        draw_panel(ax, panel, rows, boundaries=[])
    assert [line.get_label() for line in axes[0].lines] == ["stagnation/zero_var_group_frac"]
    assert axes[0].get_legend().get_title().get_text() == (
        "not logged: stagnation/all_correct_group_frac, stagnation/all_wrong_group_frac"
    )
    assert len(axes[1].lines) == 0 and axes[1].texts[0].get_text() == (
        "not logged:\nstagnation/effective_token_frac\nstagnation/dropped_tokens_cum"
    )
    assert axes[2].texts[0].get_text().startswith("not logged:\npad/num_effective\npad/num_selected\npad/tau")


def test_launch_boundaries_and_prioritised_steps_are_drawn(tmp_path):
    write_resumed_stage(tmp_path)
    rows = load_metrics(tmp_path / "metrics")
    fig = Figure()
    ax = fig.subplots()
    draw_panel(ax, rl_panel("PAD: kept and selected sequences, tau"), rows, boundaries=[3])
    vertical = [line for line in ax.lines if list(line.get_xdata()) == [3, 3]]
    assert len(vertical) == 1
    shaded = [patch.get_x() for patch in ax.patches]
    assert shaded == [2.5]  # pad/prioritised is 1 at step 3 only
    ax = fig.subplots()
    draw_panel(ax, rl_panel("reward and accuracy"), rows, boundaries=[])
    curves = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in ax.lines}
    assert curves["val-core/synth/acc/mean@1"] == ([2, 4], [0.5, 0.75])
    assert curves["critic/score/mean"] == ([1, 2, 3, 4], [0.1, 0.2, 0.35, 0.4])


def test_write_dashboards_draws_every_stage_of_a_run_even_a_live_or_empty_one(tmp_path):
    run = tmp_path / "run"
    write_sft_stage(run / "stage1_cold_start")
    write_resumed_stage(run / "stage2_mrl")
    write_jsonl(run / "stage3_trl" / "metrics" / "stage3_trl-20260101-120000.jsonl",
                [(1, {"response_length/mean": 12.0})], torn_tail='{"step": 2')
    (run / "stage4_new" / "metrics").mkdir(parents=True)
    paths = write_dashboards(run)
    assert paths == [run / "dashboards" / f"{name}.png" for name in
                     ("stage1_cold_start", "stage2_mrl", "stage3_trl", "stage4_new")]
    for path in paths:
        assert_png(path)
    assert not [p for p in (run / "dashboards").iterdir() if p.suffix != ".png"]  # no temporary files left
    assert write_dashboards(run / "stage2_mrl" / "metrics") == [run / "stage2_mrl" / "dashboards" / "stage2_mrl.png"]


def test_cli_prints_the_dashboards_it_wrote_and_fails_cleanly(tmp_path, capsys):
    run = tmp_path / "run"
    write_sft_stage(run / "stage1_cold_start")
    write_resumed_stage(run / "stage2_mrl")
    out = tmp_path / "pngs"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "verl_ext.plot", str(run), "--out", str(out)],
                          capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(out / "stage1_cold_start.png"), str(out / "stage2_mrl.png")]
    assert main([str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def noisy_rl_run(metrics_dir: Path) -> None:
    """40 steps of an RL stage: a zig-zag reward, accuracy equal to the score (no length term), a custom
    reward term beside accuracy, GPU memory at 0 (a CPU run); no PAD or entropy keys."""
    rows = []
    for step in range(1, 41):
        score = 0.3 + 0.005 * step + (0.1 if step % 2 else -0.1)
        rows.append((step, {"critic/score/mean": score, "reward/acc/mean": score,
                            "reward/term/accuracy/mean": score, "reward/term/my_brevity/mean": 0.5 - 0.002 * step,
                            "reward/term/my_brevity/max": 1.0, "response_length/mean": 20.0 + step % 3,
                            "stagnation/zero_var_group_frac": 0.25}))
    write_jsonl(metrics_dir / "stage3_trl-20260101-120000.jsonl", rows)


def test_a_dashboard_reads_at_a_glance(tmp_path):
    from verl_ext.plot.dashboard import build_dashboard

    noisy_rl_run(tmp_path / "metrics")
    fig = build_dashboard("stage3_trl", tmp_path / "metrics")
    axes = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    # Panels nothing was logged for (PAD, entropy bonus) are left out, and the heading says so.
    assert "PAD: kept and selected sequences, tau" not in axes and "entropy bonus" not in axes
    assert "left out: effective tokens, PAD: kept and selected sequences, tau, entropy bonus" in fig.get_suptitle()
    # No machine path in any title; every drawn axis says what it shows.
    assert "/" not in fig.get_suptitle() and not [t for t in axes if "/" in t]
    for title, ax in axes.items():
        assert ax.get_xlabel() == "step" and ax.get_ylabel(), title
    # Every logged reward term is drawn (the mean of each), the custom one included.
    terms = [line.get_label() for line in axes["reward terms (mean per rollout)"].lines]
    assert {"reward/term/accuracy/mean", "reward/term/my_brevity/mean"} <= set(terms)
    assert not [t for t in terms if t.endswith("/max")]
    reward = axes["reward and accuracy"]
    labels = [line.get_label() for line in reward.lines]
    # A noisy curve gets a moving average over it; the raw one stays, fainter.
    assert "critic/score/mean, mean of 5" in labels
    (raw,) = [line for line in reward.lines if line.get_label() == "critic/score/mean"]
    assert raw.get_alpha() < 1
    # Accuracy equals the score here: it is drawn so that both stay visible, and says so.
    (same,) = [line for line in reward.lines if line.get_label().startswith("reward/acc/mean (same as")]
    assert same.get_markerfacecolor() == "none" and same.get_linestyle() != raw.get_linestyle()
    # Legends sit outside the data: below the axes.
    fig.canvas.draw() if fig.canvas else None
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    for title, ax in axes.items():
        legend = ax.get_legend()
        assert legend is not None, title
        assert legend.get_window_extent(renderer).y1 <= ax.get_window_extent(renderer).y0, title


def test_the_sft_dashboard_leaves_out_panels_that_are_zero_on_a_cpu(tmp_path):
    from verl_ext.plot.dashboard import build_dashboard

    write_jsonl(tmp_path / "metrics" / "stage1_cold_start-20260101-090000.jsonl",
                [(step, {"train/loss": 1.0 / step, "train/lr": 1e-3, "perf/max_memory_allocated_gb": 0.0,
                         "perf/max_memory_reserved_gb": 0.0}) for step in range(1, 5)])
    fig = build_dashboard("stage1_cold_start", tmp_path / "metrics")
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert sorted(ax.get_title() for ax in titled) == ["loss", "lr"]
    assert all(ax.get_ylabel() and ax.get_xlabel() == "step" for ax in titled)


def test_plotting_imports_neither_verl_nor_torch():
    code = "import sys, verl_ext.plot; print(sorted(m for m in sys.modules if m.split('.')[0] in ('verl', 'torch')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- arms over seeds
SEEDS = [
    [{"step": 1, "acc": 0.0}, {"step": 2, "acc": 0.5}],
    [{"step": 1, "acc": 1.0}, {"step": 2, "acc": 0.5}],
    [{"step": 1, "acc": 0.5}, {"step": 2, "other": 1.0}],
    [{"step": 1, "other": 1.0}],
]


def test_seed_band_min_max_and_std():
    band = seed_band(SEEDS, "acc")
    assert band.steps == (1, 2) and band.seeds == 3
    assert band.mean == (0.5, 0.5) and band.low == (0.0, 0.5) and band.high == (1.0, 0.5)
    band = seed_band(SEEDS, "acc", spread="std")  # sample std of (0, 1, 0.5) is 0.5; of (0.5, 0.5) is 0
    assert band.low == (0.0, 0.5) and band.high == (1.0, 0.5)
    assert seed_band([[{"step": 3, "acc": 0.25}]], "acc", spread="std").low == (0.25,)
    assert seed_band(SEEDS, "missing").steps == ()
    with pytest.raises(ValueError, match="spread must be one of"):
        seed_band(SEEDS, "acc", spread="iqr")


def test_plot_arm_comparison_writes_one_png_with_a_panel_per_metric(tmp_path):
    runs = {"grpo": SEEDS, "pad": SEEDS[:2], "custom": [[{"step": 1, "other": 2.0}]]}
    out = plot_arm_comparison(runs, tmp_path / "fig3" / "arms.png", metrics=("acc", "other"), spread="std")
    assert out == tmp_path / "fig3" / "arms.png"
    assert_png(out)
    with pytest.raises(ValueError, match="runs is empty"):
        plot_arm_comparison({}, tmp_path / "x.png")
