"""Which rows each PAD variant trains on: hand-built batches with hand-computed outcomes."""

import math
from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from verl_ext.algos.pad import MAX_COPIES, plan_update
from verl_ext.algos.selection import eligible_rows, group_outcomes, select_update_rows
from verl_ext.settings import PADConfig, resolve_pad

# 4 groups of 4: all-correct, mixed (1 of 4), all-wrong, mixed (3 of 4).
ACC = torch.tensor([1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0], dtype=torch.float64)
GROUP = torch.arange(16) // 4
# GRPO advantages of a 0/1 reward with unbiased std: +-0.866/1.5 for 1-of-4, 0 for uniform groups.
ADV = torch.tensor([0, 0, 0, 0, 1.5, -0.5, -0.5, -0.5, 0, 0, 0, 0, 0.5, 0.5, 0.5, -1.5], dtype=torch.float64)
NO_FAILURES = torch.zeros(16, dtype=torch.bool)


def pad(variant="pad", **keys):
    return resolve_pad(PADConfig(variant=variant, **keys))


def select(settings, failed=NO_FAILURES, mini_batch=16, dp=1, seed=0, adv=ADV, tau=1.0):
    eligible = eligible_rows(settings, adv, ACC, GROUP, failed)
    return eligible, select_update_rows(settings, adv, eligible, failed, tau=tau, mini_batch=mini_batch, row_multiple=dp,
                                        generator=torch.Generator().manual_seed(seed))


def test_reward_std_keeps_the_mixed_groups_only():
    eligible, _ = select(pad())
    assert torch.nonzero(eligible).flatten().tolist() == [4, 5, 6, 7, 12, 13, 14, 15]


def test_a_failed_sample_is_neither_eligible_nor_part_of_its_groups_spread():
    failed = NO_FAILURES.clone()
    failed[4] = True  # the only correct answer of group 1 crashed: the rest of the group is all-wrong
    failed[15] = True  # group 3 is then all-correct among the scored ones
    eligible, _ = select(pad(), failed=failed)
    assert torch.nonzero(eligible).flatten().tolist() == []
    outcomes = group_outcomes(eligible, ACC, GROUP, failed)
    assert (outcomes.groups, outcomes.no_signal, outcomes.all_correct, outcomes.all_wrong) == (4, 4, 2, 2)


def test_group_outcomes_hand_counted():
    eligible, _ = select(pad())
    outcomes = group_outcomes(eligible, ACC, GROUP, NO_FAILURES)
    assert (outcomes.groups, outcomes.no_signal, outcomes.all_correct, outcomes.all_wrong) == (4, 2, 1, 1)


def test_pad_draws_half_the_batch_from_e_and_says_it_prioritised():
    # k' = min(ceil(0.5 * 16), |E| = 8) = 8: all of E, nothing left to prioritise.
    _, out = select(pad())
    assert out.draw_size == 8 and out.plan.total == 8 and not out.prioritised
    assert sorted(set(out.indices.tolist())) == [4, 5, 6, 7, 12, 13, 14, 15]
    # ratio 0.25 -> k' = 4 < |E|: a prioritised draw of 4 of the 8 (the plan's floor is half of 8 = 4)
    _, out = select(pad(ratio=0.25), mini_batch=8)
    assert out.draw_size == 4 and out.plan.total == 4 and out.prioritised
    assert set(out.indices.tolist()) <= {4, 5, 6, 7, 12, 13, 14, 15} and out.indices.unique().numel() == 4


def test_pad_prefers_large_advantages():
    counts = torch.zeros(16)
    for seed in range(400):
        _, out = select(pad(ratio=0.125), mini_batch=4, seed=seed, tau=0.3)
        counts[out.indices] += 1
    # |A| = 1.5 at rows 4 and 15 beat |A| = 0.5 rows by exp(1/0.3) ~ 28x each draw
    assert counts[4] > 5 * counts[5] and counts[15] > 5 * counts[12]


def test_filter_takes_all_of_e_without_priority():
    _, out = select(pad("filter"))
    assert out.indices.tolist() == [4, 5, 6, 7, 12, 13, 14, 15] and not out.prioritised


def test_random_draws_pads_size_from_the_whole_batch():
    seen = set()
    for seed in range(30):
        _, out = select(pad("random"), seed=seed)
        assert out.plan.total == 8 and out.indices.unique().numel() == 8 and not out.prioritised
        seen |= set(out.indices.tolist())
    assert seen - {4, 5, 6, 7, 12, 13, 14, 15}  # stagnant rows are drawn too: there is no filter


def test_random_never_draws_a_failed_sample():
    failed = torch.ones(16, dtype=torch.bool)
    failed[[4, 9, 12]] = False
    for seed in range(10):
        _, out = select(pad("random"), failed=failed, mini_batch=4, seed=seed)
        assert set(out.indices.tolist()) <= {4, 9, 12}


