"""Row checks shared by every converter, and the report that counts what was dropped.

A check raises :class:`RowError` with a reason code from :data:`REASONS` and the offending field;
the pipeline turns it into a dropped row (default) or a :class:`BadRowError` (``--strict``).
"""

import io
import json
import os
import warnings
from collections import Counter

from PIL import Image

from data_preprocess.prompt import IMAGE_PLACEHOLDER, count_placeholders
from data_preprocess.writer import make_parent_folder, output_error

REASONS = {
    "unreadable_row": "the row is not a JSON object / could not be parsed",
    "missing_field": "a required field is absent or null",
    "empty_field": "a required field is an empty string or list",
    "bad_value": "a field has the wrong type or an unknown value",
    "image_not_found": "an image path does not exist (after --image-root)",
    "corrupt_image": "image bytes cannot be decoded",
    "image_too_large": "image has more pixels than --max-pixels",
    "placeholder_mismatch": "number of <image> placeholders differs from number of images",
    "prompt_too_long": "prompt (SFT: whole conversation) exceeds --max-prompt-tokens",
    "answer_too_long": "ground truth longer than --max-answer-chars (no response could ever match it)",
}

# Qwen2.5-VL's default max_pixels (16384 patches of 28x28).
DEFAULT_MAX_PIXELS = 16384 * 28 * 28
# Final answers of math sets are short (the longest MATH answers, matrices, are a few hundred characters).
DEFAULT_MAX_ANSWER_CHARS = 1000
MAX_LISTED_BAD_ROWS = 100_000


class RowError(Exception):
    """One row failed a check."""

    def __init__(self, reason: str, field: str, message: str):
        if reason not in REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        super().__init__(message)
        self.reason = reason
        self.field = field
        self.message = message


class BadRowError(ValueError):
    """Raised in ``--strict`` mode: names the file, the row and the field."""

    def __init__(self, file: str, row: int, error: RowError):
        super().__init__(f"{file}: row {row}: field {error.field!r}: {error.reason}: {error.message}")
        self.file, self.row, self.field, self.reason = file, row, error.field, error.reason


