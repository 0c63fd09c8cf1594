"""The revisual_grpo estimator equals verl's grpo except where verl is wrong (stagnant groups exactly 0,
failed scores left out of the statistics), and its group statistics are right."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from verl.trainer.ppo import core_algos

from verl_ext.algos.grpo import compute_group_stats, dense_group_ids, estimator_call, grpo_sequence_advantages
from verl_ext.plugin import ESTIMATOR_NAME


def _batch(scores, lengths, width=6):
    bs = len(scores)
    mask = torch.zeros(bs, width)
    rewards = torch.zeros(bs, width)
    for i, (s, n) in enumerate(zip(scores, lengths)):
        mask[i, :n] = 1
        rewards[i, n - 1] = s  # outcome reward on the last response token, as verl places it
    return rewards, mask


def test_hand_computed_group():
    # group a: scores 1, 0, 0, 1 -> mean 0.5, unbiased std sqrt(1/3); group b: constant -> stagnant.
    rewards, mask = _batch([1, 0, 0, 1, 0.5, 0.5], [3, 2, 4, 1, 5, 2])
    index = np.array(["a", "a", "a", "a", "b", "b"], dtype=object)
    adv, ret = core_algos.get_adv_estimator_fn(ESTIMATOR_NAME)(rewards, mask, index=index)
    a = 0.5 / (np.sqrt(1 / 3) + 1e-6)
    assert adv[0, :3].tolist() == pytest.approx([a] * 3, rel=1e-5)
    assert adv[1, :2].tolist() == pytest.approx([-a] * 2, rel=1e-5)
    assert adv[1, 2:].abs().sum() == 0  # masked tokens stay 0
    assert adv[4].abs().sum() == 0 and adv[5].abs().sum() == 0
    assert torch.equal(adv, ret)
    stats = compute_group_stats(torch.tensor([1, 0, 0, 1, 0.5, 0.5]), dense_group_ids(index))
    assert stats.stagnant.tolist() == [False] * 4 + [True] * 2
    assert stats.size.tolist() == [4, 4, 4, 4, 2, 2]


def test_singleton_group_uses_mean_0_std_1_like_verl():
    adv, stats = grpo_sequence_advantages(torch.tensor([0.7, 1.0, 0.0]), ["x", "y", "y"])
    assert adv[0].item() == pytest.approx(0.7 / (1 + 1e-6))
    assert not stats.stagnant[0]


@settings(max_examples=60, deadline=None)
@given(
    groups=st.integers(1, 12),
    n=st.integers(1, 8),
    data=st.data(),
)
def test_equals_verl_grpo_except_on_stagnant_groups_where_it_is_exactly_zero(groups, n, data):
    bs = groups * n
    scores = data.draw(st.lists(st.sampled_from([0.0, 1.0, 0.9, 0.1, 0.35, 0.997]), min_size=bs, max_size=bs))
    lengths = data.draw(st.lists(st.integers(1, 6), min_size=bs, max_size=bs))
    perm = data.draw(st.permutations(range(bs)))
    rewards, mask = _batch(scores, lengths)
    index = np.array([f"uid{perm[i] // n}" for i in range(bs)], dtype=object)
    ours, _ = core_algos.get_adv_estimator_fn(ESTIMATOR_NAME)(rewards, mask, index=index)
    ref, _ = core_algos.compute_grpo_outcome_advantage(rewards.clone(), mask, index=index)
    vec, _ = core_algos.get_adv_estimator_fn("grpo_vectorized")(rewards.clone(), mask, index=index)
    stagnant = compute_group_stats(torch.tensor(scores), dense_group_ids(index)).stagnant
    assert ours[stagnant].abs().sum() == 0  # exactly, not approximately
    torch.testing.assert_close(ours[~stagnant], ref[~stagnant], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ours[~stagnant], vec[~stagnant], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("score, verl_value", [(0.9, -0.056), (0.997, 0.1057)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_a_stagnant_group_gets_zero_where_verl_gives_a_same_sign_advantage(score, verl_value, dtype):
    # Eight rollouts, all correct, all with the same shaped reward: nothing to compare.
    rewards, mask = _batch([score] * 8, [3] * 8)
    index = np.array(["g"] * 8, dtype=object)
    ref, _ = core_algos.compute_grpo_outcome_advantage(rewards.clone(), mask, index=index)
    assert ref[:, 0].tolist() == pytest.approx([verl_value] * 8, abs=1e-3)  # verl's float32 rounding residue
    ours, _ = core_algos.get_adv_estimator_fn(ESTIMATOR_NAME)(rewards.to(dtype), mask.to(dtype), index=index)
    assert ours.dtype == dtype and ours.abs().sum() == 0


def test_a_failed_score_is_left_out_of_its_group_and_gets_zero():
    # An all-correct group of 8 (rewards 0.95) whose 8th score timed out (placeholder 0): verl would give the
    # other 7 rows +0.354 each; left out, the 7 are a stagnant group and everything is 0.
    scores = torch.tensor([0.95] * 7 + [0.0])
    failed = torch.tensor([False] * 7 + [True])
    adv, stats = grpo_sequence_advantages(scores, ["g"] * 8, failed=failed)
    assert adv.abs().sum() == 0 and bool(stats.stagnant.all())
    # A mixed group with one failure: the statistics are the 3 scored rows' alone (mean 1/3, std sqrt(1/3)).
    adv, _ = grpo_sequence_advantages(torch.tensor([1.0, 0.0, 0.0, 0.0]), ["h"] * 4,
                                      failed=torch.tensor([False, False, False, True]))
    a = (1 - 1 / 3) / (np.sqrt(1 / 3) + 1e-6)
    b = (0 - 1 / 3) / (np.sqrt(1 / 3) + 1e-6)
    assert adv.tolist() == pytest.approx([a, b, b, 0.0], rel=1e-9)


def test_a_group_left_with_one_scored_sample_gets_zero_but_a_group_of_one_keeps_verls_rule():
    adv, _ = grpo_sequence_advantages(torch.tensor([1.0, 0.0, 0.0, 0.7]), ["g", "g", "g", "solo"],
                                      failed=torch.tensor([False, True, True, False]))
    assert adv[:3].tolist() == [0.0, 0.0, 0.0]
    assert adv[3].item() == pytest.approx(0.7 / (1 + 1e-6))  # singleton by design: mean 0, std 1 as in verl


@settings(max_examples=60, deadline=None)
@given(data=st.data(), groups=st.integers(1, 6), n=st.integers(2, 8))
def test_failures_change_nothing_but_their_own_groups_statistics(data, groups, n):
    bs = groups * n
    scores = torch.tensor(data.draw(st.lists(st.sampled_from([0.0, 1.0, 0.9, 0.35]), min_size=bs, max_size=bs)),
                          dtype=torch.float64)
    failed = torch.tensor(data.draw(st.lists(st.booleans(), min_size=bs, max_size=bs)))
    index = [f"u{i // n}" for i in range(bs)]
    adv, _ = grpo_sequence_advantages(scores, index, failed=failed)
    assert adv[failed].abs().sum() == 0
    # every scored row equals the estimator run on the scored rows alone (minus groups failures cut below 2)
    kept = ~failed
    alone, _ = grpo_sequence_advantages(scores[kept], [u for u, k in zip(index, kept.tolist()) if k])
    counts = {u: sum(1 for v, k in zip(index, kept.tolist()) if k and v == u) for u in set(index)}
    reduced = torch.tensor([counts[u] < 2 for u, k in zip(index, kept.tolist()) if k], dtype=torch.bool)
    expected = torch.where(reduced, torch.zeros_like(alone), alone)
    torch.testing.assert_close(adv[kept], expected)


def test_the_estimator_reads_failures_from_the_trainer_and_reports_what_it_computed():
    rewards, mask = _batch([1, 0, 0, 1], [2, 2, 2, 2])
    index = np.array(["a"] * 4, dtype=object)
    with estimator_call(torch.tensor([False, False, False, True])) as call:
        adv, _ = core_algos.get_adv_estimator_fn(ESTIMATOR_NAME)(rewards, mask, index=index)
    assert adv[3].abs().sum() == 0 and call.uids == ["a"] * 4
    torch.testing.assert_close(call.seq_advantages, adv[:, 0])
    with pytest.raises(ValueError, match="3 rows but scoring failures for 4"):
        with estimator_call(torch.zeros(4, dtype=torch.bool)):
            core_algos.get_adv_estimator_fn(ESTIMATOR_NAME)(rewards[:3], mask[:3], index=index[:3])


def test_norm_by_std_switch_is_read_from_config():
    rewards, mask = _batch([1, 0], [2, 2])
    adv, _ = core_algos.get_adv_estimator_fn(ESTIMATOR_NAME)(
        rewards, mask, index=np.array(["g", "g"], dtype=object), config={"norm_adv_by_std_in_grpo": False}
    )
    assert adv[:, 0].tolist() == pytest.approx([0.5, -0.5])
