"""A damaged checkpoint is found before verl loads it: the message names the file and the latest intact
checkpoint; ``trainer.on_corrupt_checkpoint=use_intact`` resumes from that one. Checkpoints here are real
``torch.save`` archives in verl's layout; the RL end-to-end version is in test_training_e2e.py."""

import json

import pytest
import torch
from omegaconf import OmegaConf

from verl_ext.preflight import apply_resume_choice
from verl_ext.preflight.checkpoints import CorruptCheckpoint, checkpoint_problems, choose_resume_checkpoint

TRACKER = "latest_checkpointed_iteration.txt"


def save_step(root, step, world=1, rl=True):
    """``global_step_N`` as verl writes it: shards per rank (under ``actor/`` for RL), data.pt, JSON files."""
    step_dir = root / f"global_step_{step}"
    shards = step_dir / "actor" if rl else step_dir
    (shards / "huggingface").mkdir(parents=True)
    for rank in range(world):
        torch.save({"w": torch.full((64,), float(step))}, shards / f"model_world_size_{world}_rank_{rank}.pt")
        torch.save({"state": {}}, shards / f"optim_world_size_{world}_rank_{rank}.pt")
        torch.save({"rng": rank}, shards / f"extra_state_world_size_{world}_rank_{rank}.pt")
    (shards / "huggingface" / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    torch.save({"sampler": step}, step_dir / "data.pt")
    (root / TRACKER).write_text(str(step))
    return step_dir


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_an_intact_checkpoint_has_no_problem(tmp_path):
    assert checkpoint_problems(save_step(tmp_path, 2, world=2)) == []
    assert checkpoint_problems(save_step(tmp_path, 4, rl=False)) == []


def test_each_kind_of_damage_is_named_by_its_file(tmp_path):
    step = save_step(tmp_path, 2, world=2)
    truncate(step / "actor" / "model_world_size_2_rank_0.pt")
    (step / "actor" / "optim_world_size_2_rank_1.pt").unlink()
    (step / "data.pt").write_bytes(b"")
    (step / "actor" / "huggingface" / "config.json").write_text('{"model_type": ')
    problems = checkpoint_problems(step)
    assert problems == [
        f"{step / 'data.pt'}: empty file",
        f"{step / 'actor' / 'optim_world_size_2_rank_1.pt'}: missing",
        f"{step / 'actor' / 'model_world_size_2_rank_0.pt'}: not a complete zip archive (File is not a zip file); "
        "the file was probably truncated",
        f"{step / 'actor' / 'huggingface' / 'config.json'}: unreadable JSON (Expecting value: line 1 column 16 (char 15))",
    ]
    # What verl would have met instead, with no file named:
    with pytest.raises(RuntimeError, match="PytorchStreamReader failed reading zip archive"):
        torch.load(step / "actor" / "model_world_size_2_rank_0.pt")


def test_a_damaged_resume_checkpoint_is_refused_offering_the_latest_intact_one(tmp_path):
    for step in (1, 2, 3):
        save_step(tmp_path, step)
    truncate(tmp_path / "global_step_3" / "actor" / "model_world_size_1_rank_0.pt")
    truncate(tmp_path / "global_step_2" / "data.pt")
    with pytest.raises(CorruptCheckpoint) as refused:
        choose_resume_checkpoint(tmp_path, "auto", None, "fail")
    message = str(refused.value)
    assert message.startswith(f"the checkpoint to resume from, {tmp_path / 'global_step_3'}, is damaged: ")
    assert f"{tmp_path / 'global_step_3' / 'actor' / 'model_world_size_1_rank_0.pt'}: not a complete zip archive" in message
    assert f"The latest intact checkpoint is {tmp_path / 'global_step_1'}: resume from it with " \
           "trainer.on_corrupt_checkpoint=use_intact" in message
    choice = choose_resume_checkpoint(tmp_path, "auto", None, "use_intact")
    assert choice.folder == tmp_path / "global_step_1" and choice.switched
    assert (tmp_path / TRACKER).read_text() == "3"  # nothing is renamed or deleted
    assert checkpoint_problems(tmp_path / "global_step_1") == []


def test_the_tracker_naming_a_missing_folder_is_damage_too(tmp_path):
    save_step(tmp_path, 1)
    (tmp_path / TRACKER).write_text("5")
    with pytest.raises(CorruptCheckpoint, match="global_step_5: the folder does not exist"):
        choose_resume_checkpoint(tmp_path, "auto", None, "fail")


def test_without_an_intact_checkpoint_only_a_fresh_start_is_offered(tmp_path):
    truncate(save_step(tmp_path, 1) / "actor" / "model_world_size_1_rank_0.pt")
    for on_corrupt in ("fail", "use_intact"):
        with pytest.raises(CorruptCheckpoint, match="No intact earlier checkpoint .* trainer.resume_mode=disable"):
            choose_resume_checkpoint(tmp_path, "auto", None, on_corrupt)


def test_nothing_to_check_when_verl_would_not_resume(tmp_path):
    assert choose_resume_checkpoint(tmp_path / "none", "auto", None, "fail").folder is None
    truncate(save_step(tmp_path, 1) / "actor" / "model_world_size_1_rank_0.pt")
    assert choose_resume_checkpoint(tmp_path, "disable", None, "fail").folder is None
    with pytest.raises(CorruptCheckpoint):  # an explicit resume_path is checked like the tracker's choice
        choose_resume_checkpoint(tmp_path, "resume_path", str(tmp_path / "global_step_1"), "fail")
    with pytest.raises(ValueError, match="on_corrupt_checkpoint"):
        choose_resume_checkpoint(tmp_path, "auto", None, "ignore")


def test_use_intact_points_verl_at_the_intact_checkpoint(tmp_path):
    for step in (2, 4):
        save_step(tmp_path, step)
    truncate(tmp_path / "global_step_4" / "actor" / "optim_world_size_1_rank_0.pt")
    config = OmegaConf.create({"trainer": {"default_local_dir": str(tmp_path), "resume_mode": "auto",
                                           "resume_from_path": None, "on_corrupt_checkpoint": "use_intact"}})
    OmegaConf.set_struct(config, True)
    apply_resume_choice(config)
    assert config.trainer.resume_mode == "resume_path"
    assert config.trainer.resume_from_path == str(tmp_path / "global_step_2")


def test_the_sft_launcher_refuses_a_damaged_checkpoint_before_training(tmp_path, launch):
    checkpoints = tmp_path / "ckpt"
    save_step(checkpoints, 2, rl=False)
    save_step(checkpoints, 4, rl=False)
    damaged = checkpoints / "global_step_4" / "model_world_size_1_rank_0.pt"
    truncate(damaged)
    before = {p: p.read_bytes() for p in checkpoints.rglob("*") if p.is_file() and p.name != ".revisual.lock"}
    done = launch(tmp_path, "-m", "verl_ext.stages.sft", f"trainer.default_local_dir={checkpoints}")
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"{damaged}: not a complete zip archive" in done.stderr
    assert f"The latest intact checkpoint is {checkpoints / 'global_step_2'}" in done.stderr
    after = {p: p.read_bytes() for p in checkpoints.rglob("*") if p.is_file() and p.name != ".revisual.lock"}
    assert after == before  # no checkpoint lost or touched
