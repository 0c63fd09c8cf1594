"""The one error type evaluation raises for bad input: it names the file, the row and the field."""

from __future__ import annotations

from pathlib import Path


class EvalDataError(ValueError):
    """A benchmark or run file that cannot be read as expected.

    ``row`` is the 0-based row (line, list index or JSON key) and ``field`` the column at fault;
    either may be None when the problem is with the file as a whole (missing, unknown layout).
    """

    def __init__(self, path: str | Path | None, message: str, *, row: int | str | None = None, field: str | None = None):
        self.path = str(path) if path is not None else None
        self.row = row
        self.field = field
        self.detail = message
        where = [self.path or "<no file>"]
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}")


def require(row: dict, field: str, *, path, index, types=str, allow_empty: bool = False):
    """``row[field]`` checked for presence and type; raises :class:`EvalDataError` otherwise."""
    if field not in row:
        raise EvalDataError(path, "missing", row=index, field=field)
    value = row[field]
    if not isinstance(value, types):
        names = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
        raise EvalDataError(path, f"expected {names}, got {type(value).__name__} ({value!r:.60})", row=index, field=field)
    if not allow_empty and isinstance(value, str) and not value.strip():
        raise EvalDataError(path, "empty", row=index, field=field)
    return value
