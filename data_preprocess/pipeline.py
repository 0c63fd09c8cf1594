"""The one conversion loop every converter runs: read -> build -> validate -> dedup -> split -> write.

Converters differ only in their :class:`RowBuilder` (how a source row becomes a verl row); reading,
the report, ``--strict``, deduplication, the split and the streaming writers are shared here.
"""

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

import pyarrow as pa
from tqdm import tqdm

from data_preprocess.dedup import SeenDigests, assign_split, row_hashes
from data_preprocess.readers import SourceRecord, count_rows, iter_records, list_row_files
from data_preprocess.validation import (
    DEFAULT_MAX_PIXELS,
    BadRowError,
    PromptLengthCheck,
    RowError,
    ValidationReport,
    load_tokenizer,
)
from data_preprocess.writer import ParquetRowWriter


@dataclass
class ConvertOptions:
    """Everything a converter run needs; mirrors the CLI flags."""

    inputs: list[str]
    output: str
    val_output: str | None = None
    val_fraction: float = 0.0
    seed: int = 0
    strict: bool = False
    report: str | None = None
    image_root: str | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_prompt_tokens: int | None = None
    tokenizer: object = None
    data_source: str | None = None
    split: str = "train"
    batch_size: int = 1024
    progress: bool = True
    append_instruction: bool = False

    def resolved_val_output(self) -> str:
        if self.val_output:
            return self.val_output
        stem, ext = os.path.splitext(self.output)
        return f"{stem}_val{ext or '.parquet'}"


@dataclass
class BuiltRow:
    """A validated row: its dedup key and a factory for the output record."""

    dedup_key: bytes
    make_record: Callable[[int, str], dict]
    notes: list[str] = field(default_factory=list)


class RowBuilder(Protocol):
    name: str
    schema: pa.Schema

    def build(self, record: SourceRecord) -> BuiltRow:
        """Turn one source row into a :class:`BuiltRow` or raise :class:`RowError`."""


def make_length_check(options: ConvertOptions) -> PromptLengthCheck | None:
    """A token-length check when ``--max-prompt-tokens`` is set (a tokenizer is then required)."""
    if options.max_prompt_tokens is None:
        return None
    if options.tokenizer is None:
        raise ValueError("--max-prompt-tokens needs --tokenizer (a local tokenizer folder)")
    tokenizer = options.tokenizer
    if isinstance(tokenizer, str | os.PathLike):
        tokenizer = load_tokenizer(str(tokenizer))
    return PromptLengthCheck(tokenizer, options.max_prompt_tokens)


def _total_rows(options: ConvertOptions) -> int | None:
    total = 0
    for path in options.inputs:
        for file in list_row_files(path, options.split):
            rows = count_rows(file)
            if rows is None:
                return None
            total += rows
    return total


def run_conversion(builder: RowBuilder, options: ConvertOptions) -> ValidationReport:
    """Convert ``options.inputs`` with ``builder``; returns the report (also written if asked)."""
    if not 0.0 <= options.val_fraction < 1.0:
        raise ValueError(f"--val-fraction must be in [0, 1), got {options.val_fraction}")
    report = ValidationReport(builder.name, options.inputs)
    report.details["seed"] = options.seed
    report.details["val_fraction"] = options.val_fraction
    writers = {"train": ParquetRowWriter(options.output, builder.schema, options.batch_size)}
    report.outputs["train"] = options.output
    if options.val_fraction > 0:
        writers["val"] = ParquetRowWriter(options.resolved_val_output(), builder.schema, options.batch_size)
        report.outputs["val"] = options.resolved_val_output()
    for split in writers:
        report.written[split] = 0
    seen = SeenDigests()
    started = time.perf_counter()
    records = iter_records(options.inputs, options.split, options.batch_size)
    progress = tqdm(
        records, total=_total_rows(options), desc=builder.name, unit="row", disable=not options.progress,
        mininterval=1.0, file=sys.stderr,
    )
    try:
        for record in progress:
            report.rows_read += 1
            try:
                if record.data is None:
                    raise RowError("unreadable_row", "<row>", record.error or "unreadable row")
                built = builder.build(record)
            except RowError as error:
                if options.strict:
                    raise BadRowError(record.file, record.row, error) from None
                report.add_bad_row(record.file, record.row, error)
                continue
            for note in built.notes:
                report.notes[note] += 1
            identity, draw = row_hashes(built.dedup_key, options.seed)
            if not seen.add(identity):
                report.duplicates += 1
                continue
            split = assign_split(draw, options.val_fraction)
            writers[split].write(built.make_record(report.written[split], split))
            report.written[split] += 1
    except BaseException as error:
        for writer in writers.values():
            writer.abort()
        report.details["error"] = str(error)
        if options.report:
            report.write(options.report)
        raise
    finally:
        progress.close()
    for writer in writers.values():
        writer.close()
    elapsed = time.perf_counter() - started
    report.details["elapsed_s"] = round(elapsed, 3)
    report.details["rows_per_s"] = round(report.rows_read / elapsed, 1) if elapsed > 0 else None
    if options.report:
        report.write(options.report)
    return report
