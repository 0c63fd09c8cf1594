"""Streaming parquet writer: rows go out in record batches, so memory stays flat."""

import os

import pyarrow as pa
import pyarrow.parquet as pq


class ParquetRowWriter:
    """Append dict rows to a parquet file, flushing every ``batch_size`` rows.

    Writes to ``<path>.tmp`` and renames on a clean close, so a crashed run never leaves a
    half-written file that looks complete.
    """

    def __init__(self, path: str, schema: pa.Schema, batch_size: int = 1024):
        self.path = str(path)
        self.schema = schema
        self.batch_size = batch_size
        self.rows_written = 0
        self._pending: list[dict] = []
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._tmp_path = self.path + ".tmp"
        self._writer = pq.ParquetWriter(self._tmp_path, schema)

    def write(self, row: dict) -> None:
        """Queue one row; flushes a record batch when the buffer is full."""
        self._pending.append(row)
        if len(self._pending) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        batch = pa.RecordBatch.from_pylist(self._pending, schema=self.schema)
        self._writer.write_batch(batch)
        self.rows_written += len(self._pending)
        self._pending = []

    def close(self) -> None:
        """Flush the remaining rows and move the file into place."""
        self._flush()
        self._writer.close()
        os.replace(self._tmp_path, self.path)

    def abort(self) -> None:
        """Drop the partial file (used when ``--strict`` stops a run)."""
        self._writer.close()
        if os.path.exists(self._tmp_path):
            os.remove(self._tmp_path)

    def __enter__(self) -> "ParquetRowWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
