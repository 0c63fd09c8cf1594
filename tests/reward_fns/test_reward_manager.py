"""The verl reward-loop manager ``revisual``, run in-process (no Ray, no trainer)."""

import importlib
import pathlib

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from verl import DataProto

REPO = pathlib.Path(__file__).resolve().parents[2]
WORDS = ["<pad>", "<unk>", "<think>", "</think>", "\\boxed{4}", "\\boxed{5}", "\\boxed{x", "two", "plus", "is", "four"]


@pytest.fixture(scope="module")
def tokenizer():
    vocab = {w: i for i, w in enumerate(WORDS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", unk_token="<unk>")


@pytest.fixture(scope="module")
def manager_module():
    import verl_ext.reward_manager as module

    return module


def _sample(tokenizer, text: str, ground_truth: str, response_slots: int = 12) -> DataProto:
    prompt_ids = tokenizer("two plus two")["input_ids"]
    response_ids = tokenizer(text)["input_ids"]
    pad = tokenizer.pad_token_id
    responses = response_ids + [pad] * (response_slots - len(response_ids))
    attention = [1] * len(prompt_ids) + [1] * len(response_ids) + [0] * (response_slots - len(response_ids))
    return DataProto.from_dict(
        tensors={
            "prompts": torch.tensor([prompt_ids]),
            "responses": torch.tensor([responses]),
            "attention_mask": torch.tensor([attention]),
        },
        non_tensors={
            "data_source": np.array(["mmrl"], dtype=object),
            "reward_model": np.array([{"ground_truth": ground_truth}], dtype=object),
            "extra_info": np.array([{"index": 0}], dtype=object),
        },
    )


def _config(**reward):
    base = {"terms": {"accuracy": 0.9, "efficient_length": 0.1}, "length_budget": 5, "length_alpha": 0.1,
            "length_delta": 0.5, "score_timeout_s": 30.0, "score_workers": 1}
    base.update(reward)
    return OmegaConf.create({"reward": base})


def test_registered_and_reimport_safe(manager_module):
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls

    assert get_reward_manager_cls("revisual") is manager_module.RevisualRewardManager
    importlib.reload(manager_module)  # a second execution of the module must not fail
    assert get_reward_manager_cls("revisual").__name__ == "RevisualRewardManager"


@pytest.mark.asyncio
async def test_run_single_scores_with_lengths(manager_module, tokenizer):
    manager = manager_module.RevisualRewardManager(_config(), tokenizer, None)
    # 5 response tokens = the budget -> efficient_length = delta = 0.5
    right = await manager.run_single(_sample(tokenizer, "<think> two plus </think> \\boxed{4}", "4"))
    assert right["reward_score"] == pytest.approx(0.9 + 0.1 * 0.5)
    assert right["reward_extra_info"] == {
        "acc": 1.0, "term/accuracy": 1.0, "term/efficient_length": 0.5, "reward_timeout": 0.0, "reward_error": 0.0,
    }
    # 2 tokens: 0.1 * (5 - 2) + 0.5 = 0.8
    wrong = await manager.run_single(_sample(tokenizer, "two \\boxed{5}", "4"))
    assert wrong["reward_score"] == pytest.approx(0.1 * 0.8)
    assert wrong["reward_extra_info"]["acc"] == 0.0
    truncated = await manager.run_single(_sample(tokenizer, "two \\boxed{x", "4"))
    assert truncated["reward_extra_info"]["acc"] == 0.0
    assert set(truncated["reward_extra_info"]) == set(right["reward_extra_info"])


@pytest.mark.asyncio
async def test_crash_and_hang_score_zero(manager_module, tokenizer, tmp_path):
    reward_file = tmp_path / "bad_rewards.py"
    reward_file.write_text(
        "import time\n"
        "def explode(response):\n    raise RuntimeError('user bug')\n"
        "def hang(response):\n    time.sleep(120)\n    return 1.0\n"
    )
    crashing = manager_module.RevisualRewardManager(
        _config(terms={"accuracy": 1.0, f"{reward_file}:explode": 0.5}), tokenizer, None
    )
    out = await crashing.run_single(_sample(tokenizer, "\\boxed{4}", "4"))
    assert out["reward_score"] == 0.0
    assert out["reward_extra_info"]["reward_error"] == 1.0 and out["reward_extra_info"]["acc"] == 0.0

    hanging = manager_module.RevisualRewardManager(
        _config(terms={"accuracy": 1.0, f"{reward_file}:hang": 0.5}, score_timeout_s=1.0), tokenizer, None
    )
    out = await hanging.run_single(_sample(tokenizer, "\\boxed{4}", "4"))
    assert out["reward_score"] == 0.0 and out["reward_extra_info"]["reward_timeout"] == 1.0
    # The next sample is scored normally by the respawned worker.
    fine = manager_module.RevisualRewardManager(_config(terms={"accuracy": 1.0}), tokenizer, None)
    assert (await fine.run_single(_sample(tokenizer, "\\boxed{4}", "4")))["reward_score"] == 1.0


def test_bad_config_is_a_clear_error(manager_module, tokenizer):
    with pytest.raises(KeyError, match="unknown reward"):
        manager_module.RevisualRewardManager(_config(terms={"acuracy": 1.0}), tokenizer, None)
    with pytest.raises(ValueError, match="score_timeout_s"):
        manager_module.RevisualRewardManager(_config(score_timeout_s=0), tokenizer, None)
