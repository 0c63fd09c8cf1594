"""verl's real trainer runs stage 2 on the tiny CPU model through the user-facing recipe, one run per
PAD variant; what the actor trained on is read from inside the actor worker (REVISUAL_ACTOR_TRACE).
The ``pad`` variant itself runs on two ranks across two Ray nodes in tests/cluster/test_multinode_job.py."""

import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from verl_ext.actor_trace import read_actor_trace, rows_trained_in
from verl_ext.algos.pad import plan_update

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "revisual_stage2.sh"
# The composite reward gives rows of a group different scores even when all are wrong (lengths
# differ), so the |A| band keeps most of the batch and every variant has something to draw from,
# whatever the tiny model's accuracy. The accuracy filter (the default) is exercised by the pipeline.
ADVANTAGE_FILTER = ("algorithm.pad.filter_on=advantage",)
# A confident tiny model can give every rollout of a prompt the same score, so |E| under the band can be
# anything from 0 to 16. Tests whose sizes must be fixed open the band to |A| >= 0: every row is in E.
WHOLE_BATCH_ELIGIBLE = (*ADVANTAGE_FILTER, "algorithm.pad.low=0")


def run_stage2(workdir: Path, *overrides: str):
    trace = workdir / "trace"
    # REVISUAL_VERBOSE: the assertions read the stage's full output, which the recipe otherwise keeps in its log.
    env = {**os.environ, "REVISUAL_DEVICE": "cpu", "RAY_DEDUP_LOGS": "0", "REVISUAL_ACTOR_TRACE": str(trace),
           "REVISUAL_VERBOSE": "1"}
    env.pop("RAY_ADDRESS", None)
    # The timeout only stops a hung run from blocking CI; no assertion is made on time.
    proc = subprocess.run(
        ["bash", str(RECIPE), *overrides], cwd=workdir, env=env, capture_output=True, text=True, timeout=900
    )
    metrics_files = sorted((workdir / "outputs").glob("*/metrics/*.jsonl"))
    rows = [json.loads(line) for f in metrics_files for line in f.read_text().splitlines() if line.strip()]
    return proc, rows, read_actor_trace(trace)


def _tail(proc):
    return (proc.stdout + proc.stderr)[-6000:]


@pytest.mark.e2e
def test_official_variant_trains_on_repeated_draws(tmp_path):
    # Released-code PAD: 1.5 x 16 = 24 draws with replacement from the (0.03, 0.97) band: two steps of 12.
    proc, rows, trace = run_stage2(tmp_path, "algorithm.pad.variant=official", "trainer.total_training_steps=1",
                                   "trainer.save_freq=-1")
    assert proc.returncode == 0, _tail(proc)
    data = rows[0]["data"]
    if data["pad/num_effective"] < 2:
        pytest.skip("fewer than two sequences fell inside the (0.03, 0.97) band this time")
    assert trace["updates"][1]["plan"] == [2, 12]
    trained = rows_trained_in(trace, 1)
    assert sum(trained.values()) == 24 and max(trained.values()) > 1  # repeats, as copies under new keys
    # Two rollouts of a prompt can be identical (same uid, advantage and log-probs) and then count as one row.
    assert data["pad/num_unique_selected"] >= len(trained)
    assert trained == Counter(tuple(r) for r in trace["updates"][1]["rows"])


