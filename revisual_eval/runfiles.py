"""The run folder: one append-only JSONL per benchmark, one row per (item id, sample).

The row schema is in ``docs/evaluation.md`` ("Run files").

Rows are flushed one at a time, so an interrupted generation loses at most the line being
written; reading tolerates (and on request cuts off) such a truncated last line.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from revisual_eval.errors import EvalDataError

REQUIRED_FIELDS = {"benchmark": (str,), "id": (str, int), "sample": (int,), "response": (str,)}
"""What every row needs. With a data root, nothing more: the reference comes from the data."""
OPTIONAL_FIELDS = {"prompt": (str,), "reference": (dict,), "seed": (int,)}
"""Written by ``generate``; checked for type where present."""


def run_file(run_dir: Path, benchmark: str) -> Path:
    """Where a benchmark's generations live inside a run folder."""
    return Path(run_dir) / f"{benchmark}.jsonl"


def _check_type(row: dict, name: str, kinds: tuple, path: Path, line: int) -> None:
    value = row[name]
    if not isinstance(value, kinds) or (int in kinds and isinstance(value, bool)):
        expected = " or ".join(kind.__name__ for kind in kinds)
        raise EvalDataError(path, f"expected {expected}, got {type(value).__name__}", row=line, field=name)


def validate_row(row, path: Path, line: int, *, benchmark: str | None = None, need_reference: bool = False) -> dict:
    """Check one run row's fields and types; raises naming the file, line and field.

    ``benchmark``: the benchmark the file belongs to, which every row must name. ``need_reference``:
    the row must carry its own ``reference`` with an ``answer`` (scoring without a data root).
    Returns the row with ``id`` as a string.
    """
    if not isinstance(row, dict):
        raise EvalDataError(path, f"expected a JSON object, got {type(row).__name__}", row=line)
    for name, kinds in REQUIRED_FIELDS.items():
        if name not in row:
            raise EvalDataError(path, "missing", row=line, field=name)
        _check_type(row, name, kinds, path, line)
    for name, kinds in OPTIONAL_FIELDS.items():
        if row.get(name) is not None:
            _check_type(row, name, kinds, path, line)
    if row["sample"] < 0:
        raise EvalDataError(path, "must be >= 0", row=line, field="sample")
    if benchmark is not None and row["benchmark"] != benchmark:
        raise EvalDataError(path, f"{row['benchmark']!r} in the file of {benchmark!r}", row=line, field="benchmark")
    if need_reference:
        if row.get("reference") is None:
            raise EvalDataError(path, "missing: with no readable --data-root, every row needs the reference that generate stores", row=line, field="reference")
        if not isinstance(row["reference"].get("answer"), str):
            raise EvalDataError(path, "missing or not a string", row=line, field="reference.answer")
    return {**row, "id": str(row["id"])}


def read_run_rows(path: Path, *, repair: bool = False, benchmark: str | None = None, need_reference: bool = False) -> list[dict]:
    """Valid rows of a run file (see :func:`validate_row` for the checks). A last line cut off
    mid-write is skipped (and removed from the file when ``repair``); an unreadable line anywhere
    else is an error."""
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    rows, good_end, offset = [], 0, 0
    for number, raw in enumerate(lines):
        is_last = number == len(lines) - 1
        end = offset + len(raw) + (0 if is_last else 1)
        if raw.strip():
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                if is_last:
                    break  # the write an interruption cut short
                raise EvalDataError(path, f"not valid JSON ({exc})", row=number) from exc
            if is_last:
                # Parsable but never newline-terminated: the flush may have been partial; redo it.
                break
            rows.append(validate_row(row, path, number, benchmark=benchmark, need_reference=need_reference))
        good_end = end
        offset = end
    if repair and good_end < len(data):
        with open(path, "r+b") as handle:
            handle.truncate(good_end)
    return rows


class RowWriter:
    """Appends rows to a run file, one flushed line each."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.path, "a", encoding="utf-8")

    def write(self, row: dict) -> None:
        self._handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


GENERATE_LOCK = ".generate.lock"


class RunFolderBusy(EvalDataError):
    """Another generation holds this ``--out``."""


@contextmanager
def generating_into(out: Path):
    """Hold ``out`` for one generation: two appending to one folder wrote every row twice.

    ``fcntl.flock`` on ``out/.generate.lock``, which the kernel releases when its holder dies; the file
    names the holder for the refusal. (The training runs' ``verl_ext.preflight.run_lock`` is not used:
    its package needs the training dependencies, and generation runs without them.)"""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    handle = open(out / GENERATE_LOCK, "a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "a process that left no record"
            raise RunFolderBusy(out, f"another generate is writing to this --out ({holder}); wait for it to end, "
                                     "or give another --out") from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}")
        handle.flush()
        yield
        handle.truncate(0)
    finally:
        handle.close()


def write_text_atomic(path: Path, text: str) -> None:
    """Replace a file's content in one step: a crash leaves the old file or the new one."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def rewrite_rows(path: Path, rows: list[dict]) -> None:
    """Replace a run file's rows atomically (scoring adds answers and verdicts this way)."""
    write_text_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
