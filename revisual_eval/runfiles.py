"""The run folder: one append-only JSONL per benchmark, one row per (item id, sample).

Rows are flushed one at a time, so an interrupted generation loses at most the line being
written; reading tolerates (and on request cuts off) such a truncated last line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from revisual_eval.errors import EvalDataError

ROW_FIELDS = {"benchmark": str, "id": str, "sample": int, "prompt": str, "response": str, "reference": dict}


def run_file(run_dir: Path, benchmark: str) -> Path:
    """Where a benchmark's generations live inside a run folder."""
    return Path(run_dir) / f"{benchmark}.jsonl"


def validate_row(row, path: Path, line: int) -> dict:
    """Check one run row's fields and types; raises naming the file, line and field."""
    if not isinstance(row, dict):
        raise EvalDataError(path, f"expected a JSON object, got {type(row).__name__}", row=line)
    for name, kind in ROW_FIELDS.items():
        if name not in row:
            raise EvalDataError(path, "missing", row=line, field=name)
        if not isinstance(row[name], kind) or (kind is int and isinstance(row[name], bool)):
            raise EvalDataError(path, f"expected {kind.__name__}, got {type(row[name]).__name__}", row=line, field=name)
    if row["sample"] < 0:
        raise EvalDataError(path, "must be >= 0", row=line, field="sample")
    return row


def read_run_rows(path: Path, *, repair: bool = False) -> list[dict]:
    """Valid rows of a run file. A last line cut off mid-write is skipped (and removed from the
    file when ``repair``); an unreadable line anywhere else is an error."""
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
            rows.append(validate_row(row, path, number))
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


def rewrite_rows(path: Path, rows: list[dict]) -> None:
    """Replace a run file's rows atomically (scoring adds answers and verdicts this way)."""
    tmp = Path(path).with_suffix(".jsonl.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
