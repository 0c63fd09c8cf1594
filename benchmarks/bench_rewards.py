"""Accuracy and speed of reward_fns vs math-verify and mathruler, side by side in one process.

Three parts, each printed with its workload named:

1. Accuracy on the labelled cases from other projects' test suites
   (``benchmarks/data/peer_answer_cases.jsonl``, see its README): overall and per suite, for the
   cases whose label is a plain fact and, separately, for those whose label is a policy choice.
2. Cold pass: every distinct (response, gold) pair once (the 453 peer cases and this project's 66
   answer styles inside ~1.6k characters of reasoning), all caches cleared and fresh scoring
   processes, as early in RL training when most answers are new. math-verify (parse + verify) and
   mathruler score the same pairs.
3. RL batch: 4096 responses, 8 rollouts per prompt drawn from the 66 answer styles (hedged,
   truncated and ~0.3 % pathological rollouts included), as late in training when rollouts repeat.
   math-verify scores a 256-response slice of the same batch.
5. The fresh corpus (``benchmarks/data/fresh_answer_cases.jsonl``: suites the first corpus does not
   draw on, with an unequal twin of every equal pair): accuracy and a cold pass of its own, since
   the first corpus was used while fixing the checker and says little about unseen answers.
6. Answers in prose without a box (the first corpus's ``unboxed-prose`` cases): evaluation-mode
   extraction (``extract_answer_eval``) beside math-verify.
4. The reward manager's path on both workloads: each sample's whole composite reward (default
   terms) sent to one of the scoring processes, as ``reward_manager='revisual'`` does; wall time
   tells how much of ``reward.score_timeout_s`` a step of that size needs.

Speed is answers per CPU second (this process and its scoring processes together), so the
ratio does not depend on how many cores are free; wall time is printed too.

    python benchmarks/bench_rewards.py [--responses 4096] [--baseline-responses 256] [--workers 2] [--fresh-only]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PEER_CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "peer_answer_cases.jsonl")
FRESH_CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "fresh_answer_cases.jsonl")

# This project's answer styles: (final answer as the model writes it, gold, correct?)
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


def load_peer_cases(path: str = PEER_CASES) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def in_house_pairs() -> list[tuple[str, str, bool]]:
    """The 66 answer styles, each once, inside a ~1.6k-character rollout."""
    rng = random.Random(1)
    pairs = []
    for answer, gold, correct in CASES:
        reasoning = FILLER * rng.randint(2, 12)
        pairs.append((f"<think>{reasoning}</think> The final answer is \\boxed{{{answer}}}.", gold, correct))
    for tail, gold, correct in HEDGED + NO_ANSWER:
        pairs.append((f"<think>{FILLER * 4}</think> {tail}", gold, correct))
    return pairs


def build_mix(n: int, seed: int = 0) -> list[tuple[str, str, bool]]:
    """``n`` responses, 8 per prompt, each prompt drawn from the in-house answer styles."""
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


def _pool_pids(pool) -> list[int]:
    """Process ids of the pool's scoring processes (all idle when this is called)."""
    pids = []
    for _ in range(pool.size):
        w = pool._idle.get()
        pids.append(w.proc.pid)
        pool._idle.put(w)
    return pids


def _reaped_children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ---- the three checkers, each on (response, gold) pairs -----------------------------------------


def run_reward_fns(pairs, workers: int):
    """Score with reward_fns as training does: fast paths in the calling threads, the symbolic
    step in ``workers`` fresh scoring processes (so no cache survives from an earlier run)."""
    import reward_fns
    from reward_fns import equivalence, numeric

    equivalence.analyse.cache_clear()
    numeric._value.cache_clear()
    equivalence._symbolic_cache.clear()
    pool = reward_fns.ScoringPool(workers=workers)
    pool.warm_up()
    worker_pids = _pool_pids(pool)
    start_cpu = {p: _proc_cpu_seconds(p) for p in worker_pids}
    reaped0 = _reaped_children_cpu()
    cpu0, t0 = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as ex:
        scores = list(ex.map(lambda item: reward_fns.score_answer(item[0], item[1], timeout_s=2.0, pool=pool), pairs))
    wall = time.perf_counter() - t0
    # Scoring processes alive now (a replacement counts whole), plus those killed at a deadline
    # and reaped meanwhile (their CPU before the pass is taken off).
    live = _pool_pids(pool)
    live_cpu = sum(_proc_cpu_seconds(p) - start_cpu.get(p, 0.0) for p in live)
    killed_before = sum(v for p, v in start_cpu.items() if p not in live)
    cpu = (time.process_time() - cpu0) + live_cpu + (_reaped_children_cpu() - reaped0) - killed_before
    stats = dict(pool.stats)
    stats["symbolic_fallbacks"] = sum("symbolic" in s.path for s in scores)
    pool.close()
    verdicts = [s.acc == 1.0 for s in scores]
    return verdicts, wall, cpu, sum(s.timed_out for s in scores), stats


