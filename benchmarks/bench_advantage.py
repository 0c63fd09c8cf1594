"""Advantage + PAD cost against verl's own GRPO estimators, side by side in one process.

    python benchmarks/bench_advantage.py [--repeats 20] [--batch 4096] [--lengths 1024 8192]

Prints the median time of verl ``grpo`` (Python loop over samples), verl ``grpo_vectorized`` and
``revisual_grpo`` on the same batch (512 prompts x n=8, outcome reward on the last token), the
ratio ours / grpo_vectorized, and the median of one PAD selection on the batch's advantages.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from verl.trainer.ppo import core_algos

from verl_ext.algos.grpo import compute_revisual_grpo_advantage, grpo_sequence_advantages
from verl_ext.algos.pad import select_pad_indices


def make_batch(batch: int, length: int, n: int = 8, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, length + 1, (batch,), generator=gen)
    mask = (torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)).float()
    rewards = torch.zeros(batch, length)
    acc = (torch.rand(batch, generator=gen) < 0.4).float()
    rewards[torch.arange(batch), lengths - 1] = 0.9 * acc + 0.1 * torch.rand(batch, generator=gen)
    perm = torch.randperm(batch, generator=gen)  # verl's balancing shuffles groups across the batch
    index = np.array([f"{int(p) // n:08x}-uid" for p in perm], dtype=object)
    return rewards, mask, index


def interleaved_median_ms(fns: dict, repeats: int) -> dict:
    """Median wall time of each function, run round-robin so that load from other processes hits all alike."""
    for fn in fns.values():
        fn()  # warm-up: first calls pay for lazy kernel set-up
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 8192])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 = stable under load)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch} sequences")
    header = f"{'tokens':>7} | {'verl grpo':>10} | {'verl grpo_vec':>13} | {'revisual_grpo':>13} | {'ours/vec':>8} | {'PAD select':>10}"
    print(header)
    print("-" * len(header))
    for length in args.lengths:
        rewards, mask, index = make_batch(args.batch, length)
        grpo = core_algos.get_adv_estimator_fn("grpo")
        vec = core_algos.get_adv_estimator_fn("grpo_vectorized")
        seq_adv, _ = grpo_sequence_advantages(rewards.sum(-1), index)
        gen = torch.Generator().manual_seed(0)
        t = interleaved_median_ms(
            {
                "loop": lambda: grpo(rewards, mask, index=index),
                "vec": lambda: vec(rewards, mask, index=index),
                "ours": lambda: compute_revisual_grpo_advantage(rewards, mask, index=index),
                "pad": lambda: select_pad_indices(seq_adv, low=0.01, tau=0.5, generator=gen),
            },
            args.repeats,
        )
        t_loop, t_vec, t_ours, t_pad = t["loop"], t["vec"], t["ours"], t["pad"]
        print(
            f"{length:>7} | {t_loop:>8.1f}ms | {t_vec:>11.1f}ms | {t_ours:>11.1f}ms | {t_ours / t_vec:>7.2f}x | {t_pad:>8.3f}ms"
        )


if __name__ == "__main__":
    main()
