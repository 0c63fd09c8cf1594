"""The stagnation demo's table arithmetic, on hand-computed numbers (no training)."""

import importlib.util
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "examples" / "stagnation_demo" / "accounting.py"
spec = importlib.util.spec_from_file_location("stagnation_demo_accounting", PATH)
accounting = importlib.util.module_from_spec(spec)
spec.loader.exec_module(accounting)


def test_rollout_tokens_sum_mean_length_times_sequences_over_logged_steps():
    rows = [{"step": 1, "response_length/mean": 10.0}, {"step": 2, "response_length/mean": 12.5},
            {"step": 3, "reward/acc/mean": 0.5}]
    assert accounting.rollout_tokens(rows, 32) == 32 * 10.0 + 32 * 12.5  # 720
    with pytest.raises(ValueError, match="sequences_per_step"):
        accounting.rollout_tokens(rows, 0)


def test_tokens_per_point_and_no_gain():
    assert accounting.tokens_per_point(720.0, 0.55, 0.50) == pytest.approx(144.0)  # 5 points
    assert accounting.tokens_per_point(720.0, 0.50, 0.50) is None
    assert accounting.tokens_per_point(720.0, 0.40, 0.50) is None


def test_arm_summary_and_table_row():
    runs = [{"val": {"greedy": 0.5, "sampled": 0.4}, "rollout_tokens": 1000.0},
            {"val": {"greedy": 0.7, "sampled": 0.6}, "rollout_tokens": 3000.0}]
    s = accounting.arm_summary(runs, {"greedy": 0.5, "sampled": 0.3})
    assert s["greedy_mean"] == pytest.approx(0.6) and s["greedy_std"] == pytest.approx(0.1414213562)
    assert s["sampled_gain_points"] == pytest.approx(20.0)
    assert s["tokens_per_point"] == pytest.approx(100.0)  # 2000 mean tokens / 20 points
    lost = accounting.arm_summary(runs[:1], {"greedy": 0.5, "sampled": 0.45})
    table = accounting.format_table({"pad": s, "grpo": lost}, {"greedy": 0.5, "sampled": 0.3},
                                    {"pad": ("Full PAD", 47.7), "grpo": ("GRPO-Baseline", 45.1)})
    lines = table.splitlines()
    assert lines[3] == "| pad | Full PAD | 47.7 | 60.0 ± 14.1 | 50.0 ± 14.1 | +20.0 | 2,000 | 100 | 2 |"
    assert lines[4] == "| grpo | GRPO-Baseline | 45.1 | 50.0 ± 0.0 | 40.0 ± 0.0 | -5.0 | 1,000 | n/a (no gain) | 1 |"


def test_an_arm_names_its_variant_and_whether_the_prompt_scheduler_runs():
    spec_ = importlib.util.spec_from_file_location("stagnation_demo_settings", PATH.parent / "settings.py")
    demo_settings = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(demo_settings)
    ARMS, arm_settings = demo_settings.ARMS, demo_settings.arm_settings

    assert arm_settings("pad") == ["algorithm.pad.variant=pad"]
    assert arm_settings("pad+schedule") == ["algorithm.pad.variant=pad", "algorithm.schedule.enable=true"]
    assert all(arm_settings(arm)[0].split("=")[1] in ("grpo", "filter", "random", "pad", "official") for arm in ARMS)


def test_the_validation_curve_weights_sources_by_their_items_and_the_cost_to_reach_counts_up_to_that_step():
    rows = [
        {"step": 1, "response_length/mean": 10.0, "timing_s/step": 2.0},
        {"step": 2, "response_length/mean": 20.0, "timing_s/step": 3.0,
         "val-core/a/acc/mean@1": 0.5, "val-core/b/acc/mean@1": 0.2, "val-aux/a/acc/mean@1": 9.0},
        {"step": 3, "response_length/mean": 30.0, "timing_s/step": 4.0},
        {"step": 4, "response_length/mean": 40.0, "timing_s/step": 5.0,
         "val-core/a/acc/mean@1": 0.8, "val-core/b/acc/mean@1": 0.5},
    ]
    curve = accounting.val_accuracy_curve(rows, {"a": 3, "b": 1})
    assert curve == [(2, pytest.approx(0.425)), (4, pytest.approx(0.725))]  # (3*0.5 + 0.2)/4, (3*0.8 + 0.5)/4
    cost = accounting.cost_to_reach(rows, curve, 0.7, sequences_per_step=8)
    assert cost == {"step": 4, "rollout_tokens": 8 * (10 + 20 + 30 + 40), "seconds": 14.0}
    assert accounting.cost_to_reach(rows, curve, 0.42, 8)["step"] == 2
    assert accounting.cost_to_reach(rows, curve, 0.9, 8) is None
