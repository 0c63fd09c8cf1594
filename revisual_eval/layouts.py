"""Reading the benchmark files in the layouts of their public releases (parquet, JSON, JSONL, CSV).

Each reader returns plain dicts and turns every failure into :class:`EvalDataError` naming the file
and, where it applies, the row.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from revisual_eval.errors import EvalDataError
from revisual_eval.items import ImageRef

# Folder names accepted for each benchmark under DATA_ROOT: our name first, then the basename of
# the canonical release, so `huggingface-cli download ... --local-dir DATA_ROOT/<basename>` works.
FOLDER_NAMES = {
    "mathverse": ["mathverse", "MathVerse"],
    "mathvision": ["mathvision", "MathVision", "MATH-V"],
    "mathvista": ["mathvista", "MathVista"],
    "dynamath": ["dynamath", "DynaMath_Sample", "DynaMath"],
    "wemath": ["wemath", "We-Math", "WeMath"],
    "logicvista": ["logicvista", "LogicVista"],
    "aime24": ["aime24", "aime_2024"],
    "aime25": ["aime25", "AIME2025"],
    "gpqa_diamond": ["gpqa_diamond", "gpqa"],
    "math500": ["math500", "MATH-500"],
    "mmmu": ["mmmu", "MMMU"],
}


def benchmark_dir(data_root: Path, benchmark: str, overrides: dict[str, Path] | None = None) -> Path:
    """The folder holding ``benchmark``'s files; raises if none of the accepted names exists."""
    if overrides and benchmark in overrides:
        folder = Path(overrides[benchmark])
        if not folder.is_dir():
            raise EvalDataError(folder, f"{benchmark}: folder given with --path does not exist")
        return folder
    names = FOLDER_NAMES[benchmark]
    for name in names:
        if (data_root / name).is_dir():
            return data_root / name
    raise EvalDataError(data_root, f"{benchmark}: no folder named any of {names} under the data root")


def find_one_layout(folder: Path, benchmark: str, layouts: list[tuple[str, str]]) -> tuple[str, list[Path]]:
    """The first ``(layout name, glob)`` with matching files in ``folder``: (name, sorted files).

    Raises "unknown layout" naming the folder and the patterns looked for.
    """
    for name, pattern in layouts:
        files = sorted(folder.glob(pattern))
        if files:
            return name, files
    wanted = ", ".join(p for _, p in layouts)
    raise EvalDataError(folder, f"{benchmark}: unknown layout, expected one of: {wanted}")


def read_parquet(path: Path) -> list[dict]:
    """All rows of a parquet file as dicts (HF Image columns come back as {bytes, path})."""
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise EvalDataError(path, f"not a readable parquet file ({exc})") from exc


def read_parquet_files(paths: list[Path]) -> list[tuple[Path, int, dict]]:
    """Rows of several parquet shards as (file, row index in that file, row)."""
    return [(path, i, row) for path in paths for i, row in enumerate(read_parquet(path))]


def read_jsonl(path: Path) -> list[tuple[int, dict]]:
    """(line index from 0, object) for every non-empty line."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for i, line in enumerate(handle):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvalDataError(path, f"not valid JSON ({exc.msg})", row=i) from exc
            if not isinstance(row, dict):
                raise EvalDataError(path, f"expected a JSON object, got {type(row).__name__}", row=i)
            rows.append((i, row))
    return rows


def read_json(path: Path):
    """A whole JSON document."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise EvalDataError(path, f"not valid JSON (line {exc.lineno}: {exc.msg})") from exc


def read_csv(path: Path) -> list[dict]:
    """CSV rows as dicts keyed by the header."""
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def image_from_cell(cell, *, base: Path | list[Path], path: Path, index, field: str) -> ImageRef:
    """An image from an HF Image struct ({bytes, path}) or a path relative to ``base`` (the first
    of several bases where the file exists)."""
    if isinstance(cell, dict):
        if cell.get("bytes"):
            return bytes(cell["bytes"])
        if cell.get("path"):
            cell = cell["path"]
        else:
            raise EvalDataError(path, "image struct has neither bytes nor path", row=index, field=field)
    if isinstance(cell, (bytes, bytearray)) and cell:
        return bytes(cell)
    if isinstance(cell, str) and cell.strip():
        bases = base if isinstance(base, list) else [base]
        for folder in bases:
            if (folder / cell).is_file():
                return folder / cell
        raise EvalDataError(path, f"image file {bases[0] / cell} does not exist", row=index, field=field)
    raise EvalDataError(path, f"expected an image, got {type(cell).__name__}", row=index, field=field)
