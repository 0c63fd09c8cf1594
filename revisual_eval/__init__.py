"""Evaluation on the ten benchmarks of ReVisual-R1's Table 2: an application on top of ``reward_fns``.

* ``generate`` (:func:`revisual_eval.generate.generate`): one resumable JSONL of responses per
  benchmark, through vLLM on GPUs or transformers on the CPU;
* ``score`` (:func:`revisual_eval.score.score_run`): rule-based verdicts with ``reward_fns``, each
  benchmark's metric as the paper reports it, optionally each benchmark's judged protocol through an
  OpenAI-compatible LLM judge, and ``results.json`` / ``results.md`` beside Table 2;
* ``convert``: responses made by lmms-eval as a run file that ``score`` reads.

    python -m revisual_eval generate --model PATH --data-root DIR --benchmarks all --out RUN_DIR
    python -m revisual_eval score --data-root DIR --run RUN_DIR [--judge URL --judge-model NAME]

It imports no verl: importing this package loads neither torch, vLLM nor verl, and scoring never
does (tests check it). Only the CPU generation backend borrows two verl-free helpers of
``verl_ext`` (the torchvision-free processor, the tiny demo model).
"""

from revisual_eval.paper import BENCHMARKS, PAPER_TABLE2

__all__ = ["BENCHMARKS", "PAPER_TABLE2"]
