"""verl's real trainer runs stage 2 (GRPO + PAD) on the tiny CPU model, through the user-facing recipe."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "revisual_stage2.sh"


def run_stage2(workdir: Path, *overrides: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    env = {**os.environ, "REVISUAL_DEVICE": "cpu", "RAY_DEDUP_LOGS": "0"}
    env.pop("RAY_ADDRESS", None)
    # The timeout only stops a hung run from blocking CI; no assertion is made on time.
    proc = subprocess.run(
        ["bash", str(RECIPE), *overrides], cwd=workdir, env=env, capture_output=True, text=True, timeout=900
    )
    metrics_files = sorted((workdir / "outputs").glob("*/metrics/*.jsonl"))
    rows = [json.loads(line) for f in metrics_files for line in f.read_text().splitlines() if line.strip()]
    return proc, rows


def _tail(proc):
    return (proc.stdout + proc.stderr)[-6000:]


def _initial_weights() -> dict:
    from transformers import AutoModelForImageTextToText

    cache = Path(os.environ.get("REVISUAL_CACHE", REPO / ".cache" / "revisual"))
    return AutoModelForImageTextToText.from_pretrained(cache / "tiny-qwen25vl").state_dict()


@pytest.mark.e2e
def test_stage2_two_steps_with_pad_logs_metrics_and_updates_the_actor(tmp_path):
    # ratio 0.75 of 16 sequences -> 12 selected, which verl's balancer pads back to the 16-sequence mini-batch.
    proc, rows = run_stage2(
        tmp_path, "trainer.total_training_steps=2", "trainer.save_freq=2", "algorithm.pad.ratio=0.75"
    )
    assert proc.returncode == 0, _tail(proc)
    assert [r["step"] for r in rows] == [1, 2]
    for row in rows:
        data = row["data"]
        for key in (
            "stagnation/zero_var_group_frac",
            "stagnation/effective_token_frac",
            "pad/num_effective",
            "pad/num_selected",
            "pad/adv_abs_mean_before",
            "pad/adv_abs_mean_after",
            "pad/tau",
            "reward/acc/mean",
            "reward/term/efficient_length/mean",
        ):
            assert key in data, key
        assert data["pad/num_selected"] == min(12, data["pad/num_effective"])
        assert data["pad/skipped_update"] == 0.0
    # tau follows the linear schedule over total_training_steps=2: 1.0 at step 1, 0.65 at step 2
    assert rows[0]["data"]["pad/tau"] == pytest.approx(1.0)
    assert rows[1]["data"]["pad/tau"] == pytest.approx(0.65)

    ckpt = tmp_path / "outputs" / "stage2_mrl_cpu" / "checkpoints" / "global_step_2"
    assert json.loads((ckpt / "revisual_state.json").read_text())["optimizer_steps"] == 2
    trained = torch.load(ckpt / "actor" / "model_world_size_1_rank_0.pt", weights_only=False)
    initial = _initial_weights()
    changed = [
        name
        for name, tensor in trained.items()
        if not torch.equal(tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor, initial[name])
    ]
    assert any("language_model" in n or "lm_head" in n for n in changed), changed[:5]


@pytest.mark.e2e
def test_two_data_parallel_ranks_stay_balanced_with_an_uneven_pad_selection(tmp_path):
    # Two FSDP ranks (gloo) and two rollout replicas; 10 of 16 sequences selected, padded to 16 and split 8/8.
    proc, rows = run_stage2(
        tmp_path,
        "trainer.n_gpus_per_node=2",
        "trainer.total_training_steps=2",
        "trainer.save_freq=-1",
        "algorithm.pad.ratio=0.625",
    )
    assert proc.returncode == 0, _tail(proc)
    assert [r["step"] for r in rows] == [1, 2]
    for row in rows:
        data = row["data"]
        assert data["pad/num_selected"] == min(10, data["pad/num_effective"])
        assert data["pad_seqlen/mean"] > 0
        assert data["pad/skipped_update"] == 0.0


@pytest.mark.e2e
def test_an_empty_pad_selection_skips_the_update_and_the_run_goes_on(tmp_path):
    proc, rows = run_stage2(tmp_path, "trainer.total_training_steps=1", "trainer.save_freq=-1", "algorithm.pad.low=100")
    assert proc.returncode == 0, _tail(proc)
    assert rows[0]["data"]["pad/num_selected"] == 0
    assert rows[0]["data"]["pad/skipped_update"] == 1.0
    assert "PAD kept no sequence" in proc.stdout + proc.stderr


@pytest.mark.e2e
def test_official_code_mode_trains_on_repeated_draws(tmp_path):
    # Released-code PAD: 1.5 x 16 = 24 draws with replacement, so repeats become copies under new keys.
    proc, rows = run_stage2(
        tmp_path,
        "trainer.total_training_steps=1",
        "trainer.save_freq=-1",
        "algorithm.pad.low=0.03",
        "algorithm.pad.high=0.97",
        "algorithm.pad.strict_band=true",
        "algorithm.pad.priority=power",
        "algorithm.pad.alpha=1.5",
        "algorithm.pad.ratio=1.5",
        "algorithm.pad.replacement=true",
    )
    assert proc.returncode == 0, _tail(proc)
    data = rows[0]["data"]
    if data["pad/num_effective"] == 0:
        pytest.skip("no sequence fell inside the (0.03, 0.97) band this time")
    assert data["pad/num_selected"] == 24
    assert data["pad/num_unique_selected"] < 24
    # 24 sequences are padded to 32 (a multiple of the 16-sequence mini-batch): two optimizer steps
    assert data["actor/optimizer_steps"] == 2