def test_official_draws_1_5_n_with_replacement_from_the_strict_band():
    adv = ADV.clone()
    adv[[0, 1]] = torch.tensor([0.03, 0.97], dtype=torch.float64)  # on the open band's edges: excluded
    eligible, out = select(pad("official"), adv=adv)
    assert torch.nonzero(eligible).flatten().tolist() == [5, 6, 7, 12, 13, 14]  # |A| 1.5 is above 0.97
    assert out.draw_size == 24 and out.plan.steps == 2 and out.plan.total == 24 and out.prioritised
    assert set(out.indices.tolist()) <= {5, 6, 7, 12, 13, 14}


def test_nothing_eligible_gives_an_empty_selection():
    _, out = select(pad(filter_on="advantage", low=10.0))
    assert out.indices.numel() == 0 and out.plan.total == 0


@settings(max_examples=150, deadline=None)
@given(
    variant=st.sampled_from(["filter", "random", "pad", "official"]),
    acc=st.lists(st.sampled_from([0.0, 1.0]), min_size=16, max_size=16),
    failed=st.lists(st.booleans(), min_size=16, max_size=16),
    dp=st.sampled_from([1, 2, 4]),
    seed=st.integers(0, 10_000),
)
def test_every_selection_fits_its_plan_and_skips_failed_samples(variant, acc, failed, dp, seed):
    acc_t = torch.tensor(acc, dtype=torch.float64)
    failed_t = torch.tensor(failed)
    group_mean = torch.zeros(4).index_add_(0, GROUP, acc_t.float()) / 4
    adv = (acc_t - group_mean[GROUP].double()) * 2
    settings_ = pad(variant)
    eligible = eligible_rows(settings_, adv, acc_t, GROUP, failed_t)
    out = select_update_rows(settings_, adv, eligible, failed_t, tau=1.0, mini_batch=16, row_multiple=dp,
                             generator=torch.Generator().manual_seed(seed))
    assert out.indices.numel() == out.plan.total
    assert out.plan.total % dp == 0
    assert not failed_t[out.indices].any()
    if variant != "random":
        assert eligible[out.indices].all()


def _inclusion_counts(settings_, row_multiple, seeds=600, adv=ADV):
    counts = torch.zeros(16)
    for seed in range(seeds):
        _, out = select(settings_, dp=row_multiple, seed=seed, adv=adv)
        counts.index_add_(0, out.indices, torch.ones(out.indices.numel()))
    return counts


def test_filter_never_prioritises_what_it_leaves_out_or_repeats():
    # E = the 8 rows of groups 1 and 3; rows 4 and 15 have |A| = 1.5, the others 0.5.
    # 6 rows per micro-batch multiple: 8 rounds down to 6, and the 2 left out are uniform (each row 6/8 = 0.75).
    counts = _inclusion_counts(pad("filter"), row_multiple=6) / 600
    e_rows = [4, 5, 6, 7, 12, 13, 14, 15]
    # Binomial std of a share is sqrt(0.75 * 0.25 / 600) = 0.018; allow 4 sigma. By priority at tau 1 the
    # |A| = 1.5 rows would be kept with P ~ 0.93.
    assert all(abs(float(counts[i]) - 0.75) < 0.072 for i in e_rows), counts
    _, out = select(pad("filter"), dp=6)
    assert not out.prioritised and out.plan.total == 6
    # 5 per multiple: 8 rounds up to 10, all of E once and 2 uniform repeats (each row 1 + 2/8 = 1.25 times).
    counts = _inclusion_counts(pad("filter"), row_multiple=5) / 600
    assert all(abs(float(counts[i]) - 1.25) < 0.072 for i in e_rows), counts


def test_pad_tops_up_uniformly_when_the_draw_takes_all_of_e():
    # ratio 1 -> k' = |E| = 8, rounded up to 10 by micro-batches of 5: every row once, then 2 uniform repeats.
    counts = torch.zeros(16)
    for seed in range(600):
        _, out = select(pad(ratio=1.0), dp=5, seed=seed, tau=0.3)
        assert out.plan.total == 10 and out.repeated_rows == 2 and not out.prioritised
        assert max(Counter(out.indices.tolist()).values()) == 2
        counts.index_add_(0, out.indices, torch.ones(10))
    repeat_share = counts / 600 - (counts > 0).double()  # every row of E once per draw; the rest are repeats
    # By priority (tau 0.3) rows 4 and 15 would take nearly every repeat; uniformly each row gets 2/8 = 0.25.
    assert all(abs(float(repeat_share[i]) - 0.25) < 0.072 for i in [4, 5, 6, 7, 12, 13, 14, 15]), repeat_share


# Production shapes: (prompts, rollouts per prompt, optimizer mini-batch rows, rows per micro-batch multiple).
PRODUCTION_SHAPES = [(512, 8, 1024, 8), (512, 8, 1024, 32), (512, 8, 4096, 64), (128, 8, 256, 16), (8, 4, 16, 4)]


