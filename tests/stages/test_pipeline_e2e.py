"""The whole pipeline on the CPU with the tiny model: stage 2 is killed with SIGKILL after its step-2
checkpoint, the pipeline is rerun and must resume it (step count and entropy coefficient continuing),
finish stage 3, and a third run must skip everything. One shared run (~4 min on 2 cores) feeds every test.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from verl_ext.algos.entropy import annealed_entropy_coef
from verl_ext.stages.outputs import missing_model_files, read_complete_marker

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
STAGE2_STEPS, KILL_AFTER_STEP = 4, 2


def pipeline_env():
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "REVISUAL_DEVICE": "cpu",
        "STAGE2_ARGS": f"trainer.total_training_steps={STAGE2_STEPS} trainer.save_freq={KILL_AFTER_STEP}",
    }


def pipeline_cmd(run_dir):
    return [sys.executable, "-m", "verl_ext.stages.pipeline", "--run-dir", str(run_dir)]


def metrics_records(path):
    records = []
    for line in Path(path).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            pass  # the line a kill tore
    return {r["step"]: r["data"] for r in records}


def wait_for_stage2_checkpoint(run_dir, proc, timeout_s=600):
    """Until stage 2 has checkpointed KILL_AFTER_STEP and logged its metrics."""
    stage = run_dir / "stage2_mrl"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        assert proc.poll() is None, "the pipeline ended before stage 2 reached its checkpoint"
        tracker = stage / "checkpoints" / "latest_checkpointed_iteration.txt"
        metrics = list((stage / "metrics").glob("*.jsonl")) if (stage / "metrics").exists() else []
        if tracker.exists() and tracker.read_text().strip() == str(KILL_AFTER_STEP) and metrics:
            if KILL_AFTER_STEP in metrics_records(metrics[0]):
                return metrics[0]
        time.sleep(0.5)
    raise AssertionError("stage 2 never reached its checkpoint")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("pipeline")
    run_dir = work / "run"
    env = pipeline_env()
    first_log = open(work / "first.log", "w")
    # A new session, so the kill reaches the stage process and its Ray processes too.
    proc = subprocess.Popen(pipeline_cmd(run_dir), cwd=work, env=env, stdout=first_log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        killed_metrics = wait_for_stage2_checkpoint(run_dir, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        first_log.close()
    killed = metrics_records(killed_metrics)
    second = subprocess.run(pipeline_cmd(run_dir), cwd=work, env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    summary = json.loads((run_dir / "run_summary.json").read_text())
    third = subprocess.run(pipeline_cmd(run_dir), cwd=work, env=env, capture_output=True, text=True)
    return {"run_dir": run_dir, "killed_metrics": killed_metrics, "killed": killed, "second": second,
            "summary": summary, "third": third}


def test_all_three_stages_complete_and_hand_off(run):
    run_dir = run["run_dir"]
    stages = run["summary"]["stages"]
    assert list(stages) == ["stage1_cold_start", "stage2_mrl", "stage3_trl"]
    assert [stages[s]["status"] for s in stages] == ["skipped", "resumed", "ran"]
    assert [stages[s]["steps"] for s in stages] == [4, STAGE2_STEPS, 3]
    for name, info in stages.items():
        assert missing_model_files(info["output_path"]) == []
        assert read_complete_marker(run_dir / name)["output_path"] == info["output_path"]
        assert info["wall_time_s"] > 0 and info["final_metrics"]
    # Each stage started from the previous stage's merged model.
    assert stages["stage2_mrl"]["input_model"] == stages["stage1_cold_start"]["output_path"]
    assert stages["stage3_trl"]["input_model"] == stages["stage2_mrl"]["output_path"]
    assert "train/loss" in stages["stage1_cold_start"]["final_metrics"]
    assert "actor/kl_loss" in stages["stage3_trl"]["final_metrics"]


def test_killed_stage2_resumes_step_count_and_entropy_coefficient(run):
    run_dir = run["run_dir"]
    stage = run_dir / "stage2_mrl"
    assert "resuming from checkpoint step 2" in run["second"].stdout
    state = json.loads((stage / "checkpoints" / f"global_step_{KILL_AFTER_STEP}" / "revisual_state.json").read_text())
    restored = state["optimizer_steps"]
    assert restored == run["killed"][KILL_AFTER_STEP]["actor/optimizer_steps"] > 0
    resumed_files = [p for p in sorted((stage / "metrics").glob("*.jsonl")) if p != run["killed_metrics"]]
    assert len(resumed_files) == 1
    resumed = metrics_records(resumed_files[0])
    assert sorted(resumed) == [3, 4]  # the global step continues, nothing is redone
    # The first update after the resume uses the coefficient for the restored optimizer step
    # (CPU profile: warm-up 0, so 0.02 * 0.985**steps), then the counter keeps growing.
    assert resumed[3]["actor/entropy_coeff"] == pytest.approx(0.02 * 0.985**restored)
    assert resumed[3]["actor/entropy_coeff"] == pytest.approx(annealed_entropy_coef(int(restored), warmup_steps=0))
    assert restored < resumed[3]["actor/optimizer_steps"] < resumed[4]["actor/optimizer_steps"]


def canonical_key(name):
    """One name per tensor: the merger writes HF's saved names, the FSDP shard the in-memory module's."""
    return name.replace("model.language_model.", "model.").replace("model.visual.", "visual.")


def test_stage3_leaves_vision_weights_bit_identical_and_trains_language(run):
    stages = run["summary"]["stages"]
    before = load_file(Path(stages["stage2_mrl"]["output_path"]) / "model.safetensors")
    after = load_file(Path(stages["stage3_trl"]["output_path"]) / "model.safetensors")
    vision = [k for k in before if ".visual." in k or k.startswith("visual.")]
    language = [k for k in before if k not in vision]
    assert vision and language and set(before) == set(after)
    assert all(torch.equal(before[k], after[k]) for k in vision)
    assert any(not torch.equal(before[k], after[k]) for k in language)
    # The merged files are bf16; the fp32 training shard shows the tower untouched at full precision.
    ckpt = Path(stages["stage3_trl"]["checkpoint_dir"])
    step = (ckpt / "latest_checkpointed_iteration.txt").read_text().strip()
    shard = torch.load(ckpt / f"global_step_{step}" / "actor" / "model_world_size_1_rank_0.pt",
                       map_location="cpu", weights_only=False)
    shard = {canonical_key(k): v.to_local() if hasattr(v, "to_local") else v for k, v in shard.items()}
    for key in vision:
        value = shard[canonical_key(key)]
        assert torch.equal(value, before[key].to(value.dtype)), key


def test_rerun_skips_every_complete_stage(run):
    third = run["third"]
    assert third.returncode == 0
    assert third.stdout.count("; skipped") == 3
    summary = json.loads((run["run_dir"] / "run_summary.json").read_text())
    assert [s["status"] for s in summary["stages"].values()] == ["skipped"] * 3
