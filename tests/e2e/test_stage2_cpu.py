"""verl's real trainer runs stage 2 on the tiny CPU model through the user-facing recipe, one run per
PAD variant; what the actor trained on is read from inside the actor worker (REVISUAL_ACTOR_TRACE)."""

import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "revisual_stage2.sh"
# The composite reward gives rows of a group different scores even when all are wrong (lengths
# differ), so the |A| band keeps most of the batch and every variant has something to draw from,
# whatever the tiny model's accuracy. The accuracy filter (the default) is exercised by the pipeline.
ADVANTAGE_FILTER = ("algorithm.pad.filter_on=advantage",)


def run_stage2(workdir: Path, *overrides: str):
    trace = workdir / "trace"
    env = {**os.environ, "REVISUAL_DEVICE": "cpu", "RAY_DEDUP_LOGS": "0", "REVISUAL_ACTOR_TRACE": str(trace)}
    env.pop("RAY_ADDRESS", None)
    # The timeout only stops a hung run from blocking CI; no assertion is made on time.
    proc = subprocess.run(
        ["bash", str(RECIPE), *overrides], cwd=workdir, env=env, capture_output=True, text=True, timeout=900
    )
    metrics_files = sorted((workdir / "outputs").glob("*/metrics/*.jsonl"))
    rows = [json.loads(line) for f in metrics_files for line in f.read_text().splitlines() if line.strip()]
    return proc, rows, read_trace(trace)


def read_trace(folder: Path) -> dict:
    """The trainer's record of each update and the actor workers' records of what they trained on."""
    def lines(path):
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    trainer = lines(folder / "trainer.jsonl") if (folder / "trainer.jsonl").exists() else []
    actor = [r for path in sorted(folder.glob("actor-*.jsonl")) for r in lines(path)]
    return {
        "updates": {r["update"]: r for r in trainer},
        "steps": [r for r in actor if r["kind"] == "step"],
        "losses": [r for r in actor if r["kind"] == "loss"],
    }


def worker_rows(trace: dict, update: int) -> Counter:
    """Every row the actor workers trained on in one update, over all ranks and optimizer steps."""
    return Counter(tuple(row) for step in trace["steps"] if step["update"] == update for row in step["rows"])


def _tail(proc):
    return (proc.stdout + proc.stderr)[-6000:]


def _initial_weights() -> dict:
    from transformers import AutoModelForImageTextToText

    cache = Path(os.environ.get("REVISUAL_CACHE", REPO / ".cache" / "revisual"))
    return AutoModelForImageTextToText.from_pretrained(cache / "tiny-qwen25vl").state_dict()


