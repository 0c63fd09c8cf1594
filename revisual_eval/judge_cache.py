"""The judge's replies on disk, keyed by the model and the whole request.

A re-score asks the judge nothing it has already answered, and an interrupted one resumes: every
reply is committed as soon as it arrives. SQLite keeps each write atomic, so a crash never leaves
a half-written entry. Only replies are stored; a failed call is asked again next time.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path


def request_key(model: str, request: dict) -> str:
    """A stable key for (model, request): the SHA-256 of their canonical JSON."""
    canonical = json.dumps({"model": model, "request": request}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class JudgeCache:
    """A thread-safe key -> reply store in one SQLite file (created on first use)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
        with self._lock, self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, model TEXT NOT NULL, request TEXT NOT NULL, reply TEXT NOT NULL, created REAL NOT NULL)"
            )

    def get(self, key: str) -> str | None:
        with self._lock:
            found = self._db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        return None if found is None else found[0]

    def put(self, key: str, model: str, request: dict, reply: str) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?)",
                (key, model, json.dumps(request, ensure_ascii=False), reply, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
