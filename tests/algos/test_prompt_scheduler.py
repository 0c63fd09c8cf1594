"""The prompt scheduler inside the trainer (verl_ext.trainer.prompt_schedule) on a real dataset frame and verl's
collate function: full batches, nothing the rule kept is lost, the accounting, and resumes that decide the
same."""

import json

import datasets
import numpy as np
import pytest
import torch
from verl.utils.dataset.rl_dataset import collate_fn

from verl_ext.algos.schedule import ALL_CORRECT, ALL_WRONG
from verl_ext.settings import ScheduleConfig
from verl_ext.trainer.prompt_schedule import PromptScheduler, prompt_ids

ROLLOUTS = 4


class Rows:
    """The two things the scheduler reads of verl's RLHFDataset: ``dataframe`` and ``__getitem__``."""

    def __init__(self, n, ids=None):
        self.ids = list(ids) if ids is not None else [100 + i for i in range(n)]
        self.dataframe = datasets.Dataset.from_dict({"extra_info": [{"index": i, "split": "train"} for i in self.ids]})

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, pos):
        return {"index": self.ids[pos], "input_ids": torch.tensor([pos, pos + 1])}


def loader(n, seed=0):
    """Epochs of a shuffled dataloader over ``n`` rows, chunks of 4 prompt ids (with the position it is at)."""
    state = {"served": 0}

    def fetch():
        epoch, offset = divmod(state["served"], n)
        order = np.random.default_rng([seed, epoch]).permutation(n)
        chunk = [100 + int(order[(offset + k) % n]) for k in range(4)]
        state["served"] += 4
        return chunk

    return fetch, state


def outcome_of(prompt):
    """Prompts 100-111 are always solved, 112-123 never, the rest mixed (2 of 4)."""
    return ALL_CORRECT if prompt < 112 else ALL_WRONG if prompt < 124 else None


def run_step(scheduler, fetch, step, need=8):
    positions = scheduler.next_batch(fetch, need, step)
    batch = scheduler.build_batch(positions)
    uids, acc = [], []
    for uid, prompt in zip(batch["uid"], batch["index"]):
        kind = outcome_of(int(prompt))
        uids += [uid] * ROLLOUTS
        acc += [1.0] * 4 if kind == ALL_CORRECT else [0.0] * 4 if kind == ALL_WRONG else [1.0, 1.0, 0.0, 0.0]
    metrics = scheduler.observe(uids, torch.tensor(acc), torch.zeros(len(uids), dtype=torch.bool),
                                torch.full((len(uids),), 10.0), step)
    return positions, batch, metrics


def make(n=40, **config):
    return PromptScheduler(ScheduleConfig(enable=True, **config), Rows(n), collate_fn, seed=3, rollouts_per_prompt=ROLLOUTS)


def test_every_batch_is_full_and_stagnant_prompts_are_skipped_more_as_their_streak_grows():
    scheduler = make()
    fetch, _ = loader(40)
    skipped = []
    for step in range(1, 31):  # 6 epochs of 40 prompts at 8 per step
        positions, batch, metrics = run_step(scheduler, fetch, step)
        assert len(positions) == 8 and len(batch["uid"]) == 8 and len(set(batch["uid"])) == 8
        assert len(set(positions)) == 8  # one group per prompt and step, even when skips cycle the epochs
        skipped.append(metrics["schedule/skipped"])
    assert sum(skipped[:5]) == 0  # the first epoch has no history to predict from
    assert sum(skipped[-10:]) > 0
    # 24 of the 40 prompts are always stagnant: the audit measures that every skip was right
    assert metrics["schedule/precision"] == 1.0 and metrics["schedule/audited_cum"] > 0
    assert metrics["schedule/tokens_saved_cum"] == pytest.approx(metrics["schedule/skipped_cum"] * 10.0 * ROLLOUTS)


def test_a_resumed_run_decides_exactly_as_an_uninterrupted_one():
    whole = make()
    fetch, _ = loader(40)
    uninterrupted = [run_step(whole, fetch, step)[0] for step in range(1, 21)]

    first = make()
    fetch, served = loader(40)
    for step in range(1, 11):
        run_step(first, fetch, step)
    saved, position = json.loads(json.dumps(first.state())), dict(served)  # what a checkpoint keeps
    resumed = make()
    resumed.load(saved)
    fetch, served = loader(40)
    served.update(position)  # verl restores its dataloader's position
    assert [run_step(resumed, fetch, step)[0] for step in range(11, 21)] == uninterrupted[10:]


def test_kept_candidates_beyond_the_batch_are_carried_not_lost():
    scheduler = make()
    fetch, _ = loader(40)
    seen = []
    for step in range(1, 6):  # one epoch, no history: everything is kept
        seen += run_step(scheduler, fetch, step, need=6)[0]
    # chunks of 4 for batches of 6: every second step carries 2 prompts into the next
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 30 and len(scheduler.carry) == 2


def test_training_rows_without_a_unique_index_are_refused_by_row():
    with pytest.raises(ValueError, match="rows 0 and 2 both have index 7"):
        prompt_ids(Rows(3, ids=[7, 8, 7]))


def test_a_small_set_that_the_rule_mostly_skips_still_gives_full_batches_of_distinct_prompts():
    # 6 prompts, all but one always stagnant, batches of 4: the rule cycles epochs and falls back to skipped ones.
    scheduler = PromptScheduler(ScheduleConfig(enable=True, explore_init=0.05, explore_min=0.05), Rows(6),
                                collate_fn, seed=0, rollouts_per_prompt=ROLLOUTS)
    fetch, _ = loader(6)
    for step in range(1, 15):
        positions = run_step(scheduler, fetch, step, need=4)[0]
        assert len(positions) == 4 and len(set(positions)) == 4
