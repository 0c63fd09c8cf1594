"""Cost of the prompt scheduler's decision per step, beside the plain sampler it sits behind.

    python benchmarks/bench_schedule.py [--prompts 512] [--epochs 100] [--repeats 50]

Workload: a training set of ``--prompts`` prompts whose history holds ``--epochs`` epochs of group
outcomes (a third all-correct, a third all-wrong, a third mixed, redrawn each epoch); one step decides on
``--prompts`` candidates, then records their outcomes and adapts the exploration probabilities. The
baseline is what a step costs without the scheduler: torch's ``RandomSampler`` drawing the same number of
indices (verl's own sampler). Prints the median milliseconds of each and the state's memory per prompt.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from verl_ext.algos.schedule import (
    ALL_CORRECT, ALL_WRONG, MIXED, ScheduleHistory, adapt_exploration, decide, record_outcomes,
)


def build_history(prompts: int, epochs: int, seed: int = 0) -> ScheduleHistory:
    rng = np.random.default_rng(seed)
    history = ScheduleHistory()
    index = np.arange(prompts)
    for epoch in range(epochs):
        outcome = rng.choice(np.array([ALL_CORRECT, ALL_WRONG, MIXED], dtype=np.int8), size=prompts)
        record_outcomes(history, index, outcome, rng.integers(100, 4000, size=prompts), step=epoch + 1)
    return history


def one_step(history: ScheduleHistory, candidates: np.ndarray, step: int) -> None:
    out = decide(history, candidates, np.random.default_rng([0, step]), explore_init=0.5, audit_share=0.1)
    kept = candidates[out.keep]
    outcome = np.full(kept.size, MIXED, dtype=np.int8)
    record_outcomes(history, kept, outcome, np.full(kept.size, 500.0), step=step)
    adapt_exploration(history, outcome, target_share=0.125, rate=0.05, explore_init=0.5, explore_min=0.1)


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)
    history = build_history(args.prompts, args.epochs)
    candidates = np.random.default_rng(1).permutation(args.prompts)
    steps = iter(range(args.epochs + 1, args.epochs + 1 + 10 * args.repeats))
    sampler = torch.utils.data.RandomSampler(range(args.prompts), generator=torch.Generator().manual_seed(0))
    baseline = median_ms(lambda: list(iter(sampler)), args.repeats)
    ours = median_ms(lambda: one_step(history, candidates, next(steps)), args.repeats)
    state_bytes = sum(getattr(history, name).nbytes for name in ("last", "streak", "seen_step", "mean_tokens"))
    result = {"prompts": args.prompts, "epochs": args.epochs, "baseline_sampler_ms": baseline,
              "scheduler_step_ms": ours, "state_bytes_per_prompt": state_bytes / args.prompts}
    print(f"workload: {args.prompts} candidate prompts per step, history of {args.epochs} epochs")
    print(f"  torch RandomSampler, {args.prompts} indices (verl's sampler): {baseline:.3f} ms")
    print(f"  scheduler decide + record + adapt:                {ours:.3f} ms")
    print(f"  scheduler state: {result['state_bytes_per_prompt']:.0f} bytes per prompt (O(prompts))")
    return result


if __name__ == "__main__":
    main()