@pytest.mark.e2e
def test_pad_on_two_ranks_trains_exactly_the_selection_with_the_scheduled_entropy(tmp_path):
    # Two FSDP ranks (gloo), two rollout replicas, 16 sequences per step; PAD draws k' = 8 by priority.
    proc, rows, trace = run_stage2(
        tmp_path, *ADVANTAGE_FILTER,
        "trainer.n_gpus_per_node=2", "trainer.total_training_steps=2", "trainer.save_freq=2",
        "algorithm.entropy_anneal.warmup_steps=1", "algorithm.entropy_anneal.decay=0.5",
    )
    assert proc.returncode == 0, _tail(proc)
    assert [r["step"] for r in rows] == [1, 2]
    for row in rows:
        data = row["data"]
        for key in ("stagnation/zero_var_group_frac", "stagnation/all_correct_group_frac",
                    "stagnation/all_wrong_group_frac", "stagnation/effective_token_frac",
                    "stagnation/dropped_tokens_cum", "pad/num_effective", "pad/prioritised", "pad/tau",
                    "reward/acc/mean", "reward/term/efficient_length/mean"):
            assert key in data, key
    assert rows[0]["data"]["pad/tau"] == pytest.approx(1.0) and rows[1]["data"]["pad/tau"] == pytest.approx(0.3)
    assert set(trace["updates"]) == {1, 2}
    coefficients = {}
    for update, record in trace["updates"].items():
        steps, step_size = record["plan"]
        assert not any(record["padding"])
        # The workers trained on exactly the trainer's selection: same sequences, each with its own
        # advantage and old log-probs, nothing else (not the full batch, no padding rows).
        assert worker_rows(trace, update) == Counter(tuple(r) for r in record["rows"])
        assert sum(worker_rows(trace, update).values()) == steps * step_size < 16
        for rank in (0, 1):
            mine = [s for s in trace["steps"] if s["update"] == update and s["rank"] == rank]
            assert len(mine) == steps and all(len(s["rows"]) == step_size // 2 for s in mine)
        for loss in trace["losses"]:
            coefficients.setdefault(loss["optimizer_step"], set()).add(loss["entropy_coeff"])
    # The coefficient the loss used, per optimizer step, on both ranks: 0 during the 1-step warm-up,
    # then 0.02 halving every optimizer step.
    assert coefficients == {k: {0.0 if k < 1 else 0.02 * 0.5 ** (k - 1)} for k in range(len(coefficients))}
    assert len(coefficients) == sum(r["plan"][0] for r in trace["updates"].values())

    ckpt = tmp_path / "outputs" / "stage2_mrl_cpu" / "checkpoints" / "global_step_2"
    state = json.loads((ckpt / "revisual_state.json").read_text())
    assert state["optimizer_steps"] == len(coefficients)
    trained = torch.load(ckpt / "actor" / "model_world_size_2_rank_0.pt", weights_only=False)
    initial = _initial_weights()

    def rank0_shard(name, tensor):
        # FSDP2 shards dim 0 over the two ranks; rank 0 holds the leading rows.
        local = tensor.to_local() if hasattr(tensor, "to_local") else tensor
        return local, initial[name][: local.shape[0]] if local.dim() else initial[name]

    changed = [n for n, t in trained.items() if not torch.equal(*rank0_shard(n, t))]
    assert any("language_model" in n or "lm_head" in n for n in changed), changed[:5]


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
    trained = worker_rows(trace, 1)
    assert sum(trained.values()) == 24 and max(trained.values()) > 1  # repeats, as copies under new keys
    # Two rollouts of a prompt can be identical (same uid, advantage and log-probs) and then count as one row.
    assert data["pad/num_unique_selected"] >= len(trained)
    assert trained == Counter(tuple(r) for r in trace["updates"][1]["rows"])


@pytest.mark.e2e
def test_grpo_variant_trains_on_the_whole_batch_and_resume_path_continues_the_entropy_schedule(tmp_path):
    proc, rows, trace = run_stage2(tmp_path, "algorithm.pad.variant=grpo", "trainer.total_training_steps=2",
                                   "trainer.save_freq=1")
    assert proc.returncode == 0, _tail(proc)
    assert "pad/num_selected" not in rows[0]["data"]
    record = trace["updates"][1]
    assert record["plan"] == [1, 16] and not any(record["padding"])
    # Every sequence once; identical rollouts (same uid, advantage and log-probs) are compared as a multiset.
    assert sum(worker_rows(trace, 1).values()) == 16
    assert worker_rows(trace, 1) == Counter(tuple(r) for r in record["rows"])

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
    trained = worker_rows(trace, 1)
    assert data["pad/prioritised"] == 0.0 and data["pad/num_effective"] >= 8
    # All of E, every row inside the band (|A| >= 0.01), cut to one whole step: the step is |E| rounded to
    # whole micro-batches (4 rows each here), so up to 2 rows are left out or up to 2 repeated.
    # Two rollouts can be identical (same uid, advantage and log-probs), so rows are compared as multisets.
    steps, step_size = trace["updates"][1]["plan"]
    num_effective = int(data["pad/num_effective"])
    assert steps == 1 and step_size % 4 == 0 and abs(step_size - num_effective) <= 2
    assert all(abs(adv) >= 0.01 for _, adv, _ in trained)
    assert sum(trained.values()) == step_size
    assert data["pad/num_unique_selected"] == min(step_size, num_effective)
    assert trained == Counter(tuple(r) for r in trace["updates"][1]["rows"])


@pytest.mark.e2e
def test_random_variant_draws_pads_size_uniformly_and_an_empty_selection_skips_the_update(tmp_path):
    proc, rows, trace = run_stage2(tmp_path, "algorithm.pad.variant=random", *ADVANTAGE_FILTER,
                                   "trainer.total_training_steps=1", "trainer.save_freq=-1")
    assert proc.returncode == 0, _tail(proc)
    data = rows[0]["data"]
    assert data["pad/prioritised"] == 0.0 and data["pad/draw_size"] == min(8, data["pad/num_effective"])
    assert sum(worker_rows(trace, 1).values()) == trace["updates"][1]["plan"][0] * trace["updates"][1]["plan"][1]

    empty = tmp_path / "empty"
    empty.mkdir()
    proc, rows, trace = run_stage2(empty, *ADVANTAGE_FILTER, "algorithm.pad.low=100",
                                   "trainer.total_training_steps=1", "trainer.save_freq=-1")
    assert proc.returncode == 0, _tail(proc)
    assert rows[0]["data"]["pad/num_selected"] == 0 and rows[0]["data"]["pad/skipped_update"] == 1.0
    assert "PAD kept no sequence" in proc.stdout + proc.stderr
    assert not trace["steps"]  # the actor never ran
