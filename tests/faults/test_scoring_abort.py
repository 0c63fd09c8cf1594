"""A run whose every sample fails scoring stops with a clear message instead of training on zeros."""

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def test_a_step_where_most_scoring_fails_stops_the_run(tmp_path):
    broken = tmp_path / "broken_term.py"
    broken.write_text("def boom(acc):\n    raise RuntimeError('this reward term is broken')\n")
    # REVISUAL_VERBOSE: the assertions read the stage's full output, which the recipe otherwise keeps in its log.
    env = {**os.environ, "REVISUAL_DEVICE": "cpu", "RAY_DEDUP_LOGS": "0", "REVISUAL_VERBOSE": "1"}
    env.pop("RAY_ADDRESS", None)
    # The timeout only stops a hung run from blocking CI; no assertion is made on time.
    proc = subprocess.run(
        ["bash", str(REPO / "recipes" / "revisual_stage2.sh"), "trainer.total_training_steps=2",
         "trainer.save_freq=1", "reward.terms=null", f"reward.terms={{accuracy:0.9,{broken}:boom:0.1}}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "step 1: scoring failed (timeout or error) for 16 of 16 samples (100%), more than " \
           "reward.abort_failed_frac=0.5" in output
    # Nothing was trained or saved from the broken step.
    assert not list((tmp_path / "outputs").glob("*/checkpoints/global_step_*"))
