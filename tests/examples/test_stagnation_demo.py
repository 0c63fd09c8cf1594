"""The stagnation demo end to end, shortened: one seed of grpo and pad, 2 steps, a tiny evaluation. The arms
must really train on different things, as their own per-step metrics record it."""

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "examples" / "stagnation_demo" / "run.sh"
SEQUENCES_PER_STEP = 8 * 4  # data.train_batch_size=8 prompts x 4 rollouts (the CPU profile's n)


def run_demo(out: Path):
    env = {**os.environ, "REVISUAL_DEVICE": "cpu"}
    env.pop("RAY_ADDRESS", None)
    # The timeout only stops a hung run from blocking CI; no assertion is made on time.
    return subprocess.run(
        ["bash", str(RUN), "--seeds", "1", "--arms", "grpo,pad", "--steps", "2", "--eval-items", "8",
         "--eval-samples", "2", "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )


def rows_of(run_dir: Path) -> list[dict]:
    files = sorted((run_dir / "metrics").glob("*.jsonl"))
    assert files, f"no metrics JSONL in {run_dir}"
    return [json.loads(line)["data"] for f in files for line in f.read_text().splitlines() if line.strip()]


@pytest.mark.e2e
def test_short_demo_writes_its_outputs_and_the_arms_train_on_different_rows(tmp_path):
    out = tmp_path / "demo"
    proc = run_demo(out)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]

    png = (out / "fig3.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    table = (out / "table.md").read_text()
    assert "| grpo | GRPO-Baseline | 45.1 |" in table
    assert "| pad | Full PAD | 47.7 |" in table
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["arms"]) == {"grpo", "pad"}
    assert 0 <= summary["cold_start"]["val"]["sampled"] <= 1

    grpo = rows_of(out / "runs" / "grpo-seed0")
    pad = rows_of(out / "runs" / "pad-seed0")
    assert len(grpo) == len(pad) == 2
    for row in grpo:
        # Plain GRPO: verl's own update on the whole batch, one optimizer step of every sequence.
        assert "pad/num_selected" not in row
        assert row["actor/min_real_mini_batch"] == SEQUENCES_PER_STEP
        assert row["stagnation/dropped_tokens"] == 0
    for row in pad:
        assert 0 <= row["pad/num_effective"] <= SEQUENCES_PER_STEP
        if row["pad/num_effective"] == 0:
            assert row["pad/skipped_update"] == 1
            continue
        # PAD trains a draw of half the batch: fewer sequences than GRPO, and never a stagnant one.
        assert row["pad/num_selected"] < SEQUENCES_PER_STEP
        assert row["pad/num_unique_selected"] <= row["pad/num_effective"]
        assert row["stagnation/dropped_tokens"] > 0
        # The |A| priority acts exactly when the eligible set is larger than the draw.
        assert row["pad/prioritised"] == float(row["pad/num_effective"] > row["pad/num_selected"])

    # A rerun finds every result and trains nothing.
    again = run_demo(out)
    assert again.returncode == 0, (again.stdout + again.stderr)[-6000:]
    assert again.stdout.count("skipped (result present)") == 2
