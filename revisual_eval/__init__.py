"""Evaluation on the ten benchmarks of ReVisual-R1's Table 2, in two phases.

* ``generate`` (:func:`revisual_eval.generate.generate`): one resumable JSONL of responses per
  benchmark, through vLLM on GPUs or transformers on the CPU;
* ``score`` (:func:`revisual_eval.score.score_run`): rule-based verdicts with ``reward_fns``, each
  benchmark's metric as the paper reports it, ``results.json`` and ``results.md`` beside Table 2.

    python -m revisual_eval generate --model PATH --data-root DIR --benchmarks all --out RUN_DIR
    python -m revisual_eval score --data-root DIR --run RUN_DIR

Importing this package loads neither torch nor vLLM.
"""

from revisual_eval.paper import BENCHMARKS, PAPER_TABLE2

__all__ = ["BENCHMARKS", "PAPER_TABLE2"]
