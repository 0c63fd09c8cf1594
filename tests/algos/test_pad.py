"""PAD selection: hand-computed cases, argument errors, and hypothesis properties."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from verl_ext.algos.pad import (
    OFFICIAL_CODE_PAD,
    effective_mask,
    nonzero_spread_mask,
    pad_temperature,
    select_pad_indices,
)

finite = st.floats(min_value=-5, max_value=5, allow_nan=False, allow_infinity=False, width=32)
advantage_vectors = st.lists(finite, min_size=1, max_size=64).map(lambda xs: torch.tensor(xs, dtype=torch.float32))


def test_band_and_size_hand_computed():
    adv = torch.tensor([0.0, 0.0, 1.2, -0.5, 2.5, -0.01, 0.9, 0.0])
    # E = {2, 3, 4, 6} (|A| >= 0.05); k' = min(ceil(1.0 * 8), 4) = 4: everything in E.
    assert select_pad_indices(adv, low=0.05).tolist() == [2, 3, 4, 6]
    # high=1.0 drops 1.2 and 2.5; ratio 0.25 -> k' = min(2, 2) = 2.
    assert select_pad_indices(adv, low=0.05, high=1.0, ratio=0.25).tolist() == [3, 6]


def test_empty_effective_set_returns_empty_selection():
    out = select_pad_indices(torch.zeros(16), low=0.01)
    assert out.dtype == torch.long and out.numel() == 0


def test_official_code_mode_draws_1_5x_with_duplicates_from_strict_band():
    adv = torch.tensor([0.03, 0.5, -0.8, 0.97, 2.0, 0.0, -0.4, 0.6])
    gen = torch.Generator().manual_seed(0)
    out = select_pad_indices(adv, generator=gen, **OFFICIAL_CODE_PAD)
    assert out.numel() == 12  # int(8 * 1.5), not capped by |E| = 4
    assert set(out.tolist()) <= {1, 2, 6, 7}  # 0.03 and 0.97 sit on the open band's edges
    assert len(set(out.tolist())) < out.numel()  # 12 draws from 4 candidates must repeat


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(low=-0.1), "low"),
        (dict(low=0.5, high=0.1), "high"),
        (dict(low=0.1, ratio=0.0), "ratio"),
        (dict(low=0.1, tau=0.0), "tau"),
        (dict(low=0.1, priority="linear"), "priority"),
    ],
)
def test_invalid_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        select_pad_indices(torch.ones(4), **kwargs)


@settings(max_examples=200, deadline=None)
@given(adv=advantage_vectors, low=st.floats(0, 2), span=st.one_of(st.none(), st.floats(0, 3)), ratio=st.floats(0.05, 2.0))
def test_paper_mode_properties(adv, low, span, ratio):
    high = None if span is None else low + span
    out = select_pad_indices(adv, low=low, high=high, ratio=ratio, tau=0.7, generator=torch.Generator().manual_seed(1))
    in_band = effective_mask(adv, low=low, high=high)
    # every pick is in the band
    assert bool(in_band[out].all()) if out.numel() else True
    # size k' = min(ceil(ratio * N), |E|)
    expected = min(math.ceil(ratio * adv.numel() - 1e-9), int(in_band.sum()))
    assert out.numel() == expected
    # no duplicates without replacement, sorted ascending
    assert len(set(out.tolist())) == out.numel()
    assert out.tolist() == sorted(out.tolist())


@settings(max_examples=100, deadline=None)
@given(adv=advantage_vectors, ratio=st.floats(0.1, 3.0))
def test_replacement_mode_size_is_uncapped(adv, ratio):
    out = select_pad_indices(adv, low=0.0, ratio=ratio, replacement=True, generator=torch.Generator().manual_seed(2))
    assert out.numel() == math.ceil(ratio * adv.numel() - 1e-9)


def test_selection_frequencies_follow_the_softmax():
    # Draw one sequence at a time (ratio 1/N) many times: its frequency must match exp(|A|/tau)/Z.
    adv = torch.tensor([0.2, -0.6, 1.0, 1.5, -2.0])
    tau = 0.8
    expected = torch.softmax(adv.abs().double() / tau, 0)
    gen = torch.Generator().manual_seed(1234)
    trials = 20000
    counts = torch.zeros(5, dtype=torch.float64)
    for _ in range(trials):
        counts[select_pad_indices(adv, low=0.0, ratio=1 / 5, tau=tau, generator=gen)] += 1
    freq = counts / trials
    # Binomial std of each frequency is at most sqrt(0.25 / 20000) = 0.0035; allow 4 sigma.
    assert torch.allclose(freq, expected, atol=0.014), (freq, expected)
    # Pearson chi-square with 4 degrees of freedom; 18.47 is the 0.999 quantile.
    chi2 = float(((counts - trials * expected) ** 2 / (trials * expected)).sum())
    assert chi2 < 18.47


def test_tiny_tau_does_not_underflow():
    # exp(|A|/tau) underflows for tau = 1e-4; the Gumbel draw works in log space and still picks the top.
    adv = torch.tensor([0.1, 0.2, 3.0, 0.3])
    out = select_pad_indices(adv, low=0.0, ratio=0.25, tau=1e-4, generator=torch.Generator().manual_seed(0))
    assert out.tolist() == [2]


@settings(max_examples=200, deadline=None)
@given(step=st.integers(-10, 500), total=st.integers(1, 400), start=st.floats(0.1, 3), end=st.floats(0.01, 3))
def test_temperature_schedule_is_linear_and_clamped(step, total, start, end):
    tau = pad_temperature(step, total, start, end)
    if step <= 0:
        assert tau == pytest.approx(start)
    elif step >= total:
        assert tau == pytest.approx(end)
    else:
        assert tau == pytest.approx(start + (end - start) * step / total)
    assert min(start, end) - 1e-9 <= tau <= max(start, end) + 1e-9


def test_temperature_hand_values():
    assert pad_temperature(0, 100) == pytest.approx(1.0)
    assert pad_temperature(50, 100) == pytest.approx(0.65)
    assert pad_temperature(100, 100) == pytest.approx(0.3)
    assert pad_temperature(250, 100) == pytest.approx(0.3)


def test_nonzero_spread_mask_keeps_groups_with_mixed_accuracy():
    acc = torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0])
    group = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    assert nonzero_spread_mask(acc, group).tolist() == [False, False, False, False, True, True, False, False]
