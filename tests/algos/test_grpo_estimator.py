"""The revisual_grpo estimator equals verl's grpo, and its group statistics are right."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from verl.trainer.ppo import core_algos

from verl_ext.algos.grpo import compute_group_stats, dense_group_ids, grpo_sequence_advantages
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
def test_equals_verl_grpo_and_grpo_vectorized(groups, n, data):
    bs = groups * n
    scores = data.draw(st.lists(st.sampled_from([0.0, 1.0, 0.9, 0.1, 0.35]), min_size=bs, max_size=bs))
    lengths = data.draw(st.lists(st.integers(1, 6), min_size=bs, max_size=bs))
    perm = data.draw(st.permutations(range(bs)))
    rewards, mask = _batch(scores, lengths)
    index = np.array([f"uid{perm[i] // n}" for i in range(bs)], dtype=object)
    ours, _ = core_algos.get_adv_estimator_fn(ESTIMATOR_NAME)(rewards, mask, index=index)
    ref, _ = core_algos.compute_grpo_outcome_advantage(rewards.clone(), mask, index=index)
    vec, _ = core_algos.get_adv_estimator_fn("grpo_vectorized")(rewards.clone(), mask, index=index)
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ours, vec, atol=1e-4, rtol=1e-4)


def test_norm_by_std_switch_is_read_from_config():
    rewards, mask = _batch([1, 0], [2, 2])
    adv, _ = core_algos.get_adv_estimator_fn(ESTIMATOR_NAME)(
        rewards, mask, index=np.array(["g", "g"], dtype=object), config={"norm_adv_by_std_in_grpo": False}
    )
    assert adv[:, 0].tolist() == pytest.approx([0.5, -0.5])