@pytest.mark.parametrize("variant", ["pad", "filter"])
@pytest.mark.parametrize("shape", PRODUCTION_SHAPES)
def test_no_row_is_trained_more_than_twice_for_any_eligible_set_size(variant, shape):
    prompts, n, mini_batch, multiple = shape
    rows = prompts * n
    settings_ = pad(variant)
    for num_eligible in range(1, rows + 1):
        k = num_eligible if variant == "filter" else min(math.ceil(settings_.ratio * rows), num_eligible)
        plan = plan_update(k, mini_batch, multiple, available=num_eligible)
        # the draw takes all of E at most twice, so no row can be repeated more than twice
        assert plan.total <= MAX_COPIES * num_eligible, (num_eligible, plan)
        assert plan.total % multiple == 0


@settings(max_examples=40, deadline=None)
@given(shape=st.sampled_from(PRODUCTION_SHAPES), variant=st.sampled_from(["pad", "filter"]),
       share=st.floats(0.0, 1.0), seed=st.integers(0, 10_000))
def test_trained_rows_of_a_group_keep_its_advantages_balanced(shape, variant, share, seed):
    prompts, n, mini_batch, multiple = shape
    rows = prompts * n
    gen = torch.Generator().manual_seed(seed)
    group = torch.arange(rows) // n
    # Group-centred advantages, as GRPO gives: each group sums to 0.
    raw = torch.randn(rows, generator=gen, dtype=torch.float64)
    adv = raw - torch.zeros(prompts, dtype=torch.float64).index_add_(0, group, raw)[group] / n
    num_eligible = max(1, round(share * rows))
    eligible = torch.zeros(rows, dtype=torch.bool)
    eligible[torch.randperm(rows, generator=gen)[:num_eligible]] = True
    out = select_update_rows(pad(variant), adv, eligible, torch.zeros(rows, dtype=torch.bool), tau=0.3,
                             mini_batch=mini_batch, row_multiple=multiple, generator=gen)
    copies = Counter(out.indices.tolist())
    assert not copies or max(copies.values()) <= MAX_COPIES
    assert out.repeated_rows <= max(out.plan.steps * multiple, 1)
    for g in torch.unique(group[out.indices]).tolist():
        members = torch.nonzero(group == g).flatten().tolist()
        if all(copies[i] == 1 for i in members):
            # the whole group, once each: its advantages cancel as they do in the paper's update
            assert abs(sum(float(adv[i]) for i in members)) < 1e-9


def test_the_production_case_of_one_mixed_group_trains_its_rows_once():
    # 512 prompts x 8, one mixed group (1 correct of 8); the old plan drew 512 rows, 501 of them the correct one.
    rows, n = 4096, 8
    acc = torch.zeros(rows, dtype=torch.float64)
    acc[0] = 1.0
    group = torch.arange(rows) // n
    adv = torch.zeros(rows, dtype=torch.float64)
    adv[:8] = torch.tensor([2.4749] + [-0.3536] * 7, dtype=torch.float64)
    for variant in ("pad", "filter"):
        eligible = eligible_rows(pad(variant), adv, acc, group, torch.zeros(rows, dtype=torch.bool))
        out = select_update_rows(pad(variant), adv, eligible, torch.zeros(rows, dtype=torch.bool), tau=0.3,
                                 mini_batch=1024, row_multiple=8, generator=torch.Generator().manual_seed(0))
        assert out.indices.tolist() == list(range(8)) and out.repeated_rows == 0
        assert abs(float(adv[out.indices].sum())) < 1e-3


@pytest.mark.parametrize("variant, num_eligible, expected", [
    ("official", 0, "batch"),   # the released code trains on the original batch when its band keeps nothing
    ("pad", 0, None),           # the paper's PAD has nothing to train on: the update is skipped
    ("filter", 3, None),        # too few rows for one micro-batch per rank without a third copy: skipped
])
def test_what_an_empty_selection_trains_on(variant, num_eligible, expected):
    from types import SimpleNamespace

    from verl_ext.algos.pad import UpdatePlan
    from verl_ext.algos.selection import PADSelection
    from verl_ext.trainer.pad_trainer import RevisualPPOTrainer

    trainer = SimpleNamespace(revisual=SimpleNamespace(pad=pad(variant)), _selection=None, _train_whole_batch=False,
                              global_steps=1, _update_row_multiple=lambda: 8)
    metrics = {}
    empty = PADSelection(torch.empty(0, dtype=torch.long), UpdatePlan(0, 0), num_eligible, num_eligible, False)
    RevisualPPOTrainer._on_empty_selection(trainer, empty, metrics)
    batch = object()
    target = RevisualPPOTrainer._update_target(trainer, batch)
    assert (target is batch) if expected == "batch" else target is None
    assert metrics.get("pad/trained_whole_batch", 0.0) == (1.0 if expected == "batch" else 0.0)
