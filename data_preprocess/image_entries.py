"""Turn the image cells found in the wild into raw encoded bytes.

Accepted cell forms: raw bytes; a ``{"bytes": ..., "path": ...}`` dict (what ``datasets.Image``
stores; in JSON the bytes are a base64 string); a ``data:image/...;base64,`` URI; a path string. Paths are resolved against ``--image-root`` and then the input file's
folder, after stripping ``file://`` and EasyR1's literal ``file_path`` placeholder prefix, so no
placeholder ever reaches the output: the output always embeds bytes.
"""

import base64
import binascii
import os

from data_preprocess.validation import RowError

PATH_PLACEHOLDER_PREFIXES = ("file://", "file_path")


def strip_path_prefixes(path: str) -> str:
    """Remove URL-style and placeholder prefixes from an image path."""
    changed = True
    while changed:
        changed = False
        for prefix in PATH_PLACEHOLDER_PREFIXES:
            if path.startswith(prefix):
                path = path[len(prefix) :]
                changed = True
    return path


def resolve_image_path(path: str, search_roots: list[str]) -> str | None:
    """First existing candidate for ``path``: as given if absolute, else under each root in order."""
    path = strip_path_prefixes(path)
    if os.path.isabs(path):
        if os.path.isfile(path):
            return path
        relative = path.lstrip("/")
    else:
        relative = path
    for root in search_roots:
        candidate = os.path.join(root, relative)
        if os.path.isfile(candidate):
            return candidate
    return None


def image_cells(record: dict, fields: tuple[str, ...] = ("images", "image")) -> tuple[str, list]:
    """``(field, cells)`` for the first image column present; a single cell is wrapped in a list."""
    for field in fields:
        value = record.get(field)
        if value is None:
            continue
        if isinstance(value, list | tuple):
            return field, list(value)
        return field, [value]
    return fields[0], []


def decode_base64(text: str, field: str) -> bytes:
    """Image bytes written as base64 text (JSON cannot hold raw bytes); other text is a bad value."""
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as error:
        raise RowError("bad_value", field, f"image bytes are a string that is not base64 ({error})") from None


EMBEDDED = "embedded bytes"


def cell_to_bytes(cell, field: str, search_roots: list[str]) -> tuple[bytes, str]:
    """``(encoded image bytes, where they came from)`` of one cell, reading the file when the cell is a path.

    The second item is the resolved file path, or ``"embedded bytes"``; error messages show it.
    """
    if isinstance(cell, bytes | bytearray | memoryview):
        data = bytes(cell)
        if not data:
            raise RowError("empty_field", field, "image bytes are empty")
        return data, EMBEDDED
    if isinstance(cell, dict):
        data = cell.get("bytes")
        if isinstance(data, str) and data.strip():
            return decode_base64(data, field), EMBEDDED
        if data:
            return cell_to_bytes(data, field, search_roots)
        if cell.get("path"):
            return cell_to_bytes(str(cell["path"]), field, search_roots)
        raise RowError("empty_field", field, "image dict has neither bytes nor path")
    if isinstance(cell, str):
        if not cell.strip():
            raise RowError("empty_field", field, "image path is empty")
        if cell.startswith("data:image/") and ";base64," in cell[:64]:
            return decode_base64(cell.split(",", 1)[1], field), EMBEDDED
        resolved = resolve_image_path(cell.strip(), search_roots)
        if resolved is None:
            raise RowError("image_not_found", field, f"image file {cell!r} not found under {search_roots}")
        try:
            with open(resolved, "rb") as handle:
                return handle.read(), resolved
        except OSError as error:
            raise RowError("image_not_found", field, f"cannot read image file {resolved}: {error.strerror}") from None
    raise RowError("bad_value", field, f"unsupported image cell of type {type(cell).__name__}")
