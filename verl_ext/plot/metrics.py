"""Reading verl's file-logger metrics: one JSONL file per launch, joined into one row per step.

Each line of a file is ``{"step": N, "data": {"metric/name": value, ...}}``. A stage writes one file
per launch, ``<experiment>-<YYYYmmdd-HHMMSS>.jsonl``; a resumed launch continues the steps of the one
before it and may repeat its last steps. The rows join the launches in launch order, key by key, so a
later launch wins every value it logs again, while a value it does not log again (for example the
training metrics of the step a resumed launch only validates at) survives from the earlier launch.

Pure Python, no verl, torch or matplotlib: cheap to import from a driver or a test.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

# verl's file logger names a launch's file <experiment>-<YYYYmmdd-HHMMSS>.jsonl (verl_ext.trainer.main).
_STAMP = re.compile(r"-(\d{8}-\d{6})\.jsonl$")


@dataclass(frozen=True)
class Launch:
    """The records one launch wrote, in line order."""

    path: Path
    """The JSONL file of this launch."""
    records: tuple[tuple[int, dict[str, float]], ...]
    """``(step, numeric metrics)`` per line, in the order the lines were written."""

    @property
    def first_step(self) -> int | None:
        """The step this launch started logging at (None for an empty file)."""
        return min((step for step, _ in self.records), default=None)


def _numeric(value) -> float | None:
    """A plottable number, or None. orjson writes NaN and inf as null, so null reads back as NaN."""
    if value is None:
        return math.nan
    if isinstance(value, (int, float)):
        return float(value)
    return None


def parse_launch(path: Path) -> Launch:
    """Read one launch's file. An unparseable *last* line is a write that a kill or a live run cut
    short and is ignored; an unparseable or malformed line anywhere else is an error naming the line."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    records = []
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as err:
            if line_no == len(lines):
                break
            raise ValueError(f"{path}, line {line_no}: not JSON ({err})") from None
        if not isinstance(record, dict) or not isinstance(record.get("step"), int) or isinstance(record["step"], bool):
            raise ValueError(f"{path}, line {line_no}: field 'step' must be an integer, got {line[:80]!r}")
        data = record.get("data")
        if not isinstance(data, dict):
            raise ValueError(f"{path}, line {line_no}: field 'data' must be an object, got {type(data).__name__}")
        numbers = {key: num for key, value in data.items() if (num := _numeric(value)) is not None}
        records.append((record["step"], numbers))
    return Launch(path=path, records=tuple(records))


def _launch_time(path: Path) -> float:
    """When a launch started: the stamp in its name, else the file's modification time."""
    match = _STAMP.search(path.name)
    if match:
        return datetime.strptime(match.group(1), "%Y%m%d-%H%M%S").timestamp()
    return path.stat().st_mtime


def launch_files(metrics_dir: Path) -> list[Path]:
    """The ``*.jsonl`` files of a metrics folder, oldest launch first."""
    return sorted(Path(metrics_dir).glob("*.jsonl"), key=lambda p: (_launch_time(p), p.name))


def read_launches(metrics_dir: Path) -> list[Launch]:
    """Every launch of a metrics folder, oldest first."""
    return [parse_launch(path) for path in launch_files(metrics_dir)]


def join_launches(launches: list[Launch]) -> list[dict]:
    """One row per step, ``{"step": N, "metric/name": value, ...}``, sorted by step. Lines of the same
    step merge key by key in launch then line order, so the latest value of each key wins."""
    by_step: dict[int, dict] = {}
    for launch in launches:
        for step, data in launch.records:
            by_step.setdefault(step, {"step": step}).update(data)
    return [by_step[step] for step in sorted(by_step)]


def launch_starts(launches: list[Launch]) -> list[int]:
    """The first step of every launch after the first: where a resumed run picked up."""
    firsts = [launch.first_step for launch in launches if launch.first_step is not None]
    return firsts[1:]


def load_metrics(metrics_dir: Path) -> list[dict]:
    """The joined, de-duplicated rows of a metrics folder (see :func:`join_launches`)."""
    return join_launches(read_launches(metrics_dir))


def series(rows: list[dict], key: str) -> tuple[list[int], list[float]]:
    """The steps at which ``key`` was logged and its values there."""
    steps = [row["step"] for row in rows if key in row]
    return steps, [row[key] for row in rows if key in row]


def find_stage_metrics(run_dir: Path) -> list[tuple[str, Path]]:
    """``(stage name, metrics folder)`` for what ``run_dir`` is: a metrics folder (``*.jsonl`` in it),
    one stage's folder (``metrics/`` in it), or a pipeline run (``<stage>/metrics/`` per stage)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir} is not a folder")
    if any(run_dir.glob("*.jsonl")):
        name = run_dir.parent.name if run_dir.name == "metrics" else run_dir.name
        return [(name, run_dir)]
    if (run_dir / "metrics").is_dir():
        return [(run_dir.name, run_dir / "metrics")]
    stages = [(child.name, child / "metrics") for child in sorted(run_dir.iterdir()) if (child / "metrics").is_dir()]
    if not stages:
        raise FileNotFoundError(
            f"no metrics under {run_dir}: looked for {run_dir}/*.jsonl, "
            f"{run_dir}/metrics/ and {run_dir}/<stage>/metrics/"
        )
    return stages
