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
from data_preprocess.readers import SourceRecord, count_rows, iter_file, list_input_files
from data_preprocess.sft_families import SchemaFamilyError
from data_preprocess.validation import (
    DEFAULT_MAX_ANSWER_CHARS,
    DEFAULT_MAX_PIXELS,
    BadRowError,
    PromptLengthCheck,
    RowError,
    ValidationReport,
    load_tokenizer,
)
from data_preprocess.writer import OutputError, ParquetRowWriter, make_parent_folder, output_error


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
    max_answer_chars: int | None = DEFAULT_MAX_ANSWER_CHARS
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


class NothingKeptError(ValueError):
    """Every input row was dropped (or there was none): an empty output would only fail later, in training."""


def _total_rows(files: list[str]) -> int | None:
    total = 0
    for file in files:
        rows = count_rows(file)
        if rows is None:
            return None
        total += rows
    return total


def output_paths(options: ConvertOptions) -> list[str]:
    return [options.output] + ([options.resolved_val_output()] if options.val_fraction > 0 else [])


def refuse_overwriting_inputs(options: ConvertOptions, input_files: list[str]) -> None:
    """An output that is also an input would be replaced by its own conversion."""
    inputs = {os.path.realpath(file) for file in input_files}
    outputs = output_paths(options)
    for flag, path in zip(("--output", "--val-output"), outputs):
        if os.path.realpath(path) in inputs:
            raise ValueError(f"{flag} {path} is also an input; write the output to another path")
    if len({os.path.realpath(path) for path in outputs}) < len(outputs):
        raise ValueError(f"--output and --val-output are the same file ({options.output})")


def probe_writable(path: str, what: str) -> None:
    """Fail in the first second, naming ``path``, when it cannot be written, rather than after the conversion."""
    tmp = f"{path}.tmp"
    make_parent_folder(path, what)
    try:
        with open(tmp, "w"):
            pass
        os.remove(tmp)
    except OSError as error:
        raise output_error(path, what, error) from None


def run_conversion(builder: RowBuilder, options: ConvertOptions) -> ValidationReport:
    """Convert ``options.inputs`` with ``builder``; returns the report (also written if asked).

    Nothing is left half-done on failure: the ``*.tmp`` outputs are removed and the report, when
    asked for, records the error. On success the report is written before the outputs are moved
    into place, so a complete output always has its report.
    """
    if not 0.0 <= options.val_fraction < 1.0:
        raise ValueError(f"--val-fraction must be in [0, 1), got {options.val_fraction}")
    report = ValidationReport(builder.name, options.inputs)
    report.details["seed"] = options.seed
    report.details["val_fraction"] = options.val_fraction
    writers: dict[str, ParquetRowWriter] = {}
    progress = None
    started = time.perf_counter()
    try:
        files = list_input_files(options.inputs, options.split)
        total = _total_rows(files)
        refuse_overwriting_inputs(options, files)
        if options.report:
            probe_writable(options.report, "write the report")
        for split, path in zip(("train", "val"), output_paths(options)):
            writers[split] = ParquetRowWriter(path, builder.schema, options.batch_size)
            report.outputs[split] = path
            report.written[split] = 0
        progress = tqdm(
            (record for file in files for record in iter_file(file, options.batch_size)), total=total,
            desc=builder.name, unit="row", disable=not options.progress, mininterval=1.0, file=sys.stderr,
        )
        seen = SeenDigests()
        for record in progress:
            report.rows_read += 1
            try:
                built = build_row(builder, record)
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
        for writer in writers.values():
            writer.finish()
        if not sum(report.written.values()):
            raise NothingKeptError(f"no row kept: {report.summary()}" + (f"; see {options.report}" if options.report else ""))
        elapsed = time.perf_counter() - started
        report.details["elapsed_s"] = round(elapsed, 3)
        report.details["rows_per_s"] = round(report.rows_read / elapsed, 1) if elapsed > 0 else None
        if options.report:
            report.write(options.report)
        for writer in writers.values():
            writer.commit()
    except BaseException as error:
        for writer in writers.values():
            writer.abort()
        report.details["error"] = str(error)
        # The outputs were removed, not moved into place: nothing was written. What was converted is kept apart.
        if any(report.written.values()):
            report.details["rows_converted_before_the_error"] = dict(report.written)
        report.written = {split: 0 for split in report.written}
        if options.report:
            try:
                report.write(options.report)
            except OutputError:
                pass  # the error being raised already says why; an unwritable report was probed first
        raise
    finally:
        if progress is not None:
            progress.close()
    return report


def build_row(builder: RowBuilder, record: SourceRecord) -> BuiltRow:
    """Build one row; anything wrong with this row alone, even an unforeseen error, is a :class:`RowError`."""
    if record.data is None:
        raise RowError("unreadable_row", "<row>", record.error or "unreadable row")
    try:
        return builder.build(record)
    except (RowError, SchemaFamilyError):
        raise
    except Exception as error:  # a value no check foresaw must cost this row, not the whole conversion
        raise RowError("bad_value", "<row>", f"unexpected {type(error).__name__}: {error}") from None
