"""Stream rows out of local files: parquet, json (array or lines), jsonl, and folders written
by Hugging Face ``datasets.save_to_disk``. Nothing is downloaded.

Every reader yields :class:`SourceRecord` one at a time and never holds a whole file in memory.
"""

import codecs
import json
import os
import re
from dataclasses import dataclass
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

ROW_FILE_SUFFIXES = (".parquet", ".json", ".jsonl", ".arrow")
JSON_CHUNK_CHARS = 1 << 20
# Bytes that are not UTF-8 are read as lone surrogates (errors="surrogateescape"), so that one bad
# object is found and reported on its own instead of aborting the whole file.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


class InputError(ValueError):
    """A whole input file or folder cannot be read (as opposed to one bad row)."""


@dataclass
class SourceRecord:
    """One input row. ``data`` is None when the row itself could not be parsed (``error`` says why)."""

    file: str
    row: int
    data: dict | None
    error: str | None = None


def prefer_system_memory_pool() -> None:
    """Make pyarrow allocate with the system allocator for the rest of this process.

    With pyarrow's default mimalloc pool, pages freed after each record batch are kept, so the
    resident size creeps up with the number of batches read; the system allocator hands them
    back and memory stays flat. Called by the converter CLIs (whole-process tools), not on import.
    """
    pa.set_memory_pool(pa.system_memory_pool())


def list_row_files(path: str, split: str = "train") -> list[str]:
    """Expand ``path`` into the row files to read, in a stable order.

    A ``datasets`` DatasetDict folder (``dataset_dict.json``) is resolved to ``split``; a Dataset
    folder (``state.json``) to its arrow shards; any other folder to its row files, sorted.
    """
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise InputError(f"{path}: no such file or folder")
    if os.path.exists(os.path.join(path, "dataset_dict.json")):
        with open(os.path.join(path, "dataset_dict.json")) as handle:
            splits = json.load(handle).get("splits", [])
        if split not in splits:
            raise InputError(f"{path}: split {split!r} not in the saved DatasetDict (splits: {splits})")
        return list_row_files(os.path.join(path, split), split)
    if os.path.exists(os.path.join(path, "state.json")):
        with open(os.path.join(path, "state.json")) as handle:
            shards = [entry["filename"] for entry in json.load(handle).get("_data_files", [])]
        return [os.path.join(path, name) for name in shards]
    files = sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(path)
        for name in names
        if name.endswith(ROW_FILE_SUFFIXES) and not name.startswith(".")
    )
    if not files:
        raise InputError(f"{path}: folder holds no {', '.join(ROW_FILE_SUFFIXES)} files")
    return files


def count_rows(path: str) -> int | None:
    """Row count when it is cheap to know (parquet footers), else None; an unreadable footer names the file."""
    if path.endswith(".parquet"):
        try:
            return pq.ParquetFile(path).metadata.num_rows
        except (OSError, pa.ArrowException) as error:
            raise InputError(f"{path}: not a readable parquet file: {error}") from None
    return None


def not_utf8_message(raw: bytes, error: UnicodeDecodeError) -> str:
    return f"not UTF-8 text: byte 0x{raw[error.start]:02x} at offset {error.start} of the line"


def iter_parquet(path: str, batch_size: int = 1024) -> Iterator[SourceRecord]:
    """Rows of a parquet file, one record batch at a time."""
    row = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size):
        for data in batch.to_pylist():
            yield SourceRecord(path, row, data)
            row += 1


def _open_arrow(path: str):
    source = pa.memory_map(path)
    try:
        return pa.ipc.open_stream(source)
    except pa.ArrowInvalid:
        return pa.ipc.open_file(source)


def iter_arrow(path: str) -> Iterator[SourceRecord]:
    """Rows of an Arrow IPC file (the shard format of ``datasets.save_to_disk``)."""
    reader = _open_arrow(path)
    row = 0
    if isinstance(reader, pa.ipc.RecordBatchFileReader):
        batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
    else:
        batches = iter(reader)
    for batch in batches:
        for data in batch.to_pylist():
            yield SourceRecord(path, row, data)
            row += 1


