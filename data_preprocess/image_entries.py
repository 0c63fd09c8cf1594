"""Turn the image cells found in the wild into raw encoded bytes.

Accepted cell forms: raw bytes; a ``{"bytes": ..., "path": ...}`` dict (what ``datasets.Image``
stores); a path string. Paths are resolved against ``--image-root`` and then the input file's
folder, after stripping ``file://`` and EasyR1's literal ``file_path`` placeholder prefix, so no
placeholder ever reaches the output: the output always embeds bytes.
"""

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


def cell_to_bytes(cell, field: str, search_roots: list[str]) -> bytes:
    """Encoded image bytes of one cell, reading the file when the cell is a path."""
    if isinstance(cell, bytes | bytearray | memoryview):
        data = bytes(cell)
        if not data:
            raise RowError("empty_field", field, "image bytes are empty")
        return data
    if isinstance(cell, dict):
        if cell.get("bytes"):
            return bytes(cell["bytes"])
        if cell.get("path"):
            return cell_to_bytes(str(cell["path"]), field, search_roots)
        raise RowError("empty_field", field, "image dict has neither bytes nor path")
    if isinstance(cell, str):
        if not cell.strip():
            raise RowError("empty_field", field, "image path is empty")
        resolved = resolve_image_path(cell.strip(), search_roots)
        if resolved is None:
            raise RowError("image_not_found", field, f"image file {cell!r} not found under {search_roots}")
        with open(resolved, "rb") as handle:
            return handle.read()
    raise RowError("bad_value", field, f"unsupported image cell of type {type(cell).__name__}")
