"""The actor trace: with ``REVISUAL_ACTOR_TRACE=<folder>``, a record of what each update selected and what
the actor workers trained on, written from inside the processes that did it.

* the PAD trainer appends one record per update to ``trainer.jsonl`` (the plan and each selected row);
* each actor worker process appends to ``actor-<pid>.jsonl``: per optimizer step the rows it trained on
  (``kind: step``), per micro-batch the entropy coefficient its loss used (``kind: loss``).

A row is ``[uid, sequence advantage, sum of old log-probs]`` (:func:`verl_ext.algos.rows.sequence_fingerprints`).
:func:`read_actor_trace` reads a folder back for tests and audits.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Optional

from verl_ext.names import ACTOR_TRACE_ENV

TRAINER_FILE = "trainer.jsonl"
"""The trainer's file in the trace folder."""
SCHEDULE_FILE = "schedule.jsonl"
"""The prompt scheduler's file: per step, the prompts rolled out and how many were skipped."""


def trace_folder() -> Optional[str]:
    """The trace folder of this process, or None when tracing is off."""
    return os.environ.get(ACTOR_TRACE_ENV) or None


def append_trace(record: dict, file_name: Optional[str] = None) -> None:
    """Append one JSON line to ``file_name`` (default: this process's ``actor-<pid>.jsonl``) in the trace
    folder; nothing when tracing is off."""
    folder = trace_folder()
    if folder is None:
        return
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, file_name or f"actor-{os.getpid()}.jsonl"), "a") as f:
        f.write(json.dumps(record) + "\n")


def read_actor_trace(folder: str | os.PathLike) -> dict:
    """``updates`` (the trainer's record of each update, by update number), ``steps`` (each worker's rows per
    optimizer step) and ``losses`` (each worker's entropy coefficient per micro-batch) of a trace folder."""
    folder = Path(folder)

    def records(path: Path) -> list[dict]:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    trainer = records(folder / TRAINER_FILE) if (folder / TRAINER_FILE).exists() else []
    actor = [r for path in sorted(folder.glob("actor-*.jsonl")) for r in records(path)]
    return {
        "updates": {r["update"]: r for r in trainer},
        "steps": [r for r in actor if r["kind"] == "step"],
        "losses": [r for r in actor if r["kind"] == "loss"],
    }


def rows_trained_in(trace: dict, update: int) -> Counter[tuple]:
    """Every row the actor workers trained on in one update of :func:`read_actor_trace`'s ``trace``, over
    all ranks and optimizer steps, as a multiset (identical rollouts share a fingerprint)."""
    return Counter(tuple(row) for step in trace["steps"] if step["update"] == update for row in step["rows"])
