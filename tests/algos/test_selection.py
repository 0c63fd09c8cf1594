"""Which rows each PAD variant trains on: hand-built batches with hand-computed outcomes."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

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
