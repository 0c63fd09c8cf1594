"""Everything a launch can check is checked before Ray starts, refused with exit 2 and one message naming
the key, the file and the row: reward terms (imported, signatures), resume settings and trackers, number
keys, data files and their rows, and prompts that verl's own length filter would drop."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from omegaconf import OmegaConf

from verl_ext.preflight import apply_resume_choice, check_settings, prepare_sft_run
from verl_ext.preflight.checkpoints import CorruptCheckpoint, choose_resume_checkpoint
from verl_ext.preflight.data_rows import BadData, check_data
from verl_ext.preflight.keys import BadSetting, check_reward_terms

TRACKER = "latest_checkpointed_iteration.txt"


def config_of(tree):
    config = OmegaConf.create(tree)
    OmegaConf.set_struct(config, True)
    return config


def test_a_reward_file_with_a_syntax_error_is_refused_before_ray(tmp_path, launch):
    bad = tmp_path / "syntax_err.py"
    bad.write_text("def good(response):\n    return 1.0\n\ndef broken(:\n    pass\n")
    done = launch(tmp_path, "-m", "verl_ext.trainer.main", f"reward.terms={{accuracy:0.9,{bad}:good:0.1}}",
                  f"trainer.default_local_dir={tmp_path / 'ckpt'}")
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"[revisual] error: reward.terms: '{bad}:good': SyntaxError in {bad}, line 4" in done.stderr
    assert "Traceback" not in done.stderr and "ray init" not in done.stdout.lower()


def test_a_missing_function_and_a_signature_the_scorer_cannot_call_are_named(tmp_path):
    terms = tmp_path / "terms.py"
    terms.write_text("def needs_row(response, row):\n    return 0.0\n\ndef ok(response, **rest):\n    return 1.0\n")
    with pytest.raises(BadSetting, match=rf"'{terms}:needs_row': needs_row \({terms}, line 1\): needs parameter 'row'"):
        check_reward_terms(config_of({"reward": {"terms": {"accuracy": 0.9, f"{terms}:needs_row": 0.1}}}))
    with pytest.raises(BadSetting, match=f"{terms} has no function 'missing'"):
        check_reward_terms(config_of({"reward": {"terms": {f"{terms}:missing": 1.0}}}))
    check_reward_terms(config_of({"reward": {"terms": {"accuracy": 0.9, f"{terms}:ok": 0.1}}}))


def save_step(root, step, rl=True):
    shards = root / f"global_step_{step}" / ("actor" if rl else "")
    shards.mkdir(parents=True)
    torch.save({"w": torch.zeros(4)}, shards / "model_world_size_1_rank_0.pt")
    return root / f"global_step_{step}"


def trainer(tmp_path, **keys):
    return config_of({"trainer": {"default_local_dir": str(tmp_path), "resume_mode": "auto", "resume_from_path": None,
                                  "on_corrupt_checkpoint": "fail", "total_training_steps": None, **keys},
                      "data": {"train_files": [], "train_batch_size": 4}})


def test_resume_path_without_a_path_is_a_refusal_with_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        prepare_sft_run(trainer(tmp_path, resume_mode="resume_path"), rank=1)
    assert stopped.value.code == 2
    assert "trainer.resume_mode=resume_path needs trainer.resume_from_path" in capsys.readouterr().err


def test_a_resume_path_that_does_not_exist_is_said_so_not_called_damaged(tmp_path):
    with pytest.raises(ValueError, match="does not exist") as refused:
        choose_resume_checkpoint(tmp_path, "resume_path", str(tmp_path / "global_step_9"), "fail")
    assert "damaged" not in str(refused.value)


def test_an_sft_step_folder_is_refused_as_an_rl_checkpoint(tmp_path):
    sft_step = save_step(tmp_path / "stage1", 4, rl=False)
    config = trainer(tmp_path / "stage2", resume_mode="resume_path", resume_from_path=str(sft_step))
    with pytest.raises(ValueError, match=rf"{sft_step} is not an RL checkpoint: it has no actor/ folder"):
        apply_resume_choice(config, needs_actor=True)
    rl_step = save_step(tmp_path / "stage2", 2)
    config = trainer(tmp_path / "stage2", resume_mode="resume_path", resume_from_path=str(rl_step))
    apply_resume_choice(config, needs_actor=True)  # an RL step folder passes


@pytest.mark.parametrize("text", ["", "  \n", "4x"])
def test_an_empty_or_non_numeric_tracker_is_named_and_the_intact_step_offered(tmp_path, text):
    save_step(tmp_path, 4)
    (tmp_path / TRACKER).write_text(text)
    with pytest.raises(CorruptCheckpoint) as refused:
        choose_resume_checkpoint(tmp_path, "auto", None, "fail")
    assert str(tmp_path / TRACKER) in str(refused.value)
    assert f"The latest intact checkpoint is {tmp_path / 'global_step_4'}" in str(refused.value)
    choice = choose_resume_checkpoint(tmp_path, "auto", None, "use_intact")
    assert choice.folder == tmp_path / "global_step_4" and choice.switched


@pytest.mark.parametrize("key,value", [("reward.score_timeout_s", "abc"), ("data.train_batch_size", "4x"),
                                       ("trainer.total_training_steps", 2.5), ("reward.abort_failed_frac", True)])
def test_number_keys_of_the_wrong_type_are_refused_naming_the_key(key, value, capsys):
    section, name = key.split(".")
    with pytest.raises(SystemExit) as stopped:
        check_settings(config_of({section: {name: value}}))
    assert stopped.value.code == 2
    assert f"[revisual] error: {key} must be" in capsys.readouterr().err


def rl_rows(prompts, png):
    return [{"data_source": "t", "prompt": p, "images": [{"bytes": png()}],
             "reward_model": {"style": "rule", "ground_truth": "red"}} for p in prompts]


def user(text):
    return [{"role": "user", "content": text}]


def rl_config(tmp_path, model, train, val):
    return config_of({
        "data": {"train_files": str(train), "val_files": str(val), "prompt_key": "prompt", "image_key": "images",
                 "max_prompt_length": 256, "filter_overlong_prompts": True, "truncation": "left",
                 "cache_dir": str(tmp_path / "cache"),
                 "custom_cls": {"path": "pkg://verl_ext.cpu.dataset", "name": "CPURLHFDataset"}},
        "actor_rollout_ref": {"model": {"path": str(model)}}})


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from verl_ext.cpu.processor import register_torchvision_free_processor
    from verl_ext.tiny_model import build_tiny_model

    register_torchvision_free_processor()
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-qwen25vl")


def test_missing_files_and_rows_verl_would_skip_are_named_by_row(tmp_path, png, tiny_model):
    val = tmp_path / "val.parquet"
    pq.write_table(pa.Table.from_pylist(rl_rows([user("<image>What colour?")], png)), val)
    with pytest.raises(BadData, match=f"{tmp_path / 'nope.parquet'}: the data file does not exist"):
        check_data(rl_config(tmp_path, tiny_model, tmp_path / "nope.parquet", val), print)
    rows = rl_rows([user("<image>What colour?"), [{"role": "user"}], user("<image>And here?")], png)
    rows[2]["reward_model"] = {"style": "rule", "ground_truth": None}
    train = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist(rows), train)
    with pytest.raises(BadData) as refused:
        check_data(rl_config(tmp_path, tiny_model, train, val), print)
    assert str(refused.value) == (
        f"{train}: 2 of 3 rows cannot be used (verl would skip them silently): row 1: prompt[0].content: missing "
        "(verl would skip this row); row 2: reward_model.ground_truth: missing (the reward manager scores against it)")


def test_prompts_over_max_prompt_length_are_counted_and_none_left_is_refused(tmp_path, png, tiny_model):
    long = user("<image>" + "tell me the colour of this square " * 60)
    short = user("<image>What colour?")
    val, some, none = tmp_path / "val.parquet", tmp_path / "some.parquet", tmp_path / "none.parquet"
    pq.write_table(pa.Table.from_pylist(rl_rows([short], png)), val)
    pq.write_table(pa.Table.from_pylist(rl_rows([short, long, short, long, long], png)), some)
    pq.write_table(pa.Table.from_pylist(rl_rows([long, long], png)), none)
    said = []
    check_data(rl_config(tmp_path, tiny_model, some, val), said.append)
    assert said == [f"warning: data.train_files: 3 of 5 rows of {some} are longer than data.max_prompt_length=256 "
                    "tokens; verl leaves them out"]
    with pytest.raises(BadData, match=rf"data.train_files: none of the 2 prompts of {none} fits in "
                                      r"data.max_prompt_length=256 tokens"):
        check_data(rl_config(tmp_path, tiny_model, none, val), print)
