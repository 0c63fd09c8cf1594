"""Scoring faults (issue 14): slow scoring must not compound, and every per-sample step is under
the deadline. Each test checks behaviour (flags, error text, counters, scores), never timings."""

import asyncio
import threading
import time

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from reward_fns import ScoringPool, score_answer, summarize_reward_infos
from reward_fns.composite import score_in_worker
from verl import DataProto

BOX_WORDS = [f"\\boxed{{{k}}}" for k in range(40)]
WORDS = ["<pad>", "<unk>", "<think>", "</think>", *BOX_WORDS]


@pytest.fixture(scope="module")
def tokenizer():
    core = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", unk_token="<unk>")


def _sample(tokenizer, text: str, ground_truth: str) -> DataProto:
    response_ids = tokenizer(text)["input_ids"]
    return DataProto.from_dict(
        tensors={
            "prompts": torch.tensor([[2]]),
            "responses": torch.tensor([response_ids]),
            "attention_mask": torch.tensor([[1] * (1 + len(response_ids))]),
        },
        non_tensors={
            "data_source": np.array(["mmrl"], dtype=object),
            "reward_model": np.array([{"ground_truth": ground_truth}], dtype=object),
            "extra_info": np.array([{"index": 0}], dtype=object),
        },
    )


def _manager(terms: dict, timeout_s: float, workers: int, tokenizer):
    import verl_ext.reward_manager as module

    config = OmegaConf.create({"reward": {"terms": terms, "score_timeout_s": timeout_s, "score_workers": workers}})
    manager = module.RevisualRewardManager(config, tokenizer, None)
    manager.pool.warm_up()  # the start-up is not what these tests are about
    return manager


def test_time_waiting_for_a_scoring_process_counts_against_the_deadline():
    """Probe: 8 slow calls on 2 workers each took up to 21.7 s against a 5 s deadline."""
    with ScoringPool(workers=1, preload=()) as pool:
        pool.warm_up()
        results = {}
        hog = threading.Thread(target=lambda: results.update(hog=pool.call(time.sleep, 60, timeout_s=2.0)))
        hog.start()
        while pool._idle.qsize():  # the hung call holds the only worker
            time.sleep(0.01)
        waiting = [pool.call(time.sleep, 60, timeout_s=0.3) for _ in range(3)]
        hog.join()
    assert all(r.timed_out and not r.ok for r in waiting)
    assert {r.error for r in waiting} == {"deadline passed while waiting for a scoring process"}
    assert results["hog"].timed_out and results["hog"].error == "killed at its deadline"
    # The three waiting calls never ran: they expired in the queue, and only the hung one was killed.
    assert pool.stats["expired_in_queue"] == 3 and pool.stats["timeouts"] == 4 and pool.stats["respawns"] == 1


@pytest.mark.asyncio
async def test_a_sleeping_reward_term_costs_one_deadline_per_step(tokenizer, tmp_path):
    """Probe: a reward term that sleeps made one step take 96 s instead of 2 s."""
    reward_file = tmp_path / "sleepy_reward.py"
    reward_file.write_text("import time\ndef sleepy(response):\n    time.sleep(60)\n    return 1.0\n")
    manager = _manager({"accuracy": 1.0, f"{reward_file}:sleepy": 0.5}, timeout_s=1.0, workers=2, tokenizer=tokenizer)
    before = dict(manager.pool.stats)

    batch = [_sample(tokenizer, "<think> </think> \\boxed{4}", "4") for _ in range(8)]
    outputs = await asyncio.gather(*(manager.run_single(sample) for sample in batch))
    assert [o["reward_score"] for o in outputs] == [0.0] * 8
    infos = [o["reward_extra_info"] for o in outputs]
    assert all(info["reward_timeout"] == 1.0 and info["acc"] == 0.0 for info in infos)
    assert summarize_reward_infos(infos)["reward/timeouts"] == 8.0
    stats = {key: manager.pool.stats[key] - before[key] for key in before}
    # Two samples ran and were killed at the deadline; the six queued behind them were not run
    # after it (they expired), so the step lasted one deadline, not four.
    assert stats["timeouts"] == 8 and stats["expired_in_queue"] == 6


def test_the_hedge_check_on_ten_thousand_boxes_is_bounded():
    """Probe: the hedge check on a response with 10k boxes ran outside the deadline (5 s a call)."""
    distinct = " ".join(f"\\boxed{{{k}}}" for k in range(10_000))
    hedged = score_answer(distinct, "7", timeout_s=5.0)
    assert hedged.hedged and hedged.acc == 0.0 and hedged.path == "hedged"
    repeated = " ".join(["\\boxed{7}"] * 10_000)
    assert score_answer(repeated, "7", timeout_s=5.0).acc == 1.0  # one answer, written 10k times


@pytest.mark.asyncio
async def test_all_per_sample_work_runs_in_the_scoring_process_under_the_deadline(tokenizer):
    """The manager decodes, then hands the whole sample (extraction, hedge check, every term) to a
    scoring process with the sample's deadline: a 10k-box response is scored there, and counted."""
    manager = _manager({"accuracy": 1.0}, timeout_s=30.0, workers=1, tokenizer=tokenizer)
    before = dict(manager.pool.stats)
    response = " ".join(BOX_WORDS[k % len(BOX_WORDS)] for k in range(10_000))
    out = await manager.run_single(_sample(tokenizer, response, "7"))
    assert out["reward_score"] == 0.0
    assert out["reward_extra_info"]["acc"] == 0.0 and out["reward_extra_info"]["reward_timeout"] == 0.0
    assert manager.pool.stats["calls"] - before["calls"] == 1


@pytest.mark.asyncio
async def test_a_crashing_term_is_an_error_counted_per_step(tokenizer, tmp_path):
    """Already held before issue 14, kept: a raising term scores 0 with reward_error and the counter."""
    reward_file = tmp_path / "broken_reward.py"
    reward_file.write_text("def broken(response):\n    raise RuntimeError('user bug')\n")
    manager = _manager({"accuracy": 1.0, f"{reward_file}:broken": 0.5}, timeout_s=30.0, workers=1, tokenizer=tokenizer)
    sample = {"response": "\\boxed{4}", "ground_truth": "4", "response_length": 1}
    result = manager.pool.call(score_in_worker, manager.composite, sample, timeout_s=30)
    assert not result.ok and "RuntimeError: user bug" in result.error
    out = await manager.run_single(_sample(tokenizer, "\\boxed{4}", "4"))
    assert out["reward_score"] == 0.0 and out["reward_extra_info"]["reward_error"] == 1.0
    assert summarize_reward_infos([out["reward_extra_info"]])["reward/errors"] == 1.0
