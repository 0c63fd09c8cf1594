"""Column layout of every parquet file this package writes, and the row builders.

RL rows follow verl's ``RLHFDataset`` (see verl ``examples/data_preprocess/geo3k.py``); SFT rows
follow ``MultiTurnSFTDataset``. The Arrow schemas carry Hugging Face ``datasets`` feature
metadata so that ``datasets.load_dataset("parquet")`` (what verl calls) decodes ``images`` to
PIL images, exactly as for verl's own geo3k parquet.
"""

from functools import lru_cache

import pyarrow as pa

from data_preprocess.prompt import build_rl_prompt, build_user_content

ABILITY = "math"
REWARD_STYLE = "rule"
EXTRA_INFO_KEYS = ("index", "split", "question", "answer")


@lru_cache(maxsize=None)
def rl_schema(with_images: bool) -> pa.Schema:
    """Arrow schema of an RL parquet; text-only files have no ``images`` column."""
    from datasets import Features, Image, List, Value

    message = {"role": Value("string"), "content": Value("string")}
    columns = {"data_source": Value("string"), "prompt": List(message)}
    if with_images:
        columns["images"] = List(Image())
    columns["ability"] = Value("string")
    columns["reward_model"] = {"style": Value("string"), "ground_truth": Value("string")}
    columns["extra_info"] = {
        "index": Value("int64"),
        "split": Value("string"),
        "question": Value("string"),
        "answer": Value("string"),
    }
    return Features(columns).arrow_schema


@lru_cache(maxsize=None)
def sft_schema() -> pa.Schema:
    """Arrow schema of a cold-start SFT parquet (multi-turn ``messages``)."""
    from datasets import Features, List, Value

    message = {"role": Value("string"), "content": Value("string")}
    columns = {
        "data_source": Value("string"),
        "messages": List(message),
        "extra_info": {"index": Value("int64"), "split": Value("string")},
    }
    return Features(columns).arrow_schema


def image_cell(png_or_jpeg_bytes: bytes) -> dict:
    """One ``images`` entry: embedded bytes, never a path (paths break when files move)."""
    return {"bytes": png_or_jpeg_bytes, "path": None}


def make_rl_record(
    *,
    data_source: str,
    question: str,
    answer: str,
    index: int,
    split: str,
    images: list[bytes] | None = None,
) -> dict:
    """One verl RL row.

    ``question`` is the bare problem text (may contain ``<image>`` placeholders); the prompt gets
    the paper instruction appended and, if needed, one placeholder per image in front.
    ``extra_info.question`` keeps the bare text so reward functions and logs can show it.
    """
    record = {
        "data_source": data_source,
        "prompt": build_rl_prompt(question, len(images) if images else 0),
    }
    if images is not None:
        record["images"] = [image_cell(data) for data in images]
    record["ability"] = ABILITY
    record["reward_model"] = {"style": REWARD_STYLE, "ground_truth": answer}
    record["extra_info"] = {"index": index, "split": split, "question": question, "answer": answer}
    return record


def make_sft_record(*, data_source: str, messages: list[dict], index: int, split: str) -> dict:
    """One verl multi-turn SFT row."""
    return {
        "data_source": data_source,
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "extra_info": {"index": index, "split": split},
    }


def make_sft_pair(*, question: str, response: str) -> list[dict]:
    """User turn (question + paper instruction) followed by the assistant's think-then-box answer."""
    return [
        {"role": "user", "content": build_user_content(question)},
        {"role": "assistant", "content": response},
    ]