@pytest.mark.e2e
def test_grpo_variant_trains_on_the_whole_batch_and_resume_path_continues_the_entropy_schedule(tmp_path):
    proc, rows, trace = run_stage2(tmp_path, "algorithm.pad.variant=grpo", "trainer.total_training_steps=1",
                                   "trainer.save_freq=1")
    assert proc.returncode == 0, _tail(proc)
    assert "pad/num_selected" not in rows[0]["data"]
    record = trace["updates"][1]
    assert record["plan"] == [1, 16] and not any(record["padding"])
    # Every sequence once; identical rollouts (same uid, advantage and log-probs) are compared as a multiset.
    assert sum(rows_trained_in(trace, 1).values()) == 16
    assert rows_trained_in(trace, 1) == Counter(tuple(r) for r in record["rows"])

    # Resume from a copy of step 1 kept outside the checkpoint folder (trainer.resume_mode=resume_path):
    # the schedule must continue from the state saved with the checkpoint verl loaded.
    ckpt = tmp_path / "outputs" / "stage2_mrl_cpu" / "checkpoints"
    saved = tmp_path / "kept" / "global_step_1"
    shutil.copytree(ckpt / "global_step_1", saved)
    restored = json.loads((saved / "revisual_state.json").read_text())["optimizer_steps"]
    resumed_dir = tmp_path / "resumed"
    resumed_dir.mkdir()
    proc, _, trace = run_stage2(resumed_dir, "algorithm.pad.variant=grpo", "trainer.total_training_steps=2",
                                "trainer.save_freq=-1", "trainer.resume_mode=resume_path",
                                f"trainer.resume_from_path={saved}")
    assert proc.returncode == 0, _tail(proc)
    assert restored == 1 and set(trace["updates"]) == {2}
    assert trace["updates"][2]["base_step"] == restored
    assert [s["optimizer_step"] for s in trace["steps"]] == [restored]


@pytest.mark.e2e
def test_filter_variant_trains_on_every_eligible_sequence_and_nothing_else(tmp_path):
    proc, rows, trace = run_stage2(tmp_path, "algorithm.pad.variant=filter", *ADVANTAGE_FILTER,
                                   "trainer.total_training_steps=1", "trainer.save_freq=-1")
    assert proc.returncode == 0, _tail(proc)
    data = rows[0]["data"]
    trained = rows_trained_in(trace, 1)
    num_effective = int(data["pad/num_effective"])
    assert data["pad/prioritised"] == 0.0
    if num_effective == 0:
        # A confident tiny model can give every group identical rollouts: nothing to train on.
        assert data["pad/skipped_update"] == 1.0 and not trace["steps"]
        return
    # All of E, every row inside the band (|A| >= 0.01), cut into whole steps of whole micro-batches
    # (4 rows here) and never below half the 16-row mini-batch, so rows may be left out or repeated.
    # Two rollouts can be identical (same uid, advantage and log-probs), so rows are compared as multisets.
    expected = plan_update(num_effective, mini_batch=16, row_multiple=4)
    assert trace["updates"][1]["plan"] == [expected.steps, expected.step_size]
    assert all(abs(adv) >= 0.01 for _, adv, _ in trained)
    assert sum(trained.values()) == expected.total
    assert data["pad/num_unique_selected"] == min(expected.total, num_effective)
    assert trained == Counter(tuple(r) for r in trace["updates"][1]["rows"])


@pytest.mark.e2e
def test_random_variant_draws_pads_size_uniformly_and_an_empty_selection_skips_the_update(tmp_path):
    proc, rows, trace = run_stage2(tmp_path, "algorithm.pad.variant=random", *WHOLE_BATCH_ELIGIBLE,
                                   "trainer.total_training_steps=1", "trainer.save_freq=-1")
    assert proc.returncode == 0, _tail(proc)
    data = rows[0]["data"]
    assert data["pad/num_effective"] == 16
    assert data["pad/prioritised"] == 0.0 and data["pad/draw_size"] == 8
    assert sum(rows_trained_in(trace, 1).values()) == trace["updates"][1]["plan"][0] * trace["updates"][1]["plan"][1]

    empty = tmp_path / "empty"
    empty.mkdir()
    proc, rows, trace = run_stage2(empty, *ADVANTAGE_FILTER, "algorithm.pad.low=100",
                                   "trainer.total_training_steps=1", "trainer.save_freq=-1")
    assert proc.returncode == 0, _tail(proc)
    assert rows[0]["data"]["pad/num_selected"] == 0 and rows[0]["data"]["pad/skipped_update"] == 1.0
    assert "PAD kept no sequence" in proc.stdout + proc.stderr
    assert not trace["steps"]  # the actor never ran
