"""Plots of training metrics: per-stage dashboards and the comparison of training arms over seeds.

    python -m verl_ext.plot RUN_DIR [--out DIR]

Imports matplotlib (Agg canvas only), never verl or torch.
"""

from verl_ext.plot.compare import plot_arm_comparison, seed_band
from verl_ext.plot.dashboard import write_dashboards
from verl_ext.plot.metrics import find_stage_metrics, load_metrics

__all__ = ["find_stage_metrics", "load_metrics", "plot_arm_comparison", "seed_band", "write_dashboards"]
