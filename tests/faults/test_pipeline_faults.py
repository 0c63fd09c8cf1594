"""Pipeline and launcher faults: the summary keeps the records of stages not rerun; run paths with spaces,
commas or quotes reach the stages intact; a misspelt Hydra key stops the launch before anything starts."""

import json

from hydra.core.override_parser.overrides_parser import OverridesParser
from hypothesis import given, settings
from hypothesis import strategies as st

from verl_ext.stages.outputs import write_complete_marker
from verl_ext.stages.pipeline import STAGES, Pipeline, hydra_quoted


def complete_stage(run_dir, name, steps):
    """A finished stage: a loadable-looking HF folder and its marker (the pipeline then skips the stage)."""
    model = run_dir / name / "hf"
    model.mkdir(parents=True)
    (model / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl", "vision_config": {}}))
    for file in ("tokenizer.json", "tokenizer_config.json", "preprocessor_config.json"):
        (model / file).write_text("{}")
    (model / "model.safetensors").write_bytes(b"\0" * 16)
    record = {"name": name, "output_path": str(model), "checkpoint_dir": str(run_dir / name / "checkpoints"),
              "metrics_files": [], "log_files": [], "wall_time_s": 9.0, "steps": steps, "final_metrics": {"x": 1}}
    write_complete_marker(run_dir / name, record)
    return record


def test_rerunning_some_stages_keeps_the_summary_of_the_others_and_clears_stale_merges(tmp_path, launch):
    run_dir = tmp_path / "run"
    stage1 = {**complete_stage(run_dir, "stage1_cold_start", 4), "status": "ran"}
    complete_stage(run_dir, "stage2_mrl", 3)
    complete_stage(run_dir, "stage3_trl", 3)
    (run_dir / "run_summary.json").write_text(json.dumps(
        {"run_dir": str(run_dir), "stages": {"stage2_mrl": {"status": "old"}, "stage1_cold_start": stage1}}))
    # A merge killed half-way (before this change such folders stayed forever, up to a model's size each).
    stale_merge = run_dir / "stage2_mrl" / ".hf.merging.k2j3h4g5"
    (stale_merge / "part").mkdir(parents=True)
    done = launch(tmp_path, "-m", "verl_ext.stages.pipeline", "--run-dir", run_dir, "--stages", "2,3")
    assert done.returncode == 0, done.stderr
    assert not stale_merge.exists() and f"removed {stale_merge}, left by an interrupted merge" in done.stdout
    stages = json.loads((run_dir / "run_summary.json").read_text())["stages"]
    assert list(stages) == ["stage1_cold_start", "stage2_mrl", "stage3_trl"]
    assert stages["stage1_cold_start"] == stage1
    assert [stages[n]["status"] for n in ("stage2_mrl", "stage3_trl")] == ["skipped", "skipped"]


PATH_CHARACTERS = st.text(st.sampled_from("ab/ .,()[]{}'\"\\=:+-_~#@!%&*?<>|;é"), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(path=PATH_CHARACTERS)
def test_any_path_survives_as_a_hydra_override_value(path):
    override = OverridesParser.create().parse_override(f"trainer.default_local_dir={hydra_quoted(path)}")
    assert not override.is_sweep_override() and override.value() == path


def test_the_pipeline_passes_paths_with_spaces_and_commas_to_every_stage(tmp_path):
    run_dir = tmp_path / "My Drive (1)" / "run,a"
    pipeline = Pipeline(run_dir, [1, 2, 3], [], {})
    parser = OverridesParser.create()
    for stage in STAGES:
        model = tmp_path / "it's a model" if stage.number > 1 else None
        overrides = [arg for arg in pipeline.command(stage, model) if "=" in arg and not arg.startswith("--")]
        values = {o.key_or_group: o.value() for o in map(parser.parse_override, overrides)}
        assert values["trainer.default_local_dir"] == str(run_dir.resolve() / stage.name / "checkpoints")
        if model is not None:
            assert values[stage.model_key] == str(model)


def test_a_misspelt_hydra_key_stops_the_launch_before_anything_starts(tmp_path, launch):
    done = launch(tmp_path, "-m", "verl_ext.trainer.main", "trainer.totl_training_steps=3",
                  f"trainer.default_local_dir={tmp_path / 'ckpt'}")
    assert done.returncode == 1
    assert "Could not override 'trainer.totl_training_steps'" in done.stderr
    assert "Key 'totl_training_steps' is not in struct" in done.stderr
    assert not (tmp_path / "ckpt").exists() and "ray init" not in done.stdout


def test_a_verl_option_that_reorders_rows_inside_the_advantage_step_is_refused_before_ray(tmp_path, launch):
    # verl's PF-PPO resamples rows inside _compute_advantage and pairs them with the old advantages (verl
    # issue 7956); PAD pairs rows by position there, so the combination would train on mismatched rows.
    done = launch(tmp_path, "-m", "verl_ext.trainer.main", "algorithm.adv_estimator=gae", "algorithm.use_pf_ppo=true",
                  f"trainer.default_local_dir={tmp_path / 'ckpt'}")
    assert done.returncode == 2, done.stderr[-3000:]
    assert "algorithm.use_pf_ppo=true is not supported" in done.stderr and "7956" in done.stderr
    assert not (tmp_path / "ckpt").exists() and "ray init" not in done.stdout
