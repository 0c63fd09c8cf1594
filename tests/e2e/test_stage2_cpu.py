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
from omegaconf import OmegaConf

from verl_ext.actor_trace import SCHEDULE_FILE, read_actor_trace, rows_trained_in
from verl_ext.algos.pad import plan_update
from verl_ext.names import AT_LIMIT_KEY

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
    # Each copy carries its own row's content: the worker trained the draws the selection meant.
    by_content = Counter((uid, adv) for (uid, adv, _), count in trained.items() for _ in range(count))
    assert by_content == Counter(map(tuple, trace["updates"][1]["intended"]))


def _schedule_records(workdir: Path) -> dict:
    path = workdir / "trace" / SCHEDULE_FILE
    return {r["step"]: r for r in map(json.loads, path.read_text().splitlines())}


# The prompt scheduler on 8 training prompts, 2 steps of 4 per epoch: from step 3 on every candidate has a
# history, and a prompt stagnant once is rolled out with P 0.1 only.
SCHEDULE = ("algorithm.schedule.enable=true", "data.train_max_samples=8", "data.seed=1",
            "algorithm.schedule.explore_init=0.1",
            "algorithm.schedule.explore_min=0.05")


@pytest.mark.e2e
def test_grpo_trains_the_whole_batch_and_a_resumed_run_continues_the_entropy_and_prompt_schedules(tmp_path):
    proc, rows, trace = run_stage2(tmp_path, "algorithm.pad.variant=grpo", *SCHEDULE,
                                   "trainer.total_training_steps=4", "trainer.save_freq=2")
    assert proc.returncode == 0, _tail(proc)
    assert "pad/num_selected" not in rows[0]["data"]
    record = trace["updates"][1]
    assert record["plan"] == [1, 16] and not any(record["padding"])
    # Every sequence once; identical rollouts (same uid, advantage and log-probs) are compared as a multiset.
    assert sum(rows_trained_in(trace, 1).values()) == 16
    assert rows_trained_in(trace, 1) == Counter(tuple(r) for r in record["rows"])
    # The scheduler kept every batch full and saw its first epoch whole (no history, nothing skipped).
    uninterrupted = _schedule_records(tmp_path)
    assert all(len(r["prompts"]) == 4 for r in uninterrupted.values())
    assert sorted(uninterrupted[1]["prompts"] + uninterrupted[2]["prompts"]) == sorted(set(
        uninterrupted[1]["prompts"] + uninterrupted[2]["prompts"])) and not uninterrupted[1]["skipped"]
    assert "schedule/skipped_cum" in rows[-1]["data"] and "schedule/explore_all_wrong" in rows[-1]["data"]

    # Resume from a copy of step 2 kept outside the checkpoint folder (trainer.resume_mode=resume_path): the
    # entropy schedule continues from the state saved with the checkpoint verl loaded, and the scheduler
    # makes exactly the decisions of the uninterrupted run.
    ckpt = tmp_path / "outputs" / "stage2_mrl_cpu" / "checkpoints"
    saved = tmp_path / "kept" / "global_step_2"
    shutil.copytree(ckpt / "global_step_2", saved)
    state = json.loads((saved / "revisual_state.json").read_text())
    resumed_dir = tmp_path / "resumed"
    resumed_dir.mkdir()
    proc, _, trace = run_stage2(resumed_dir, "algorithm.pad.variant=grpo", *SCHEDULE,
                                "trainer.total_training_steps=4", "trainer.save_freq=-1",
                                "trainer.resume_mode=resume_path", f"trainer.resume_from_path={saved}")
    assert proc.returncode == 0, _tail(proc)
    assert state["optimizer_steps"] == 2 and "schedule" in state and set(trace["updates"]) == {3, 4}
    assert trace["updates"][3]["base_step"] == 2
    assert [s["optimizer_step"] for s in trace["steps"]] == [2, 3]
    resumed = _schedule_records(resumed_dir)
    assert set(resumed) == {3, 4}
    # Step 3 is decided from the restored history, carry and dataloader position alone: exactly the same.
    # Step 4 also depends on step 3's rollouts, whose sampling verl does not make reproducible across a restart.
    assert resumed[3] == uninterrupted[3]
    assert all(len(set(r["prompts"])) == 4 for r in (*resumed.values(), *uninterrupted.values()))


