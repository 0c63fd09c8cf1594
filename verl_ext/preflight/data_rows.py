"""The RL data verl is about to read: files that exist, rows whose fields have the right types, prompts that fit.

verl skips a row whose ``prompt`` it cannot render (``Error processing one of the samples, skipping...``)
and every prompt longer than ``data.max_prompt_length``, naming neither; when none is left it stops
after Ray started with ``num_samples should be a positive integer value, but got num_samples=0``.
Here, before Ray:

* each local file of ``data.train_files`` / ``data.val_files`` must exist;
* each row's ``prompt`` must be a list of messages with a string ``role`` and a ``content`` (text, or a
  list of parts), and ``reward_model.ground_truth`` must be there for the reward manager; the first
  bad rows are named (file, row, field) and the launch is refused;
* the prompts over ``data.max_prompt_length`` are counted with verl's own dataset class, tokenizer and
  processor (its ``maybe_filter_out_long_prompts``, one process): none left is refused, some dropped is
  reported. A file of more than :data:`LENGTH_SAMPLE_ROWS` rows is measured on its first rows only
  (rendering a prompt with its images costs milliseconds, and verl measures all of them again when
  it builds its dataset); the report then says it is an estimate from that sample.
"""

from __future__ import annotations

import contextlib
import functools
import io
from pathlib import Path

import pyarrow.parquet as pq
from omegaconf import OmegaConf, open_dict

LENGTH_SAMPLE_ROWS = 2000
LISTED_IN_ERRORS = 5


class BadData(ValueError):
    """A data file is missing, unreadable, has rows verl would skip, or keeps no prompt."""


def data_files(config, key: str) -> list:
    value = config.data.get(key)
    if value is None:
        return []
    return list(value) if OmegaConf.is_list(value) or isinstance(value, list | tuple) else [value]


def is_local(file) -> bool:
    return isinstance(file, str) and "://" not in file


def row_problem(row: dict, prompt_key: str) -> str | None:
    """``field: what is wrong`` for one row, or None when verl can render it and the reward manager score it."""
    prompt = row.get(prompt_key)
    if not isinstance(prompt, list) or not prompt:
        return f"{prompt_key}: must be a non-empty list of messages, got {type(prompt).__name__}"
    for index, message in enumerate(prompt):
        where = f"{prompt_key}[{index}]"
        if not isinstance(message, dict):
            return f"{where}: must be a message {{role, content}}, got {type(message).__name__}"
        if not isinstance(message.get("role"), str):
            return f"{where}.role: must be a string, got {message.get('role')!r}"
        content = message.get("content")
        if content is None:
            return f"{where}.content: missing (verl would skip this row)"
        if not isinstance(content, str | list):
            return f"{where}.content: must be text or a list of parts, got {type(content).__name__}"
    reward = row.get("reward_model")
    if not isinstance(reward, dict) or reward.get("ground_truth") is None:
        return "reward_model.ground_truth: missing (the reward manager scores against it)"
    return None


def check_rows(file: str, prompt_key: str) -> int:
    """Refuse ``file`` when it does not exist, cannot be read or has rows with bad fields; returns its row count."""
    path = Path(file)
    if not path.is_file():
        raise BadData(f"{file}: the data file does not exist")
    if path.suffix != ".parquet":
        return -1  # verl reads other formats itself; only parquet is checked here
    try:
        table = pq.read_table(path, columns=[c for c in (prompt_key, "reward_model")
                                             if c in pq.read_schema(path).names])
    except Exception as error:  # noqa: BLE001 - pyarrow raises several types; all mean an unreadable file
        raise BadData(f"{file}: not a readable parquet file: {error}") from error
    if prompt_key not in table.column_names:
        raise BadData(f"{file}: no '{prompt_key}' column (data.prompt_key); the file has {table.column_names}")
    bad = []
    for row_number, row in enumerate(table.to_pylist()):
        if problem := row_problem(row, prompt_key):
            bad.append(f"row {row_number}: {problem}")
    if bad:
        listed = "; ".join(bad[:LISTED_IN_ERRORS]) + (f"; and {len(bad) - LISTED_IN_ERRORS} more" if
                                                       len(bad) > LISTED_IN_ERRORS else "")
        raise BadData(f"{file}: {len(bad)} of {table.num_rows} rows cannot be used (verl would skip them "
                      f"silently): {listed}")
    return table.num_rows


