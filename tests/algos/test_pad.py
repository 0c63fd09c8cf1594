"""PAD selection: hand-computed cases, argument errors, and hypothesis properties."""

import math
from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from verl_ext.algos.pad import (
    MAX_COPIES,
    OFFICIAL_CODE_PAD,
    UpdatePlan,
    draw_indices,
    effective_mask,
    nonzero_spread_mask,
    pad_temperature,
    plan_update,
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


def _inclusion_probabilities(weights: list[float], k: int) -> list[float]:
    """Exact P(i among k successive draws without replacement, P proportional to the remaining weights)."""
    probs = [0.0] * len(weights)

    def walk(remaining: frozenset, chosen: tuple, p: float):
        if len(chosen) == k:
            for i in chosen:
                probs[i] += p
            return
        total = sum(weights[j] for j in remaining)
        for j in remaining:
            walk(remaining - {j}, chosen + (j,), p * weights[j] / total)

    walk(frozenset(range(len(weights))), (), 1.0)
    return probs


@settings(max_examples=12, deadline=None)
@given(
    logits=st.lists(st.floats(-2.0, 2.0, allow_nan=False), min_size=3, max_size=5),
    k_share=st.floats(0.2, 0.8),
)
def test_draw_without_replacement_is_successive_sampling(logits, k_share):
    # Gumbel-top-k must reproduce the multi-draw distribution of drawing k times without replacement.
    k = max(1, min(len(logits) - 1, round(k_share * len(logits))))
    expected = torch.tensor(_inclusion_probabilities([math.exp(x) for x in logits], k), dtype=torch.float64)
    gen = torch.Generator().manual_seed(7)
    trials = 6000
    counts = torch.zeros(len(logits), dtype=torch.float64)
    tensor = torch.tensor(logits, dtype=torch.float64)
    for _ in range(trials):
        picks = draw_indices(tensor, k, replacement=False, generator=gen)
        assert picks.unique().numel() == k
        counts[picks] += 1
    # Binomial std of an inclusion frequency is at most sqrt(0.25 / 6000) = 0.0065; allow 5 sigma.
    assert torch.allclose(counts / trials, expected, atol=0.033), (counts / trials, expected)


@settings(max_examples=12, deadline=None)
@given(
    magnitudes=st.lists(st.floats(0.05, 3.0, allow_nan=False), min_size=2, max_size=6),
    alpha=st.floats(0.5, 2.5),
)
def test_power_law_draws_follow_magnitude_to_the_alpha(magnitudes, alpha):
    adv = torch.tensor(magnitudes, dtype=torch.float64)
    weights = adv.abs() ** alpha
    expected = weights / weights.sum()
    gen = torch.Generator().manual_seed(11)
    draws = 8000
    picks = select_pad_indices(adv, low=0.0, ratio=draws / len(magnitudes), priority="power", alpha=alpha,
                               replacement=True, generator=gen)
    freq = torch.bincount(picks, minlength=len(magnitudes)).double() / draws
    # std <= sqrt(0.25 / 8000) = 0.0056; allow 5 sigma.
    assert torch.allclose(freq, expected, atol=0.028), (freq, expected)


def test_an_infinite_advantage_takes_every_replacement_draw_and_nan_is_never_drawn():
    adv = torch.tensor([0.5, float("inf"), float("nan"), -1.0])
    for priority in ("softmax", "power"):
        out = select_pad_indices(adv, low=0.0, ratio=2.0, priority=priority, replacement=True,
                                 generator=torch.Generator().manual_seed(0))
        assert out.tolist() == [1] * 8
    out = select_pad_indices(adv, low=0.0, ratio=0.75, generator=torch.Generator().manual_seed(0))
    assert 2 not in out.tolist() and 1 in out.tolist() and out.numel() == 3


def test_a_size_above_the_eligible_set_takes_all_of_it_once_then_tops_up_uniformly():
    adv = torch.tensor([0.0, 1.0, 3.0, 0.0])
    repeats = Counter()
    for seed in range(2000):
        out = select_pad_indices(adv, low=0.5, size=3, tau=0.5, generator=torch.Generator().manual_seed(seed)).tolist()
        assert sorted(set(out)) == [1, 2] and len(out) == 3
        repeats.update(i for i in (1, 2) if out.count(i) == 2)
    # By priority, row 2 would be repeated with P = e^6 / (e^2 + e^6) = 0.98; the top-up ignores |A|: 1/2 each.
    # Binomial std of the share is sqrt(0.25 / 2000) = 0.011; allow 4 sigma.
    assert abs(repeats[2] / 2000 - 0.5) < 0.045, repeats
    with pytest.raises(ValueError, match="more than 2 times"):
        select_pad_indices(adv, low=0.5, size=5)


@pytest.mark.parametrize(
    "selected, mini_batch, multiple, available, steps, step_size",
    [
        (1025, 1024, 8, None, 1, 1024),   # verl would train [1024, 1] here
        (2500, 1024, 8, None, 2, 1248),   # verl would train [1024, 1024, 452]
        (4096, 1024, 8, None, 4, 1024),
        (6144, 1024, 8, None, 6, 1024),   # the released code's 1.5 N
        (300, 1024, 8, 300, 1, 304),      # one smaller step: 300 rows once, 4 topped up
        (8, 1024, 8, 8, 1, 8),            # one mixed group of 8 in a production batch: its 8 rows, once each
        (9, 16, 1, None, 1, 9),
        (5, 16, 2, 5, 1, 4),              # 2.5 micro-batch pairs round to 2: one row left out
        (24, 16, 1, None, 2, 12),
        (24, 16, 8, 24, 2, 16),           # 2 ranks x micro-batches of 4: whole micro-batches per rank
        (4, 16, 8, 4, 1, 8),              # each of 4 rows twice: the most a row is ever repeated
        (3, 16, 8, 3, 0, 0),              # 8 rows from 3 would repeat one three times: skipped
        (3, 16, 8, None, 1, 8),           # with replacement there is no such bound
        (0, 16, 1, None, 0, 0),
    ],
)
def test_update_plan_hand_computed(selected, mini_batch, multiple, available, steps, step_size):
    assert plan_update(selected, mini_batch, multiple, available) == UpdatePlan(steps, step_size)


@settings(max_examples=400, deadline=None)
@given(selected=st.integers(1, 20000), per_rank=st.integers(1, 256), dp=st.integers(1, 64),
       spare=st.one_of(st.none(), st.integers(0, 5000)))
def test_update_plan_is_equal_whole_steps_that_repeat_no_row_more_than_twice(selected, per_rank, dp, spare):
    mini_batch = per_rank * dp  # verl requires a mini-batch of whole micro-batches on every rank
    available = None if spare is None else selected + spare
    plan = plan_update(selected, mini_batch, dp, available)
    if plan.total == 0:
        # only when not even one row per rank fits without a third copy
        assert available is not None and dp > MAX_COPIES * available
        return
    assert plan.steps >= 1 and plan.step_size % dp == 0
    if available is not None:
        assert plan.total <= MAX_COPIES * available
    # the nearest whole micro-batch multiple: never more than half a multiple per step above the selection,
    # except that a selection of less than half a multiple still trains one multiple
    assert plan.total <= max(selected + plan.steps * dp / 2, dp)
    # steps are mini-batch sized: between three quarters and one and a half configured mini-batches
    if selected >= mini_batch:
        assert 0.75 * mini_batch - dp <= plan.step_size <= 1.5 * mini_batch + dp


def test_last_step_uses_tau_end_exactly():
    from types import SimpleNamespace

    from verl_ext.settings import PADConfig, resolve_pad
    from verl_ext.trainer.pad_trainer import RevisualPPOTrainer

    fake = SimpleNamespace(revisual=SimpleNamespace(pad=resolve_pad(PADConfig())), total_training_steps=200)
    taus = []
    for step in (1, 200):
        fake.global_steps = step
        taus.append(RevisualPPOTrainer._tau(fake))
    assert taus == [1.0, 0.3]
