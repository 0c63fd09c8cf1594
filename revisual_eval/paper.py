"""ReVisual-R1 paper Table 2 as data, and facts about the benchmarks the report needs: the paper's
ten, and MMMU, which lmms-eval and VLMEvalKit users run first (the paper reports no MMMU number)."""

from __future__ import annotations

BENCHMARKS = [
    "mathverse",
    "mathvision",
    "mathvista",
    "dynamath",
    "wemath",
    "logicvista",
    "aime24",
    "aime25",
    "gpqa_diamond",
    "math500",
    "mmmu",
]
PAPER_BENCHMARKS = BENCHMARKS[:10]
"""The ten columns of the paper's Table 2; its average is over these."""
DISPLAY_NAMES = {
    "mathverse": "MathVerse",
    "mathvision": "MathVision",
    "mathvista": "MathVista",
    "dynamath": "DynaMath",
    "wemath": "WeMath",
    "logicvista": "LogicVista",
    "aime24": "AIME24",
    "aime25": "AIME25",
    "gpqa_diamond": "GPQA",
    "math500": "MATH500",
    "mmmu": "MMMU",
}

DEFAULT_SAMPLES = {"aime24": 8, "aime25": 8}
"""Samples per item: AIME is averaged over 8 runs (Table 2 caption); the rest are pass@1."""

LLM_JUDGED = {
    "mathverse": "the official scorer asks GPT-4 to judge each answer",
    "mathvista": "the official scorer extracts answers with GPT-4",
    "logicvista": "the official scorer extracts the letters with GPT-4",
}
"""Benchmarks whose standard protocol uses an LLM judge: a rule-based score is a lower bound."""

REVISUAL_ROW = "ReVisual-R1 (7B)"

# Paper Table 2, in the paper's row order. Columns follow BENCHMARKS, then the 10-benchmark average.
_TABLE2_ROWS = [
    ("doubao-1.5-vision-pro-32k", [64.7, 51.5, 78.6, 44.9, 64.2, 65.7, 26.7, 20.0, 56.1, 85.2, 55.8]),
    ("OpenAI-GPT-4o", [40.6, 31.1, 59.9, 34.5, 42.9, 64.4, 9.3, 8.3, 49.9, 74.6, 41.6]),
    ("Claude-3.7-Sonnet", [52.0, 41.3, 66.8, 39.7, 58.2, 49.3, 20.0, 13.3, 61.1, 80.4, 48.2]),
    ("Gemini-2.0-Flash", [43.6, 47.8, 70.4, 42.1, 47.4, 52.3, 33.3, 36.7, 35.4, 69.0, 47.8]),
    ("InternVL-3-8B", [33.9, 28.6, 70.5, 23.0, 37.5, 43.6, 3.3, 6.7, 34.8, 75.2, 35.7]),
    ("LLaVA-OV-7B", [17.6, 17.6, 62.6, 9.0, 17.7, 32.0, 0.0, 0.0, 0.1, 45.2, 20.2]),
    ("Qwen-2.5-VL-7B", [38.7, 26.6, 69.1, 12.6, 24.5, 35.6, 10.0, 6.7, 32.8, 67.2, 32.4]),
    ("OpenVLThinker-7B", [38.1, 23.0, 65.3, 16.8, 35.2, 44.5, 5.0, 1.7, 28.3, 51.0, 30.9]),
    ("MM-Eureka-Qwen-7B", [45.4, 28.1, 72.6, 23.0, 21.8, 46.3, 6.7, 3.3, 34.3, 66.6, 31.5]),
    ("MMR1-Math-v0", [42.8, 30.7, 69.8, 17.4, 31.9, 46.8, 5.4, 0.8, 19.2, 65.8, 33.1]),
    ("ThinkLite-7B-VL", [42.9, 24.6, 71.6, 16.5, 41.8, 42.7, 8.8, 27.9, 24.8, 61.4, 36.3]),
    ("VLAA-Thinker-7B", [44.9, 24.2, 71.7, 17.8, 35.7, 45.9, 0.8, 12.6, 30.8, 30.8, 31.5]),
    ("VL-Rethinker-7B", [46.4, 28.4, 73.7, 17.8, 36.3, 42.7, 2.9, 2.9, 37.4, 47.0, 33.6]),
    (REVISUAL_ROW, [53.6, 48.8, 73.1, 27.5, 42.0, 52.3, 53.3, 43.3, 47.5, 89.2, 53.1]),
]

PAPER_TABLE2: dict[str, dict[str, float]] = {
    model: {**dict(zip(PAPER_BENCHMARKS, values[:10])), "average": values[10]} for model, values in _TABLE2_ROWS
}
"""``PAPER_TABLE2[model][benchmark]``: the paper's score in percent; ``["average"]`` its 10-benchmark mean."""
