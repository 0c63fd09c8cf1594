"""Stage outputs, markers, hand-off checks and the pipeline's pure helpers (no verl, no Ray)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from verl_ext.stages.merge import copy_support_files, latest_checkpoint, model_shard_dir
from verl_ext.stages.outputs import (
    IncompleteStageOutput,
    missing_model_files,
    read_complete_marker,
    require_complete_stage_output,
    write_complete_marker,
)
from verl_ext.stages.pipeline import override_value, parse_stage_list, read_metrics, summarize_metrics
from verl_ext.stages.text_rl import CPU_PROFILE_OVERRIDE, stage3_argv

REPO = Path(__file__).resolve().parents[2]


def write_model_dir(path: Path, vl: bool = True, weights: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    config = {"model_type": "qwen2_5_vl"}
    if vl:
        config["vision_config"] = {"depth": 2}
    (path / "config.json").write_text(json.dumps(config))
    (path / "tokenizer.json").write_text("{}")
    (path / "tokenizer_config.json").write_text("{}")
    (path / "preprocessor_config.json").write_text("{}")
    if weights:
        (path / "model.safetensors").write_bytes(b"\0" * 16)
    return path


def test_complete_model_dir_has_nothing_missing(tmp_path):
    assert missing_model_files(write_model_dir(tmp_path / "hf")) == []


def test_missing_weights_and_processor_are_named(tmp_path):
    model = write_model_dir(tmp_path / "hf", weights=False)
    (model / "preprocessor_config.json").unlink()
    missing = missing_model_files(model)
    assert "preprocessor_config.json" in missing
    assert any(m.startswith("model.safetensors") for m in missing)


def test_text_model_needs_no_image_processor(tmp_path):
    model = write_model_dir(tmp_path / "hf", vl=False)
    (model / "preprocessor_config.json").unlink()
    assert missing_model_files(model) == []


def test_sharded_weights_list_the_absent_shard(tmp_path):
    model = write_model_dir(tmp_path / "hf", weights=False)
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (model / "model.safetensors.index.json").write_text(json.dumps(index))
    (model / "model-00001-of-00002.safetensors").write_bytes(b"x")
    assert missing_model_files(model) == ["model-00002-of-00002.safetensors"]


def test_marker_round_trip_and_torn_marker_is_incomplete(tmp_path):
    write_complete_marker(tmp_path, {"output_path": "x", "steps": 3})
    assert read_complete_marker(tmp_path) == {"output_path": "x", "steps": 3}
    assert [p.name for p in tmp_path.iterdir()] == ["COMPLETE.json"]  # no temporary file left behind
    (tmp_path / "COMPLETE.json").write_text('{"output_path": "x", "st')
    assert read_complete_marker(tmp_path) is None


def test_partial_stage_output_is_refused_with_path_and_missing_files(tmp_path):
    stage = tmp_path / "stage1_cold_start"
    write_model_dir(stage / "hf", weights=False)
    with pytest.raises(IncompleteStageOutput) as err:
        require_complete_stage_output("stage 1 (cold start SFT)", stage, "stage 2 (multimodal RL)")
    message = str(err.value)
    assert str(stage.resolve()) in message
    assert "COMPLETE.json" in message and "model.safetensors" in message


def test_marker_without_its_model_is_refused(tmp_path):
    stage = tmp_path / "stage1_cold_start"
    model = write_model_dir(stage / "hf")
    write_complete_marker(stage, {"output_path": str(model)})
    (model / "model.safetensors").unlink()
    with pytest.raises(IncompleteStageOutput, match="model.safetensors"):
        require_complete_stage_output("stage 1", stage, "stage 2")


def test_complete_stage_output_returns_the_model(tmp_path):
    stage = tmp_path / "s"
    model = write_model_dir(stage / "hf")
    write_complete_marker(stage, {"output_path": str(model)})
    assert require_complete_stage_output("stage 1", stage, "stage 2") == model.resolve()


def test_pipeline_cli_refuses_partial_stage1_output(tmp_path):
    run_dir = tmp_path / "run"
    write_model_dir(run_dir / "stage1_cold_start" / "hf", weights=False)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "verl_ext.stages.pipeline", "--run-dir", str(run_dir), "--stages", "2,3"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )
    assert result.returncode == 2
    assert str((run_dir / "stage1_cold_start").resolve()) in result.stderr
    assert "model.safetensors" in result.stderr and "COMPLETE.json" in result.stderr
    assert not (run_dir / "stage2_mrl" / "logs").exists()  # refused before anything was launched


def test_latest_checkpoint_prefers_the_tracker(tmp_path):
    for step in (2, 4, 6):
        (tmp_path / f"global_step_{step}" / "actor").mkdir(parents=True)
    assert latest_checkpoint(tmp_path) == (6, tmp_path / "global_step_6")
    # verl writes the tracker after the folder: a newer folder without it is an unfinished save.
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("4")
    assert latest_checkpoint(tmp_path) == (4, tmp_path / "global_step_4")
    assert model_shard_dir(tmp_path / "global_step_4") == tmp_path / "global_step_4" / "actor"
    assert latest_checkpoint(tmp_path / "nothing") is None


def test_support_files_come_from_the_first_source_that_has_them(tmp_path):
    target, first, second = (tmp_path / n for n in ("t", "a", "b"))
    for d in (target, first, second):
        d.mkdir()
    (target / "tokenizer.json").write_text("target")
    (first / "tokenizer.json").write_text("first")
    (second / "chat_template.jinja").write_text("second")
    (first / "preprocessor_config.json").write_text("first")
    (second / "preprocessor_config.json").write_text("second")
    copied = copy_support_files(target, [first, second])
    assert sorted(copied) == ["chat_template.jinja", "preprocessor_config.json"]
    assert (target / "tokenizer.json").read_text() == "target"
    assert (target / "preprocessor_config.json").read_text() == "first"


def test_parse_stage_list():
    assert parse_stage_list("1,2,3") == [1, 2, 3]
    assert parse_stage_list("3, 2") == [2, 3]
    assert parse_stage_list("2-3") == [2, 3]
    with pytest.raises(ValueError):
        parse_stage_list("4")


def test_override_value_takes_the_last_and_accepts_plus_prefixes():
    args = ["a.b=1", "+model.path=/x", "c=2", "++model.path=/y"]
    assert override_value(args, "model.path") == "/y"
    assert override_value(args, "a.b") == "1"
    assert override_value(args, "missing") is None


def test_metrics_summary_takes_the_last_step_across_launches(tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(
        json.dumps({"step": 1, "data": {"loss": 3.0}}) + "\n" + json.dumps({"step": 2, "data": {"loss": 2.0}}) + "\n"
        + '{"step": 3, "da'  # torn by a kill -9
    )
    second.write_text(json.dumps({"step": 3, "data": {"loss": 1.5, "x": 1}}) + "\n")
    records = read_metrics([first, second, tmp_path / "absent.jsonl"])
    assert [r["step"] for r in records] == [1, 2, 3]
    assert summarize_metrics(records) == {"steps": 3, "final_metrics": {"loss": 1.5, "x": 1}}
    assert summarize_metrics([]) == {"steps": 0, "final_metrics": {}}


def test_stage3_command_line():
    assert stage3_argv(["a=1"], "cpu") == ["--config-name", "revisual_stage3", CPU_PROFILE_OVERRIDE, "a=1"]
    given = ["actor_rollout_ref.model.path=/m", "data.train_files=t", "data.val_files=v"]
    assert stage3_argv(given, "gpu") == ["--config-name", "revisual_stage3", *given]
    # an explicit profile choice is the user's
    assert stage3_argv(["text_rl_profile=gpu"], "cpu") == ["--config-name", "revisual_stage3", "text_rl_profile=gpu"]
