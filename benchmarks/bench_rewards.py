"""Accuracy and speed of reward_fns vs math-verify and mathruler on one realistic rollout mix.

The mix imitates a GRPO step: prompts of the paper's answer styles (integers, option letters and
letter sets, decimals, fractions and radicals, units/degrees/percent, symbolic expressions,
intervals), 8 rollouts each with ~0.5-3k characters of reasoning, some hedged, truncated or
pathological.  Every case carries a hand-set label; accuracy is agreement with the labels.

    python benchmarks/bench_rewards.py [--responses 4096] [--baseline-responses 512]

math-verify is slow, so by default it scores a 256-response slice of the same mix (its answers/s
is what matters; its accuracy is also reported on the distinct cases).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# (final answer as the model writes it, gold, correct?)
CASES = [
    ("204", "204", True), ("205", "204", False), ("0204", "204", True), ("33", "33", True), ("12", "21", False),
    ("B", "B", True), ("(B)", "B", True), ("B. 12", "B", True), ("\\text{Option B}", "B", True), ("C", "B", False),
    ("(D) 2\\sqrt{2}", "D", True), ("A", "D", False), ("E", "E", True), ("\\textbf{(A)}", "A", True),
    ("A, C", "AC", True), ("CA", "A, C", True), ("A", "A, C", False), ("B, D", "B, D", True),
    ("1.45", "1.45", True), ("1.4516", "1.45", True), ("1.5", "1.45", False), ("3.0", "3", True),
    ("\\frac{1}{2}", "0.5", True), ("\\dfrac{3}{4}", "0.75", True), ("\\frac{2}{3}", "0.67", True), ("0.6", "0.67", False),
    ("\\frac{\\sqrt{3}}{2}", "\\frac{\\sqrt3}{2}", True), ("2\\sqrt{2}", "\\sqrt{8}", True),
    ("\\sqrt{2}", "\\sqrt{3}", False), ("√3", "\\sqrt{3}", True), ("3\\pi", "3\\pi", True),
    ("6\\pi", "3\\pi", False), ("\\frac{\\pi}{3}", "\\frac{1}{3}\\pi", True),
    ("6 \\text{ cm}", "6", True), ("6 cm", "6 m", False), ("60^\\circ", "60", True), ("60°", "60^{\\circ}", True),
    ("45^\\circ", "60", False), ("25\\%", "25", True), ("1,000", "1000", True), ("\\$12", "12", True),
    ("x=5", "5", True), ("x^2+2x+1", "(x+1)^2", True), ("x^2+x", "x(x+1)", True), ("x^2-1", "(x+1)^2", False),
    ("(1,2]", "1<x\\le 2", True), ("(-\\infty, 3)", "x<3", True), ("[1,3)", "[1,3]", False),
    ("\\{1,2\\}", "\\{2,1\\}", True), ("(3,\\frac{\\pi}{2})", "\\left( 3, \\frac{\\pi}{2} \\right)", True),
    ("(0,5)", "\\left( 3, \\frac{\\pi}{2} \\right)", False), ("y=2x+1", "y=2x+1", True), ("2x+1", "2x+2", False),
    ("\\frac{x}{2}", "0.5x", True), ("e^{2}", "e^2", True), ("\\log_2 8", "3", True),
    ("yes", "Yes", True), ("no", "Yes", False), ("Sep", "Sep", True),
    ("10^{10^{10}}", "10", False), ("2^{2^{40}}", "1", False), ("\\sin^{1000}x+\\cos^{1000}x", "1", False),
]
PATHOLOGICAL_PREFIXES = ("\\boxed{10^{10^", "\\boxed{2^{2^", "\\boxed{\\sin^{1000}")
HEDGED = [("\\boxed{12} or \\boxed{13}", "12", False), ("\\boxed{A} \\boxed{B}", "A", False)]
NO_ANSWER = [("the answer is 12", "12", False), ("\\boxed{\\frac{1}{2", "0.5", False)]

FILLER = (
    "Let us denote the unknown by $x$. From the figure, $AB = 3$ and $BC = 4$, so by Pythagoras "
    "$AC = \\sqrt{3^2 + 4^2} = 5$. Then we compute $\\frac{1}{2} \\cdot 3 \\cdot 4 = 6$. "
    "Wait, let me check the angle: $\\angle ABC = 90^\\circ$. "
)


def build_mix(n: int, seed: int = 0) -> list[tuple[str, str, bool]]:
    """``n`` responses, 8 per prompt, each prompt drawn from the labelled cases."""
    rng = random.Random(seed)
    pool = [(f"\\boxed{{{a}}}", g, c) for a, g, c in CASES] + HEDGED + NO_ANSWER
    # Pathological answers are rare in real rollouts (~0.3% of prompts here), but present.
    weights = [0.1 if c[0].startswith(PATHOLOGICAL_PREFIXES) else 1.0 for c in pool]
    mix = []
    while len(mix) < n:
        gold = rng.choices(pool, weights)[0][1]
        group = [c for c in pool if c[1] == gold] or [rng.choice(pool)]
        for _ in range(8):
            tail, g, correct = rng.choice(group)
            reasoning = FILLER * rng.randint(2, 12)
            mix.append((f"<think>{reasoning}</think> The final answer is {tail}.", g, correct))
    return mix[:n]


def _proc_cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def run_reward_fns(mix, workers: int):
    import reward_fns
    from reward_fns import equivalence, symbolic

    equivalence._symbolic_cache.clear()
    symbolic.parse_gold.cache_clear()
    pool = reward_fns.ScoringPool(workers=workers)
    pool.warm_up()
    worker_pids = []
    for _ in range(pool.size):
        w = pool._idle.get()
        worker_pids.append(w.proc.pid)
        pool._idle.put(w)
    cpu_workers0 = sum(_proc_cpu_seconds(p) for p in worker_pids)
    cpu0, t0 = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as ex:
        scores = list(
            ex.map(lambda item: reward_fns.score_answer(item[0], item[1], timeout_s=2.0, pool=pool), mix)
        )
    wall = time.perf_counter() - t0
    cpu = (time.process_time() - cpu0) + sum(_proc_cpu_seconds(p) for p in worker_pids) - cpu_workers0
    stats = dict(pool.stats)
    pool.close()
    correct = sum((s.acc == 1.0) == label for s, (_, _, label) in zip(scores, mix))
    hangs = sum(s.timed_out for s in scores)
    return wall, cpu, correct, hangs, stats


def run_math_verify(mix):
    from math_verify import parse, verify

    t0 = time.perf_counter()
    cpu0 = time.process_time()
    correct = 0
    slow = 0
    for response, gold, label in mix:
        start = time.perf_counter()
        try:
            ok = verify(parse("\\boxed{" + gold + "}"), parse(response))
        except Exception:  # noqa: BLE001 - baseline: a raise is a 0
            ok = False
        slow += time.perf_counter() - start > 4.0
        correct += ok == label
    return time.perf_counter() - t0, time.process_time() - cpu0, correct, slow


def run_mathruler(mix):
    from mathruler.grader import extract_boxed_content, grade_answer

    t0 = time.perf_counter()
    cpu0 = time.process_time()
    correct = 0
    for response, gold, label in mix:
        try:
            ok = grade_answer(extract_boxed_content(response), gold)
        except Exception:  # noqa: BLE001
            ok = False
        correct += bool(ok) == label
    return time.perf_counter() - t0, time.process_time() - cpu0, correct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--responses", type=int, default=4096)
    parser.add_argument("--baseline-responses", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    mix = build_mix(args.responses)
    distinct = [(f"<think>{FILLER}</think> \\boxed{{{a}}}", g, c) for a, g, c in CASES] + [
        (f"<think>{FILLER}</think> {t}", g, c) for t, g, c in HEDGED + NO_ANSWER
    ]
    print(f"mix: {len(mix)} responses (8 per prompt), mean {sum(len(r) for r, _, _ in mix) / len(mix):.0f} chars; "
          f"{len(distinct)} distinct labelled cases; {os.cpu_count()} CPUs")

    wall, cpu, correct, hangs, stats = run_reward_fns(mix, args.workers)
    _, _, d_correct, _, _ = run_reward_fns(distinct, args.workers)
    rows = [("reward_fns (this)", len(mix), wall, cpu, correct / len(mix), d_correct / len(distinct), hangs)]

    base = mix[: args.baseline_responses]
    mv_wall, mv_cpu, mv_correct, mv_slow = run_math_verify(base)
    _, _, mvd_correct, _ = run_math_verify(distinct)
    rows.append(("math-verify parse+verify", len(base), mv_wall, mv_cpu, mv_correct / len(base),
                 mvd_correct / len(distinct), mv_slow))

    mr_wall, mr_cpu, mr_correct = run_mathruler(mix)
    _, _, mrd_correct = run_mathruler(distinct)
    rows.append(("mathruler grade_answer", len(mix), mr_wall, mr_cpu, mr_correct / len(mix),
                 mrd_correct / len(distinct), 0))

    print(f"\n{'checker':<26}{'n':>6}{'wall s':>9}{'CPU s':>8}{'ans/s/core':>12}{'acc(mix)':>10}{'acc(distinct)':>15}{'>timeout':>10}")
    for name, n, w, c, acc, dacc, h in rows:
        print(f"{name:<26}{n:>6}{w:>9.2f}{c:>8.2f}{n / max(c, 1e-9):>12.0f}{acc:>10.3f}{dacc:>15.3f}{h:>10}")
    speedup = (len(mix) / max(cpu, 1e-9)) / (len(base) / max(mv_cpu, 1e-9))
    print(f"\nreward_fns vs math-verify throughput per core: {speedup:.1f}x; "
          f"{len(mix)} responses in {wall:.2f} s wall with {args.workers} scoring processes; pool stats {stats}")


if __name__ == "__main__":
    main()
