"""Streaming parquet writer: rows go out in record batches, so memory stays flat."""

import os

import pyarrow as pa
import pyarrow.parquet as pq


class OutputError(Exception):
    """An output file cannot be written; the message starts with its path."""


def output_error(path: str, what: str, error: OSError | pa.ArrowException) -> OutputError:
    reason = getattr(error, "strerror", None) or str(error)
    return OutputError(f"{path}: cannot {what}: {reason}")


def make_parent_folder(path: str, what: str) -> None:
    """Create the folder ``path`` goes in; an ``OutputError`` naming ``path`` when that is impossible."""
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OutputError(f"{path}: cannot {what}: it is a folder; give a file name")
    if os.path.exists(parent) and not os.path.isdir(parent):
        raise OutputError(f"{path}: cannot {what}: {parent} is a file, not a folder")
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as error:
        raise output_error(path, what, error) from None


class ParquetRowWriter:
    """Append dict rows to a parquet file, flushing every ``batch_size`` rows.

    Writes to ``<path>.tmp``; :meth:`finish` completes that file and :meth:`commit` renames it into
    place, so a crashed run never leaves a half-written file that looks complete, and a caller can
    do its last checks (the report) between the two. :meth:`close` does both.
    """

    def __init__(self, path: str, schema: pa.Schema, batch_size: int = 1024):
        self.path = str(path)
        self.schema = schema
        self.batch_size = batch_size
        self.rows_written = 0
        self._pending: list[dict] = []
        self._tmp_path = self.path + ".tmp"
        make_parent_folder(self.path, "create the output")
        try:
            self._writer = pq.ParquetWriter(self._tmp_path, schema)
        except (OSError, pa.ArrowException) as error:
            raise output_error(self.path, "create the output", error) from None

    def write(self, row: dict) -> None:
        """Queue one row; flushes a record batch when the buffer is full."""
        self._pending.append(row)
        if len(self._pending) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        batch = pa.RecordBatch.from_pylist(self._pending, schema=self.schema)
        try:
            self._writer.write_batch(batch)
        except OSError as error:
            raise output_error(self._tmp_path, "write", error) from None
        self.rows_written += len(self._pending)
        self._pending = []

    def finish(self) -> None:
        """Flush the remaining rows and complete the temporary file (not yet in place)."""
        self._flush()
        try:
            self._writer.close()
        except OSError as error:
            raise output_error(self._tmp_path, "write", error) from None

    def commit(self) -> None:
        """Move the finished file into place."""
        try:
            os.replace(self._tmp_path, self.path)
        except OSError as error:
            raise output_error(self.path, "move the finished output into place", error) from None

    def close(self) -> None:
        """Flush the remaining rows and move the file into place."""
        self.finish()
        self.commit()

    def abort(self) -> None:
        """Drop the partial file (used when ``--strict`` stops a run, or on any failure)."""
        try:
            self._writer.close()
        except (OSError, pa.ArrowException):
            pass  # the file is removed below; its own write error was already raised
        if os.path.exists(self._tmp_path):
            os.remove(self._tmp_path)

    def __enter__(self) -> "ParquetRowWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