def run_manager_path(pairs, workers: int):
    """Every sample's whole composite reward in a scoring process (the reward manager's path)."""
    from reward_fns import ScoringPool, compose_rewards
    from reward_fns.composite import score_in_worker

    composite = compose_rewards()
    with ScoringPool(workers=workers) as pool:
        pool.warm_up()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as ex:
            results = list(ex.map(lambda item: pool.call(
                score_in_worker, composite, {"response": item[0], "ground_truth": item[1], "response_length": 1000},
                timeout_s=5.0), pairs))
        wall = time.perf_counter() - t0
    return wall, sum(not r.ok for r in results)


def _math_verify_gold(gold: str) -> str:
    return gold if ("$" in gold or "\\boxed" in gold or "\\(" in gold) else "\\boxed{" + gold + "}"


def run_math_verify(pairs):
    """math-verify 0.9 with its defaults (its 5 s alarms work here: main thread). Also returns
    the CPU time spent outside the calls that took over 4 s (those hit its alarms)."""
    from math_verify import parse, verify

    verdicts, slow, slow_cpu = [], 0, 0.0
    cpu0, t0 = time.process_time(), time.perf_counter()
    for response, gold in pairs:
        start, start_cpu = time.perf_counter(), time.process_time()
        try:
            ok = bool(verify(parse(_math_verify_gold(gold)), parse(response)))
        except Exception:  # noqa: BLE001 - baseline: a raise is a 0
            ok = False
        if time.perf_counter() - start > 4.0:
            slow += 1
            slow_cpu += time.process_time() - start_cpu
        verdicts.append(ok)
    cpu = time.process_time() - cpu0
    run_math_verify.cpu_without_slow = cpu - slow_cpu
    return verdicts, time.perf_counter() - t0, cpu, slow


def _mathruler_gold(gold: str) -> str:
    from mathruler.grader import extract_boxed_content

    gold = gold.strip()
    if "\\boxed" in gold:
        gold = extract_boxed_content(gold)
    return gold.strip("$ ")


def run_mathruler(pairs):
    from mathruler.grader import extract_boxed_content, grade_answer

    verdicts = []
    cpu0, t0 = time.process_time(), time.perf_counter()
    for response, gold in pairs:
        try:
            ok = bool(grade_answer(extract_boxed_content(response), _mathruler_gold(gold)))
        except Exception:  # noqa: BLE001
            ok = False
        verdicts.append(ok)
    return verdicts, time.perf_counter() - t0, time.process_time() - cpu0


# ---- report ---------------------------------------------------------------------------------------


