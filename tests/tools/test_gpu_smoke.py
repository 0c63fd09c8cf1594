"""tools/gpu_smoke.sh without a GPU: it skips cleanly, its overrides pass verl's own validation with
the GPU profile, and its checks fail on outputs that are wrong."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
import gpu_smoke  # noqa: E402


def test_without_a_gpu_every_part_prints_skip_and_the_exit_status_is_0(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        ["bash", str(REPO / "tools" / "gpu_smoke.sh"), "--out", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [f"SKIP {name}" for name, _, _ in gpu_smoke.PARTS]
    assert lines[0].startswith("SKIP gpu: no GPU visible to torch")
    assert lines[-1].startswith(f"gpu_smoke: 0 PASS, 0 FAIL, {len(gpu_smoke.PARTS)} SKIP")


def test_the_smoke_overrides_pass_verls_validation_with_the_gpu_profile(tmp_path):
    # The shipped GPU profile is composed exactly as the recipes compose it, plus the smoke test's overrides.
    rl2 = gpu_smoke.rl_overrides("/m", "/d/train.parquet", "/d/val.parquet", tmp_path / "s2", "stage2_smoke")
    rl3 = gpu_smoke.rl_overrides("/m", "/d/train.parquet", "/d/val.parquet", tmp_path / "s3", "stage3_smoke")
    sft = gpu_smoke.sft_overrides("/m", "/d/train.parquet", "/d/val.parquet", tmp_path / "s1")
    script = textwrap.dedent(
        """
        import json, sys
        from hydra import compose, initialize_config_dir
        import verl_ext.plugin
        from verl.trainer.main_ppo import need_critic, need_reference_policy
        from verl.utils.config import validate_config
        from verl_ext.settings import validate_revisual_config

        cases = json.loads(sys.argv[1])
        with initialize_config_dir(config_dir=sys.argv[2], version_base=None):
            for name, overrides in cases["rl"]:
                cfg = compose(name, overrides=overrides)
                validate_config(cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
                settings = validate_revisual_config(cfg)
                print(name, cfg.actor_rollout_ref.rollout.name, cfg.trainer.device, settings.pad.filter_on,
                      cfg.actor_rollout_ref.actor.freeze_vision_tower)
            cfg = compose("revisual_stage1", overrides=cases["sft"])
            print("revisual_stage1", cfg.trainer.total_training_steps, cfg.model.use_remove_padding)
        """
    )
    cases = {
        "rl": [["revisual_stage2", ["device_profile=gpu", *rl2, *gpu_smoke.PAD_RELEASED_CODE]],
               ["revisual_stage3", ["device_profile=gpu", "text_rl_profile=gpu", *rl3]]],
        "sft": ["sft_profile=gpu", *sft],
    }  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("REVISUAL_DEVICE", "VERL_PLATFORM")}
    env.update(PYTHONPATH=str(REPO), VERL_USE_EXTERNAL_MODULES="verl_ext.plugin")
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(cases), str(REPO / "verl_ext" / "config")],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert [line for line in proc.stdout.splitlines() if line.startswith("revisual_stage")] == [
        "revisual_stage2 vllm cuda advantage False",
        "revisual_stage3 vllm cuda reward_std True",
        "revisual_stage1 2 True",
    ]


def _row(step, effective, selected, unique, optimizer_steps):
    return {"step": step, "data": {"pad/num_effective": effective, "pad/num_selected": selected,
                                   "pad/num_unique_selected": unique, "actor/optimizer_steps": optimizer_steps}}  # fmt: skip


def test_the_pad_check_passes_repeats_padded_to_whole_mini_batches():
    # 8 prompts x 4 rollouts = 32 sequences; 1.5 x 32 = 48 draws, padded to 64 = two mini-batches.
    assert gpu_smoke.check_pad([_row(1, 20, 48, 17, 2), _row(2, 0, 0, 0, 2)]).startswith("step 1: 48 drawn, 17 unique")


@pytest.mark.parametrize(
    "rows,message",
    [
        ([_row(1, 20, 32, 17, 2)], "32 drawn, expected 48"),
        ([_row(1, 20, 48, 48, 2)], "no repeated draw"),
        ([_row(1, 20, 48, 17, 1)], "1 optimizer steps, expected 2"),
        ([_row(1, 0, 0, 0, 0), _row(2, 0, 0, 0, 0)], "PAD had nothing to draw from"),
    ],
)
def test_the_pad_check_fails_without_repeats_padding_or_draws(rows, message):
    with pytest.raises(gpu_smoke.Failure, match=message):
        gpu_smoke.check_pad(rows)


def _frozen_fixture(tmp_path, move_vision: bool, move_language: bool) -> tuple[Path, Path]:
    from safetensors.torch import save_file

    initial = {"model.visual.blocks.0.attn.qkv.weight": torch.ones(2, 2), "model.language_model.layers.0.mlp.weight": torch.ones(2),
               "lm_head.weight": torch.ones(3)}  # fmt: skip
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    save_file(initial, str(model_dir / "model.safetensors"))
    # The trainer's shard names the in-memory modules (no "language_model.") and keeps fp32 tensors.
    shard = {"visual.blocks.0.attn.qkv.weight": torch.ones(2, 2) + (1e-3 if move_vision else 0),
             "model.layers.0.mlp.weight": torch.ones(2) + (1e-3 if move_language else 0), "lm_head.weight": torch.ones(3)}  # fmt: skip
    actor = tmp_path / "checkpoints" / f"global_step_{gpu_smoke.SMOKE_STEPS}" / "actor"
    actor.mkdir(parents=True)
    torch.save(shard, actor / "model_world_size_1_rank_0.pt")
    return tmp_path / "checkpoints", model_dir


def test_the_frozen_vision_check_reads_the_checkpoint(tmp_path):
    assert gpu_smoke.check_frozen_vision(*_frozen_fixture(tmp_path, False, True)) == (
        "1 vision tensors bit-identical, 1 of 2 language tensors moved"
    )


@pytest.mark.parametrize("move_vision,move_language,message", [(True, True, "vision weights changed"), (False, False, "none of 2 language")])
def test_the_frozen_vision_check_fails_on_a_moved_tower_or_a_still_language_model(tmp_path, move_vision, move_language, message):
    with pytest.raises(gpu_smoke.Failure, match=message):
        gpu_smoke.check_frozen_vision(*_frozen_fixture(tmp_path, move_vision, move_language))


def test_a_failed_part_does_not_stop_the_rest_and_its_dependents_say_why(tmp_path, capsys):
    def fails(smoke):
        raise gpu_smoke.Failure("broken")

    def crashes(smoke):
        raise KeyError("metric")

    parts = [("gpu", lambda s: "card", []), ("a", fails, ["gpu"]), ("b", lambda s: "fine", ["gpu"]),
             ("c", lambda s: "never", ["a"]), ("d", crashes, ["b"])]  # fmt: skip
    smoke = gpu_smoke.Smoke(out=tmp_path, deadline=float("inf"))
    assert gpu_smoke.run_parts(smoke, parts) == {"gpu": "PASS", "a": "FAIL", "b": "PASS", "c": "SKIP", "d": "FAIL"}
    lines = capsys.readouterr().out.splitlines()
    assert lines[3] == "SKIP c: needs a"
    assert lines[4].startswith("FAIL d: KeyError: 'metric'")