def require_text(record: dict, field: str) -> str:
    """The stripped string value of ``field``; numbers are accepted and turned into text."""
    if field not in record or record[field] is None:
        raise RowError("missing_field", field, f"field {field!r} is missing (columns: {sorted(record)})")
    value = record[field]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RowError("bad_value", field, f"expected text, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise RowError("empty_field", field, f"field {field!r} is empty")
    return text


def check_answer_length(answer: str, field: str, max_chars: int | None) -> None:
    """A ground truth no response can reproduce (e.g. a whole document pasted as the answer) is dropped."""
    if max_chars is not None and len(answer) > max_chars:
        raise RowError("answer_too_long", field, f"the answer has {len(answer):,} characters > {max_chars:,}")


def first_present(record: dict, fields: tuple[str, ...]) -> str:
    """Name of the first of ``fields`` present (non-null) in ``record``; else the first name."""
    for field in fields:
        if record.get(field) is not None:
            return field
    return fields[0]


def check_image(data: bytes, field: str, max_pixels: int | None, source: str = "embedded bytes") -> tuple[int, int]:
    """Fully decode the image and return ``(width, height)``; raise on corrupt or oversized images.

    ``source`` (a file path or "embedded bytes") is named in the message. ``max_pixels=None`` sets
    no limit of our own; Pillow's decompression-bomb guard then only stops images it refuses to open.
    """
    buffer = io.BytesIO(data)
    try:
        with warnings.catch_warnings():
            if max_pixels is not None:
                warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(buffer) as image:
                size = image.size
                if max_pixels is not None and size[0] * size[1] > max_pixels:
                    raise RowError(
                        "image_too_large", field, f"{size[0]}x{size[1]} = {size[0] * size[1]} pixels > {max_pixels}"
                    )
                image.load()
    except RowError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise RowError("image_too_large", field, f"{source}: {error}") from None
    except Exception as error:  # Pillow raises many types for bad data
        detail = str(error).replace(repr(buffer), source)
        raise RowError("corrupt_image", field, f"cannot decode image ({source}): {type(error).__name__}: {detail}") from None
    return size


def check_placeholders(question: str, num_images: int, field: str) -> None:
    """Placeholders must match the images; zero placeholders with images is allowed (they get added)."""
    found = count_placeholders(question)
    if found == num_images or (found == 0 and num_images > 0):
        return
    raise RowError(
        "placeholder_mismatch", field, f"{found} {IMAGE_PLACEHOLDER} placeholder(s) but {num_images} image(s)"
    )


class PromptLengthCheck:
    """Count chat-template tokens with a local tokenizer and reject rows over a limit.

    Image tokens are estimated as Qwen2.5-VL does after resizing: one token per 28x28 block plus
    the vision start/end markers; the ``<image>`` text itself is not counted.
    """

    def __init__(self, tokenizer, max_tokens: int):
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens

    def count(self, messages: list[dict], image_sizes: list[tuple[int, int]], add_generation_prompt: bool) -> int:
        text_messages = [
            {"role": m["role"], "content": m["content"].replace(IMAGE_PLACEHOLDER, "")} for m in messages
        ]
        ids = self.tokenizer.apply_chat_template(
            text_messages, add_generation_prompt=add_generation_prompt, tokenize=True
        )
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        image_tokens = sum(max(4, round(w / 28) * round(h / 28)) + 2 for w, h in image_sizes)
        return len(ids) + image_tokens

    def __call__(self, messages, image_sizes=(), add_generation_prompt: bool = True, field: str = "prompt") -> None:
        length = self.count(messages, list(image_sizes), add_generation_prompt)
        if length > self.max_tokens:
            raise RowError("prompt_too_long", field, f"{length} tokens > {self.max_tokens}")


def load_tokenizer(path: str):
    """A tokenizer from a local folder only (no hub access)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)


class ValidationReport:
    """Counts of rows read, written, dropped (by reason) and deduplicated, with bad-row ids."""

    def __init__(self, converter: str, inputs: list[str]):
        self.converter = converter
        self.inputs = list(inputs)
        self.rows_read = 0
        self.written = Counter()
        self.dropped = Counter()
        self.duplicates = 0
        self.bad_rows: list[dict] = []
        self.bad_rows_truncated = False
        self.notes = Counter()
        self.outputs: dict[str, str] = {}
        self.details: dict = {}

    def add_bad_row(self, file: str, row: int, error: RowError) -> None:
        self.dropped[error.reason] += 1
        if len(self.bad_rows) < MAX_LISTED_BAD_ROWS:
            self.bad_rows.append(
                {"file": file, "row": row, "reason": error.reason, "field": error.field, "message": error.message}
            )
        else:
            self.bad_rows_truncated = True

    def to_dict(self) -> dict:
        return {
            "converter": self.converter,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "rows_read": self.rows_read,
            "rows_written": dict(self.written),
            "rows_dropped": sum(self.dropped.values()),
            "dropped_by_reason": dict(sorted(self.dropped.items())),
            "duplicates_removed": self.duplicates,
            "notes": dict(sorted(self.notes.items())),
            "bad_rows": self.bad_rows,
            "bad_rows_truncated": self.bad_rows_truncated,
            **self.details,
        }

    def write(self, path: str) -> None:
        """Write the report through a temporary file; an I/O failure is an ``OutputError`` naming ``path``."""
        tmp = f"{path}.tmp"
        make_parent_folder(path, "write the report")
        try:
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(self.to_dict(), handle, indent=2, ensure_ascii=False)
                handle.write("\n")
            os.replace(tmp, path)
        except OSError as error:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise output_error(path, "write the report", error) from None

    def summary(self) -> str:
        dropped = ", ".join(f"{reason}={count}" for reason, count in sorted(self.dropped.items())) or "none"
        written = ", ".join(f"{split}={count}" for split, count in self.written.items())
        return (
            f"[{self.converter}] read {self.rows_read} rows; wrote {written or 'nothing'}; "
            f"dropped {sum(self.dropped.values())} ({dropped}); duplicates removed {self.duplicates}"
        )