def _accuracy_table(cases: list[dict], verdicts: dict[str, list[bool]]) -> None:
    names = list(verdicts)
    suites = sorted({c["suite"] for c in cases}, key=lambda s: -sum(c["suite"] == s for c in cases))
    print(f"\n{'suite':<24}{'kind':<8}{'cases':>6}" + "".join(f"{n:>17}" for n in names))
    rows = [(s, False) for s in suites] + [("all", False)] + [(s, True) for s in suites] + [("all", True)]
    for suite, policy in rows:
        idx = [i for i, c in enumerate(cases) if (suite == "all" or c["suite"] == suite) and (c["policy"] is not None) == policy]
        if not idx:
            continue
        cells = []
        for name in names:
            right = sum(verdicts[name][i] == cases[i]["label"] for i in idx)
            cells.append(f"{right}/{len(idx)} {100 * right / len(idx):5.1f}%")
        cells = [f"{c:>17}" for c in cells]
        label = "policy" if policy else "fact"
        print(f"{suite:<24}{label:<8}{len(idx):>6}" + "".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--responses", type=int, default=4096)
    parser.add_argument("--baseline-responses", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fresh-only", action="store_true", help="only parts 5 and 6")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at start")
    if not args.fresh_only:
        in_sample(args)
    fresh_corpus(args)
    prose_answers()
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


def _cold_pass_report(n: int, ours, mv, mr) -> None:
    (o_wall, o_cpu, o_timeouts, o_stats), (m_wall, m_cpu, m_slow), (r_wall, r_cpu) = ours, mv, mr
    print(f"{'checker':<28}{'wall s':>9}{'CPU s':>8}{'answers/s/core':>16}{'>4 s':>6}")
    for name, wall, cpu, slow in (("reward_fns (2 processes)", o_wall, o_cpu, o_timeouts),
                                  ("math-verify parse+verify", m_wall, m_cpu, m_slow),
                                  ("mathruler grade_answer", r_wall, r_cpu, 0)):
        print(f"{name:<28}{wall:>9.2f}{cpu:>8.2f}{n / max(cpu, 1e-9):>16.0f}{slow:>6}")
    ours_rate = n / max(o_cpu, 1e-9)
    mv_rate_without_slow = (n - m_slow) / max(run_math_verify.cpu_without_slow, 1e-9)
    print(f"math-verify without its {m_slow} calls over 4 s: {mv_rate_without_slow:.0f} answers/s/core")
    print(f"reward_fns vs math-verify per core, cold pass: {ours_rate / (n / max(m_cpu, 1e-9)):.1f}x "
          f"({ours_rate / mv_rate_without_slow:.1f}x against math-verify without those calls); "
          f"{o_stats['symbolic_fallbacks']} of {n} pairs ({100 * o_stats['symbolic_fallbacks'] / n:.1f} %) "
          f"went to the symbolic checker; scoring-process stats {o_stats}")


def fresh_corpus(args) -> None:
    """Part 5: accuracy and a cold pass on the corpus the checker was not fixed on first."""
    cases = load_peer_cases(FRESH_CASES)
    pairs = [(c["response"], c["gold"]) for c in cases]
    ours, o_wall, o_cpu, o_timeouts, o_stats = run_reward_fns(pairs, args.workers)
    mv, m_wall, m_cpu, m_slow = run_math_verify(pairs)
    mr, r_wall, r_cpu = run_mathruler(pairs)
    facts = [i for i, c in enumerate(cases) if c["policy"] is None]
    false_accepts = sum(ours[i] and not cases[i]["label"] for i in facts)
    print(f"\nFresh corpus: {len(cases)} labelled cases ({len(facts)} plain facts, "
          f"{len(cases) - len(facts)} policy choices); reward_fns false accepts on plain facts: {false_accepts}")
    _accuracy_table(cases, {"reward_fns": ours, "math-verify": mv, "mathruler": mr})
    print(f"\nCold pass on the fresh corpus: {len(pairs)} distinct pairs, each once, caches cleared")
    _cold_pass_report(len(pairs), (o_wall, o_cpu, o_timeouts, o_stats), (m_wall, m_cpu, m_slow), (r_wall, r_cpu))


def prose_answers() -> None:
    """Part 6: answers in prose, evaluation mode beside math-verify on the whole response."""
    from reward_fns import check_equivalence, extract_answer_eval
    from reward_fns.accuracy import gold_answer

    cases = [c for c in load_peer_cases() if c["policy"] == "unboxed-prose"]
    ours = 0
    for c in cases:
        answer = extract_answer_eval(c["response"])
        verdict = answer is not None and check_equivalence(answer, gold_answer(c["gold"]), timeout_s=None).equal
        ours += verdict == c["label"]
    mv_verdicts = run_math_verify([(c["response"], c["gold"]) for c in cases])[0]
    mv = sum(verdict == c["label"] for verdict, c in zip(mv_verdicts, cases))
    print(f"\nAnswers in prose ({len(cases)} unboxed-prose cases): evaluation mode {ours}/{len(cases)} "
          f"({100 * ours / len(cases):.1f} %), math-verify {mv}/{len(cases)} ({100 * mv / len(cases):.1f} %); "
          f"training mode scores none of them (no box, no answer)")


def in_sample(args) -> None:
    """Parts 1-4 on the first corpus and this project's answer styles."""

    # 1 + 2: the cold pass over every distinct pair; accuracy comes from the same run.
    cases = load_peer_cases()
    house = in_house_pairs()
    pairs = [(c["response"], c["gold"]) for c in cases] + [(r, g) for r, g, _ in house]
    ours, o_wall, o_cpu, o_timeouts, o_stats = run_reward_fns(pairs, args.workers)
    mv, m_wall, m_cpu, m_slow = run_math_verify(pairs)
    mr, r_wall, r_cpu = run_mathruler(pairs)
    n_peer = len(cases)
    print(f"\nAccuracy on {n_peer} labelled cases from other projects' test suites "
          f"({sum(c['policy'] is None for c in cases)} plain facts, {sum(c['policy'] is not None for c in cases)} policy choices)")
    _accuracy_table(cases, {"reward_fns": ours[:n_peer], "math-verify": mv[:n_peer], "mathruler": mr[:n_peer]})
    labels = [c for _, _, c in house]
    cells = []
    for verdict in (ours, mv, mr):
        right = sum(v == label for v, label in zip(verdict[n_peer:], labels))
        cells.append(f"{f'{right}/{len(house)} {100 * right / len(house):5.1f}%':>17}")
    print(f"{'this project (styles)':<24}{'fact':<8}{len(house):>6}" + "".join(cells))

    print(f"\nCold pass (in-sample): {len(pairs)} distinct (response, gold) pairs, each once, caches cleared")
    _cold_pass_report(len(pairs), (o_wall, o_cpu, o_timeouts, o_stats), (m_wall, m_cpu, m_slow), (r_wall, r_cpu))

    # 3: the RL batch.
    mix = build_mix(args.responses)
    mix_pairs = [(r, g) for r, g, _ in mix]
    b_ours, b_wall, b_cpu, b_timeouts, b_stats = run_reward_fns(mix_pairs, args.workers)
    base = mix_pairs[: args.baseline_responses]
    b_mv, bm_wall, bm_cpu, bm_slow = run_math_verify(base)
    b_mr, br_wall, br_cpu = run_mathruler(mix_pairs)
    mean_chars = sum(len(r) for r, _ in mix_pairs) / len(mix_pairs)
    print(f"\nRL batch: {len(mix)} responses, 8 rollouts per prompt, mean {mean_chars:.0f} characters")
    print(f"{'checker':<28}{'n':>6}{'wall s':>9}{'CPU s':>8}{'answers/s/core':>16}{'accuracy':>10}{'>4 s':>6}")
    for name, verdicts, rows, wall, cpu, slow in (
        ("reward_fns (2 processes)", b_ours, mix, b_wall, b_cpu, b_timeouts),
        ("math-verify parse+verify", b_mv, mix[: args.baseline_responses], bm_wall, bm_cpu, bm_slow),
        ("mathruler grade_answer", b_mr, mix, br_wall, br_cpu, 0),
    ):
        acc = sum(v == label for v, (_, _, label) in zip(verdicts, rows)) / len(rows)
        print(f"{name:<28}{len(rows):>6}{wall:>9.2f}{cpu:>8.2f}{len(rows) / max(cpu, 1e-9):>16.0f}{acc:>10.3f}{slow:>6}")
    ratio = (len(mix) / max(b_cpu, 1e-9)) / (len(base) / max(bm_cpu, 1e-9))
    print(f"reward_fns vs math-verify per core, RL batch: {ratio:.1f}x; scoring-process stats {b_stats}")

    print(f"\nReward manager's path (whole composite per sample in {args.workers} scoring processes, 5 s deadline)")
    for name, work in (("cold pass", pairs), ("RL batch", mix_pairs)):
        wall, failed = run_manager_path(work, args.workers)
        print(f"{name:<12}{len(work):>6} samples in {wall:.2f} s wall: {len(work) / wall:.0f}/s, "
              f"{1000 * wall / len(work):.2f} ms per sample, {failed} failed")


if __name__ == "__main__":
    main()