@functools.lru_cache(maxsize=2)
def tokenizer_and_processor(path: str, trust_remote_code: bool):
    """Loaded once for the train and the val files, the way verl's main loads them."""
    from verl.utils import hf_processor, hf_tokenizer

    return (hf_tokenizer(path, trust_remote_code=trust_remote_code),
            hf_processor(path, trust_remote_code=trust_remote_code, use_fast=True))


def count_fitting(config, key: str, files: list, rows: int) -> tuple[int, int]:
    """``(measured rows, rows that fit)`` by verl's own filter (its dataset class, tokenizer and processor)."""
    from verl.trainer.ppo.utils import create_rl_dataset

    model = config.actor_rollout_ref.model
    tokenizer, processor = tokenizer_and_processor(str(model.path), bool(model.get("trust_remote_code", False)))
    data_config = OmegaConf.create(OmegaConf.to_container(config.data, resolve=True))
    with open_dict(data_config):
        data_config.filter_overlong_prompts = True
        data_config.filter_overlong_prompts_workers = 1  # no worker pool for a count
        data_config.shuffle = False
    measured = min(rows, LENGTH_SAMPLE_ROWS)
    # verl prints a line per step of its dataset build and a traceback per skipped row; the count is what matters.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        dataset = create_rl_dataset(files, data_config, tokenizer, processor, is_train=key == "train_files",
                                    max_samples=measured if rows > LENGTH_SAMPLE_ROWS else -1)
    return measured, len(dataset)


def check_data(config, say) -> None:
    """Stages 2 and 3: the checks above on ``data.train_files`` and ``data.val_files``; ``say`` reports."""
    prompt_key = config.data.get("prompt_key", "prompt")
    max_length = config.data.get("max_prompt_length")
    for key in ("train_files", "val_files"):
        files = data_files(config, key)
        local = [f for f in files if is_local(f)]
        counts = [check_rows(f, prompt_key) for f in local]
        if not local or len(local) != len(files) or -1 in counts or not config.data.get("filter_overlong_prompts", True):
            continue  # remote or non-parquet data, or verl keeps long prompts (it truncates them): left to verl
        if not Path(str(config.actor_rollout_ref.model.path)).is_dir():
            continue  # a hub name or remote model: its tokenizer is not here to count with
        rows = sum(counts)
        try:
            measured, kept = count_fitting(config, key, local, rows)
        except Exception as error:  # noqa: BLE001 - a count that fails must not stop a launch verl may run
            say(f"warning: data.{key}: could not count the prompts over data.max_prompt_length "
                f"({type(error).__name__}: {error}); verl filters them when it builds its dataset")
            continue
        names = ", ".join(local)
        if kept == 0:
            raise BadData(
                f"data.{key}: none of the {measured} prompts{' measured' if measured < rows else ''} of {names} "
                f"fits in data.max_prompt_length={max_length} tokens (with the chat template and image tokens); "
                "verl would drop them all and stop after Ray started. Raise data.max_prompt_length or shorten "
                "the prompts (smaller images take fewer tokens)."
            )
        if kept < measured:
            scope = (f"{measured - kept} of the first {measured} rows (an estimate for all {rows})"
                     if measured < rows else f"{measured - kept} of {rows} rows")
            say(f"warning: data.{key}: {scope} of {names} are longer than data.max_prompt_length={max_length} "
                "tokens; verl leaves them out")
