"""verl's production rollout on the tiny model with the ``cpu_rollout=vllm`` option: vLLM's AsyncLLM
and HTTP server, verl's vLLM replica and agent loop, and the weight sync from the FSDP actor into
the engine (shared-memory buckets, then ``load_weights``); then stage 3 and the evaluation app's
vLLM engine. One launch each.

Stage 2 (PAD on) runs two steps, and its run feeds three tests. The engine's side of each weight
sync is written from inside the vLLM worker process (REVISUAL_ROLLOUT_TRACE,
verl_ext.cpu.vllm_bridges) and compared with the actor's checkpoint of the same step.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
STEPS = 2
# Stage 2 runs the engine and the actor in float32, so that no rounding can hide a difference in
# what they compute: verl's metric training/rollout_probs_diff_max (the largest |p_rollout -
# p_actor| over a step's response tokens) then only sees the two implementations' different
# summation orders, each about 1e-7 relative per operation, measured at 2.8e-5 and 5.6e-4 over the
# two steps. 5e-3 is ten times the larger; a mismatch of what is computed is larger still: log-probs
# taken after top-p gave 0.045-0.052 (up to 1 - top_p = 0.05, docs/cpu.md), and the bfloat16
# rounding this run avoids gives 0.014-0.016.
FP32 = ("actor_rollout_ref.rollout.dtype=float32", "+actor_rollout_ref.actor.fsdp_config.mixed_precision.param_dtype=fp32")
FP32_PROBS_DIFF_MAX = 5e-3
# Stage 3 runs the production dtype, bfloat16 on both sides: 8 mantissa bits round each weight and
# activation by up to 2^-9 relative, independently in the engine and in the actor. Measured on the
# tiny model: 0.014-0.016 (vLLM against the actor, stage 2) and up to 0.034 (float32 rollout
# against the bfloat16 actor, stage 3); the bound is about twice the largest.
BF16_PROBS_DIFF_MAX = 0.08


def _vllm_name_to_actor(name: str) -> list[str]:
    """The actor (Hugging Face) tensors a vLLM parameter of Qwen2.5-VL is built from, in order."""
    for vllm_prefix, hf_prefix in (("language_model.model.", "model.language_model."),
                                   ("language_model.lm_head.", "lm_head."), ("visual.", "model.visual.")):
        if name.startswith(vllm_prefix):
            name = hf_prefix + name[len(vllm_prefix):]
            break
    # vLLM fuses these projections into one parameter (stacked along the output dimension).
    for fused, parts in (("qkv_proj", ("q_proj", "k_proj", "v_proj")), ("gate_up_proj", ("gate_proj", "up_proj"))):
        if f".{fused}." in name:
            return [name.replace(fused, part) for part in parts]
    return [name]


def actor_weights(step_dir: Path) -> dict[str, torch.Tensor]:
    """The actor's parameters at a checkpoint (one FSDP rank: each DTensor's local shard is the whole tensor)."""
    state = torch.load(step_dir / "actor" / "model_world_size_1_rank_0.pt", weights_only=False)
    return {name: (t.to_local() if hasattr(t, "to_local") else t) for name, t in state.items()}


def engine_equals_actor(engine: dict[str, torch.Tensor], actor: dict[str, torch.Tensor]) -> list[str]:
    """Names of engine parameters that differ from the actor's (cast to the engine's dtype, a no-op in float32)."""
    differing = []
    for name, value in engine.items():
        expected = torch.cat([actor[part] for part in _vllm_name_to_actor(name)], dim=0).to(value.dtype)
        # vLLM pads the vocabulary rows of the embedding and the LM head; the padding is not the actor's.
        if not torch.equal(value[: expected.shape[0]], expected):
            differing.append(name)
    return differing


def _env(**extra) -> dict:
    # REVISUAL_VERBOSE: the assertions read the stage's full output, which the recipe otherwise keeps in its log.
    env = {**os.environ, "REVISUAL_DEVICE": "cpu", "PYTHONPATH": str(REPO), "PYTHON": sys.executable,
           "REVISUAL_VERBOSE": "1", **extra}
    env.pop("RAY_ADDRESS", None)
    return env


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("stage2_vllm")
    env = _env(REVISUAL_ROLLOUT_TRACE=str(work / "engine"))
    # The timeout only stops a hung run from blocking CI; no assertion is made on time.
    proc = subprocess.run(
        ["bash", str(REPO / "recipes" / "revisual_stage2.sh"), "+cpu_rollout=vllm", *FP32,
         f"trainer.total_training_steps={STEPS}", "trainer.save_freq=1"],
        cwd=work, env=env, capture_output=True, text=True, timeout=900,
    )
    out = work / "outputs" / "stage2_mrl_cpu"
    rows = [json.loads(line) for f in sorted((out / "metrics").glob("*.jsonl")) for line in f.read_text().splitlines() if line.strip()]
    return proc, {r["step"]: r["data"] for r in rows}, out / "checkpoints", work / "engine"


def _tail(proc):
    return (proc.stdout + proc.stderr)[-6000:]


def test_stage2_trains_two_steps_with_pad_through_vllms_server(run):
    proc, metrics, _, _ = run
    assert proc.returncode == 0, _tail(proc)
    assert sorted(metrics) == [1, 2]
    for data in metrics.values():
        assert "pad/num_effective" in data and "pad/num_selected" in data  # PAD chose what the actor trained on
    assert "vLLMHttpServer" in proc.stdout + proc.stderr  # the rollout ran in verl's vLLM server actor


def test_the_engine_holds_the_actors_weights_after_each_step(run):
    proc, metrics, checkpoints, engine_dir = run
    assert proc.returncode == 0, _tail(proc)
    syncs = sorted(engine_dir.glob("sync_*.pt"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    # One vLLM worker process (its pid names the files): the start-up sync, then one after each step.
    assert len({p.stem.split("_")[1] for p in syncs}) == 1 and len(syncs) == STEPS + 1
    engine = [torch.load(p) for p in syncs]
    updated = []
    for step in range(1, STEPS + 1):
        actor = actor_weights(checkpoints / f"global_step_{step}")
        assert engine_equals_actor(engine[step], actor) == [], f"after step {step}"
        # An update moved the weights, so equality is not the start-up weights seen twice. A step whose
        # groups were all stagnant has no update (PAD skips it), and its weights stay as they were.
        moved = any(not torch.equal(engine[step][n], engine[step - 1][n]) for n in engine[step])
        skipped = metrics[step]["pad/skipped_update"] == 1.0
        assert moved != skipped, f"step {step}: weights moved={moved}, update skipped={skipped}"
        updated.append(not skipped)
    assert any(updated), "every step skipped its update: nothing shows that an update reaches the engine"


def test_rollout_and_actor_probabilities_agree(run):
    proc, metrics, _, _ = run
    assert proc.returncode == 0, _tail(proc)
    for step, data in metrics.items():
        assert data["training/rollout_probs_diff_max"] < FP32_PROBS_DIFF_MAX, step


def test_stage3_trains_through_vllm_and_the_rollout_agrees_with_the_actor(tmp_path):
    # The timeout only stops a hung run from blocking CI; no assertion is made on time.
    proc = subprocess.run(
        ["bash", str(REPO / "recipes" / "revisual_stage3.sh"), "+cpu_rollout=vllm", "trainer.total_training_steps=1",
         "trainer.save_freq=-1"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, _tail(proc)
    assert "vLLMHttpServer" in proc.stdout + proc.stderr
    (metrics,) = sorted((tmp_path / "outputs").glob("*/metrics/*.jsonl"))
    (row,) = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    assert row["data"]["training/rollout_probs_diff_max"] < BF16_PROBS_DIFF_MAX


def test_the_evaluation_app_generates_with_vllm_on_images_and_text(tmp_path):
    from revisual_eval.fixtures import write_fixture_data
    from revisual_eval.runfiles import read_run_rows
    from verl_ext.tiny_model import build_tiny_model

    model = build_tiny_model(tmp_path / "tiny")
    data = write_fixture_data(tmp_path / "data")
    out = tmp_path / "run"
    # One image benchmark and one text benchmark; small images and answers keep the tiny engine quick.
    proc = subprocess.run(
        [sys.executable, "-m", "revisual_eval", "generate", "--model", str(model), "--data-root", str(data),
         "--out", str(out), "--backend", "vllm", "--benchmarks", "mathvista,math500", "--limit", "2",
         "--max-tokens", "8", "--min-pixels", "3136", "--max-pixels", "12544", "--no-progress"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, _tail(proc)
    for benchmark in ("mathvista", "math500"):
        rows = read_run_rows(out / f"{benchmark}.jsonl")
        assert len(rows) == 2 and all(isinstance(r["response"], str) for r in rows), benchmark
