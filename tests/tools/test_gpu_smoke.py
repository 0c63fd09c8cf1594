"""tools/gpu_smoke.sh without a GPU: it skips cleanly; its CPU parity mode runs every part's command
with the CPU device and engines; every command's flags pass the real entry points (and a renamed one
fails); its checks fail on outputs that are wrong."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
import gpu_smoke  # noqa: E402

def _smoke(*args, timeout=300) -> subprocess.CompletedProcess:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHON": sys.executable}
    env.pop("RAY_ADDRESS", None)
    return subprocess.run(["bash", str(REPO / "tools" / "gpu_smoke.sh"), *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def test_without_a_gpu_every_part_prints_skip_and_the_exit_status_is_0(tmp_path):
    proc = _smoke("--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [f"SKIP {name}" for name, _, _ in gpu_smoke.PARTS]
    assert lines[0].startswith("SKIP gpu: no GPU visible to torch")
    assert lines[-1].startswith(f"gpu_smoke (gpu): 0 PASS, 0 FAIL, {len(gpu_smoke.PARTS)} SKIP")


@pytest.mark.e2e
def test_cpu_parity_runs_every_part_with_the_same_commands(tmp_path):
    # The CPU default's tiny model, as the e2e tests build it (cached): a warm start is minutes on 2 cores.
    from verl_ext.cpu_default import build_assets
    from verl_ext.devices import default_cache_dir

    model = build_assets(default_cache_dir(), keep_other_owners=True)
    # The timeout only stops a hung run from blocking CI; the smoke test's own budget bounds each part.
    proc = _smoke("--cpu-parity", "--model", model, "--out", tmp_path, timeout=1900)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert [line.split(":")[0] for line in lines[:-1]] == [f"PASS {name}" for name, _, _ in gpu_smoke.PARTS]
    assert "stage2: 1 steps through hf" in proc.stdout and "python -m revisual_eval (hf)" in proc.stdout
    # The runs were the GPU run's commands with the device and engines substituted.
    stage2_log = (tmp_path / "logs" / "stage2.log").read_text()
    assert "[revisual] device=cpu: REVISUAL_DEVICE=cpu is set" in stage2_log
    assert "actor_rollout_ref.rollout.name=hf" in stage2_log.splitlines()[0]


def test_every_command_passes_its_entry_points_flag_check(tmp_path):
    proc = _smoke("--check-flags", "--out", tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    checked = [line for line in proc.stdout.splitlines() if line.startswith(("OK ", "BAD "))]
    commands = {mode.name: gpu_smoke.part_commands(mode, gpu_smoke.layout_for(tmp_path, mode)) for mode in (gpu_smoke.GPU, gpu_smoke.CPU_PARITY)}
    expected = [f"OK {mode} {c.log}" for mode, parts in commands.items() for cs in parts.values() for c in cs]
    assert checked == expected


def test_the_parity_commands_differ_from_the_gpu_ones_in_device_engine_and_sizes_only(tmp_path):
    def flags(mode):
        parts = gpu_smoke.part_commands(mode, gpu_smoke.layout_for(tmp_path, gpu_smoke.GPU))
        return {c.log: [arg.split("=", 1)[0] if "=" in arg else arg for arg in c.argv if arg.startswith("-") or "=" in arg]
                for cs in parts.values() for c in cs}  # fmt: skip

    # Same commands, same flags and keys in the same order: only the values may differ.
    assert flags(gpu_smoke.GPU) == flags(gpu_smoke.CPU_PARITY)


def _renamed(command: gpu_smoke.Command) -> gpu_smoke.Command | None:
    """The command with its last flag (``--name`` or Hydra ``key=``) renamed; None if it has none."""
    argv = list(command.argv)
    for i in reversed(range(len(argv))):
        if argv[i].startswith("--"):
            argv[i] += "-renamed"
            break
        if argv[0] == "bash" and i > 1 and "=" in argv[i]:
            key, value = argv[i].split("=", 1)
            argv[i] = f"{key}_renamed={value}"
            break
    else:
        return None
    return gpu_smoke.Command(command.log, tuple(argv), command.env)


def test_a_renamed_flag_in_any_part_fails_the_check(tmp_path):
    mode = gpu_smoke.GPU
    renamed = [_renamed(c) for cs in gpu_smoke.part_commands(mode, gpu_smoke.layout_for(tmp_path, mode)).values() for c in cs]
    renamed = [c for c in renamed if c is not None]
    assert {c.log for c in renamed} >= {"model_data", "model_fixtures", "model_build", "stage2", "stage3", "stage1",
                                        "eval", "eval_dp"}  # fmt: skip
    for command in renamed:
        with pytest.raises(gpu_smoke.Failure):
            gpu_smoke.check_command(command, mode)


def test_a_part_whose_share_of_the_budget_is_spent_skips_and_fails_the_run_on_a_gpu(tmp_path, capsys):
    import time

    parts = [("gpu", lambda s: "card", []),
             ("late", lambda s: s.run(gpu_smoke.Command("late", (sys.executable, "-c", "pass"))), ["gpu"])]  # fmt: skip
    smoke = gpu_smoke.Smoke(out=tmp_path, deadline=time.monotonic() + 3600)
    results = gpu_smoke.run_parts(smoke, parts, shares={"gpu": 0.0, "late": 0.0})
    assert results == {"gpu": "PASS", "late": "SKIP"}
    assert "SKIP late: its share of the time budget is spent" in capsys.readouterr().out
    assert gpu_smoke.exit_status(results) == 1
    assert gpu_smoke.exit_status({"gpu": "SKIP", "late": "SKIP"}) == 0  # no GPU here: nothing could run


def _row(step, effective, selected, unique, optimizer_steps):
    return {"step": step, "data": {"pad/num_effective": effective, "pad/num_selected": selected,
                                   "pad/num_unique_selected": unique, "actor/optimizer_steps": optimizer_steps}}  # fmt: skip


def test_the_pad_check_passes_repeats_padded_to_whole_mini_batches():
    # 8 prompts x 4 rollouts = 32 sequences; 1.5 x 32 = 48 draws, padded to 64 = two mini-batches.
    assert gpu_smoke.check_pad([_row(1, 20, 48, 17, 2), _row(2, 0, 0, 0, 2)]).startswith("step 1: 48 drawn, 17 unique")
    # The parity run's 4 x 4 = 16: 24 draws in two steps of whole micro-batches of 8 = 32.
    assert gpu_smoke.check_pad([_row(1, 10, 32, 12, 2)], gpu_smoke.CPU_PARITY).startswith("step 1: 32 drawn")


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
    actor = tmp_path / "checkpoints" / f"global_step_{gpu_smoke.GPU.steps}" / "actor"
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
