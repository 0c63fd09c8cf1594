"""Every image of an RL parquet decodes: checked before verl builds its datasets.

verl decodes the images first inside ``RLHFDataset.maybe_filter_out_long_prompts`` (and again in the
rollout workers), the same on GPU and CPU; one truncated image there raises ``OSError: image file is
truncated`` deep in the log, naming neither file nor row. Here each image is fully decoded once, in
the launcher, with the converters' own check. ``data.on_bad_image`` decides what a bad one does:

* ``skip``: the row is left out and counted. Training reads a copy of the file without those rows
  (``<run>/data_checks/<name>-<key>.parquet``; the original is never changed).
* ``fail``: stop before Ray starts, naming the file, row and field of each bad image.

Results are kept per input file (path, size, modification time), so a resumed run does not scan again.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from data_preprocess.image_entries import cell_to_bytes
from data_preprocess.validation import RowError, check_image

ON_BAD_IMAGE = ("skip", "fail")
LISTED_IN_ERRORS = 5
# Pillow releases the GIL while it decodes, so threads decode images in parallel.
DECODE_THREADS = min(8, os.cpu_count() or 1)


class BadImages(RuntimeError):
    """``data.on_bad_image=fail`` and some rows have images that do not decode (or the file cannot be read)."""


@dataclass(frozen=True)
class BadImage:
    file: str
    row: int
    field: str
    message: str

    def describe(self) -> str:
        return f"{self.file}: row {self.row}: field {self.field!r}: {self.message}"


@dataclass(frozen=True)
class FileCheck:
    """The scan of one file: rows read and the rows whose images are bad."""

    file: str
    rows: int
    bad: tuple[BadImage, ...]


def row_image_problem(cells, image_key: str, roots: list[str]) -> tuple[str, str] | None:
    """``(field, message)`` for the first image of one row that does not decode; None when all do."""
    for index, cell in enumerate(cells or []):
        field = f"{image_key}[{index}]"
        try:
            data, source = cell_to_bytes(cell, field, roots)
            check_image(data, field, None, source)
        except RowError as error:
            return field, f"{error.reason}: {error.message}"
    return None


def scan_parquet_images(path: str, image_key: str, threads: int = DECODE_THREADS) -> FileCheck:
    """Decode every image of ``path`` (only its image column is read)."""
    parquet = pq.ParquetFile(path)
    if image_key not in parquet.schema_arrow.names:
        return FileCheck(path, parquet.metadata.num_rows, ())
    check = partial(row_image_problem, image_key=image_key, roots=[os.getcwd()])
    bad, row = [], 0
    with ThreadPoolExecutor(threads) as pool:
        for batch in parquet.iter_batches(batch_size=256, columns=[image_key]):
            cells = batch.column(0).to_pylist()
            for offset, problem in enumerate(pool.map(check, cells)):
                if problem is not None:
                    bad.append(BadImage(path, row + offset, *problem))
            row += len(cells)
    return FileCheck(path, row, tuple(bad))


def write_without_rows(path: str, drop: set[int], out: Path) -> Path:
    """Copy ``path`` to ``out`` without the rows in ``drop`` (schema and its metadata kept); atomic."""
    parquet = pq.ParquetFile(path)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    row = 0
    with pq.ParquetWriter(tmp, parquet.schema_arrow) as writer:
        for batch in parquet.iter_batches(batch_size=256):
            keep = pa.array([row + i not in drop for i in range(batch.num_rows)])
            writer.write_batch(batch.filter(keep))
            row += batch.num_rows
    os.replace(tmp, out)
    return out


def _cache_key(path: str, image_key: str) -> str:
    stat = os.stat(path)
    identity = f"{os.path.realpath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\0{image_key}"
    return hashlib.blake2b(identity.encode(), digest_size=6).hexdigest()


def checked_file(path: str, image_key: str, check_dir: Path) -> FileCheck:
    """The scan of ``path``, from ``check_dir`` when this exact file was scanned before."""
    record = check_dir / f"{Path(path).stem}-{_cache_key(path, image_key)}.json"
    if record.is_file():
        saved = json.loads(record.read_text())
        return FileCheck(saved["file"], saved["rows"], tuple(BadImage(**b) for b in saved["bad"]))
    try:
        result = scan_parquet_images(path, image_key)
    except (OSError, pa.ArrowException) as error:
        raise BadImages(f"{path}: not a readable parquet file: {error}") from None
    check_dir.mkdir(parents=True, exist_ok=True)
    tmp = record.with_name(f".{record.name}.tmp")
    tmp.write_text(json.dumps({"file": result.file, "rows": result.rows, "bad": [asdict(b) for b in result.bad]}))
    os.replace(tmp, record)
    return result


def usable_file(path: str, image_key: str, on_bad_image: str, check_dir: Path) -> tuple[str, FileCheck]:
    """The file training should read instead of ``path`` (itself when every image decodes) and its scan.

    Raises :class:`BadImages` when ``on_bad_image`` is ``fail`` (or every row is bad) and a row has a bad image.
    """
    if on_bad_image not in ON_BAD_IMAGE:
        raise ValueError(f"data.on_bad_image must be one of {ON_BAD_IMAGE}, got {on_bad_image!r}")
    result = checked_file(path, image_key, check_dir)
    if not result.bad:
        return path, result
    listed = "\n  ".join(b.describe() for b in result.bad[:LISTED_IN_ERRORS])
    more = f"\n  ... and {len(result.bad) - LISTED_IN_ERRORS} more" if len(result.bad) > LISTED_IN_ERRORS else ""
    count = f"{len(result.bad)} of {result.rows} rows of {path} have an image that does not decode"
    if on_bad_image == "fail":
        raise BadImages(f"{count}:\n  {listed}{more}\nFix or drop them (python -m data_preprocess.<converter> "
                        "reports every bad row), or train without them with data.on_bad_image=skip.")
    if len(result.bad) == result.rows:
        raise BadImages(f"{count}: no row would be left to train on:\n  {listed}{more}")
    out = check_dir / f"{Path(path).stem}-{_cache_key(path, image_key)}.parquet"
    if not out.is_file():
        write_without_rows(path, {b.row for b in result.bad}, out)
    return str(out), result