@pytest.mark.e2e
def test_filter_variant_trains_on_every_eligible_sequence_and_nothing_else(tmp_path):
    proc, rows, trace = run_stage2(tmp_path, "algorithm.pad.variant=filter", *ADVANTAGE_FILTER,
                                   "trainer.total_training_steps=1", "trainer.save_freq=-1")
    assert proc.returncode == 0, _tail(proc)
    data = rows[0]["data"]
    # The share of responses cut at the limit is 0 unless the longest response reached the limit. verl's
    # clip_ratio compares with the batch's longest response and is never 0.
    limit = OmegaConf.load(REPO / "verl_ext" / "config" / "device_profile" / "cpu.yaml").data.max_response_length
    assert (data[AT_LIMIT_KEY] > 0) == (data["response_length/max"] >= limit), data
    assert data["response_length/clip_ratio"] > 0
    trained = rows_trained_in(trace, 1)
    num_effective = int(data["pad/num_effective"])
    assert data["pad/prioritised"] == 0.0
    if num_effective == 0:
        # A confident tiny model can give every group identical rollouts: nothing to train on.
        assert data["pad/skipped_update"] == 1.0 and not trace["steps"]
        return
    # All of E, every row inside the band (|A| >= 0.01), cut into equal steps of whole micro-batches
    # (4 rows here): rounding leaves a row or two out or repeats them, never one row more than twice.
    # Two rollouts can be identical (same uid, advantage and log-probs), so rows are compared as multisets.
    expected = plan_update(num_effective, mini_batch=16, row_multiple=4, available=num_effective)
    assert trace["updates"][1]["plan"] == [expected.steps, expected.step_size]
    assert all(abs(adv) >= 0.01 for _, adv, _ in trained)
    assert sum(trained.values()) == expected.total
    assert data["pad/num_unique_selected"] == min(expected.total, num_effective)
    assert trained == Counter(tuple(r) for r in trace["updates"][1]["rows"])
    assert data["pad/repeated_rows"] == expected.total - data["pad/num_unique_selected"]


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


@pytest.mark.e2e
def test_pad_pairs_every_row_with_its_own_advantage_and_old_log_probs_across_padding_and_optimizer_steps(tmp_path):
    # 5 prompts x 4 rollouts = 20 rows; mini-batches of 2 prompts (8 rows) make verl pad the batch to 24 with
    # 4 no-op rows (on one rank they stay last; the two-rank job in tests/cluster puts them between real
    # rows, where a selection indexing the padded batch would pick the wrong rows). Every real row is eligible (|A| >= 0),
    # PAD draws k' = ceil(0.8 * 20) = 16 rows: two optimizer steps of 8 per update, two updates.
    init, decay = 0.02, 0.985
    proc, rows, trace = run_stage2(
        tmp_path, *WHOLE_BATCH_ELIGIBLE, "algorithm.pad.ratio=0.8", "data.train_batch_size=5",
        "actor_rollout_ref.actor.ppo_mini_batch_size=2", "algorithm.entropy_anneal.warmup_steps=0",
        f"algorithm.entropy_anneal.init={init}", f"algorithm.entropy_anneal.decay={decay}",
        f"actor_rollout_ref.actor.entropy_coeff={init}", "trainer.total_training_steps=2", "trainer.save_freq=-1")
    assert proc.returncode == 0, _tail(proc)
    for update in (1, 2):
        record = trace["updates"][update]
        assert record["batch_padding_rows"] == 4 and len(record["advantages"]) == 20
        assert record["plan"] == [2, 8] and record["base_step"] == 2 * (update - 1)
        trained = rows_trained_in(trace, update)
        by_content = Counter((uid, adv) for (uid, adv, _), count in trained.items() for _ in range(count))
        # The worker trained exactly the rows the draw meant, no padding row, each with the advantage the
        # estimator gave that row before verl stored it.
        assert by_content == Counter(map(tuple, record["intended"]))
        assert not (by_content - Counter(map(tuple, record["advantages"])))
        assert not any(uid.startswith("pad") for uid, _ in by_content)
        steps = [s for s in trace["steps"] if s["update"] == update]
        assert [s["optimizer_step"] for s in steps] == [2 * (update - 1), 2 * (update - 1) + 1]
        assert all(len(s["rows"]) == 8 for s in steps)
    # The entropy bonus moves once per optimizer step, inside the worker: 4 steps, 4 values.
    for loss in trace["losses"]:
        assert loss["entropy_coeff"] == pytest.approx(init * decay ** loss["optimizer_step"], rel=1e-9)
    assert sorted({loss["optimizer_step"] for loss in trace["losses"]}) == [0, 1, 2, 3]
    # On each update's first optimizer step the actor still has the weights the old log-probs were computed
    # with, so its own log-probs recompute them. The actor computes in bfloat16 (8 significant bits), and the
    # log-prob pass and the training pass differ in kernels and padding: a relative gap of a few roundings,
    # 2^-8 each. 2^-6 allows four; a row paired with another row's old log-probs shows a relative gap of
    # order 0.1-1 (7.9 nats, relative about 1, when old log-probs were shifted by one row on purpose).
    first_steps = [loss for loss in trace["losses"] if loss["optimizer_step"] in (0, 2)]
    assert first_steps and max(loss["old_log_prob_gap"] for loss in first_steps) < 2**-6
    # After an optimizer step the weights have moved: the same measure sees it (the check can fail).
    assert max(loss["old_log_prob_gap"] for loss in trace["losses"] if loss["optimizer_step"] in (1, 3)) > 2**-6