def iter_jsonl(path: str) -> Iterator[SourceRecord]:
    """Rows of a JSON Lines file; a line that is not a JSON object becomes an error record."""
    with open(path, "rb") as handle:
        row = 0
        for raw in handle:
            if row == 0:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                yield SourceRecord(path, row, None, not_utf8_message(raw, error))
                row += 1
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as error:
                yield SourceRecord(path, row, None, f"invalid JSON: {error}")
            else:
                if isinstance(data, dict):
                    yield SourceRecord(path, row, data)
                else:
                    yield SourceRecord(path, row, None, f"expected a JSON object, got {type(data).__name__}")
            row += 1


def iter_json_values(path: str, chunk_chars: int = JSON_CHUNK_CHARS) -> Iterator[SourceRecord]:
    """Objects of a top-level JSON array, or of concatenated objects, decoded incrementally.

    The released cold-start file is a 2 GB JSON array; ``json.load`` would hold all of it (and
    its Python objects) at once, so objects are decoded one by one from a sliding buffer.
    """
    decoder = json.JSONDecoder()
    with open(path, encoding="utf-8-sig", errors="surrogateescape") as handle:
        buffer, position, row, at_eof = "", 0, 0, False
        started = False

        def refill() -> bool:
            nonlocal buffer, position
            chunk = handle.read(chunk_chars)
            buffer = buffer[position:] + chunk
            position = 0
            return bool(chunk)

        while True:
            while True:
                while position < len(buffer) and buffer[position] in " \t\r\n,":
                    position += 1
                if position < len(buffer) or at_eof:
                    break
                at_eof = not refill()
            if position >= len(buffer):
                return
            if not started:
                started = True
                if buffer[position] == "[":
                    position += 1
                    continue
            if buffer[position] == "]":
                return
            while True:
                try:
                    value, end = decoder.raw_decode(buffer, position)
                    break
                except json.JSONDecodeError as error:
                    if at_eof:
                        where = f"row {row} (after row {row - 1})" if row else "row 0 (the first)"
                        raise InputError(f"{path}: invalid JSON at {where}: {error}") from None
                    at_eof = not refill()
            escaped = _ESCAPED_BYTE.search(buffer, position, end)
            position = end
            if escaped is not None:
                byte = ord(escaped.group()) - 0xDC00
                yield SourceRecord(path, row, None, f"not UTF-8 text: byte 0x{byte:02x} inside this object")
            elif isinstance(value, dict):
                yield SourceRecord(path, row, value)
            else:
                yield SourceRecord(path, row, None, f"expected a JSON object, got {type(value).__name__}")
            row += 1
            if position > chunk_chars:
                buffer, position = buffer[position:], 0


def _reader_for(path: str, batch_size: int) -> Iterator[SourceRecord]:
    if path.endswith(".parquet"):
        return iter_parquet(path, batch_size)
    if path.endswith(".arrow"):
        return iter_arrow(path)
    if path.endswith(".jsonl"):
        return iter_jsonl(path)
    if path.endswith(".json"):
        return iter_json_values(path)
    raise InputError(f"{path}: unsupported file type; expected one of {', '.join(ROW_FILE_SUFFIXES)}")


def iter_file(path: str, batch_size: int = 1024) -> Iterator[SourceRecord]:
    """Rows of one file by its suffix; a file that cannot be opened or read on raises :class:`InputError` naming it."""
    try:
        yield from _reader_for(path, batch_size)
    except InputError:
        raise
    except (OSError, pa.ArrowException, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read: {error}") from None


def list_input_files(paths: list[str], split: str = "train") -> list[str]:
    """Every row file behind ``paths`` (folders expanded), in reading order."""
    return [file for path in paths for file in list_row_files(path, split)]


def iter_records(paths: list[str], split: str = "train", batch_size: int = 1024) -> Iterator[SourceRecord]:
    """All rows of all inputs, file by file."""
    for file in list_input_files(paths, split):
        yield from iter_file(file, batch_size)
