"""Exact-match deduplication after normalisation, and the seeded train/val split.

Both work row by row from one keyed hash, so neither needs the whole dataset in memory: seen
rows cost 8 bytes each in a sorted numpy array (plus a small Python set of recent rows).
"""

import hashlib
import re
import unicodedata

import numpy as np

_WHITESPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """NFKC, lower case, whitespace collapsed: two rows equal after this are duplicates."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().lower()


def row_hashes(key: bytes, seed: int) -> tuple[int, float]:
    """``(dedup_digest, split_draw)``: a 64-bit identity and a uniform draw in [0, 1)."""
    digest = hashlib.blake2b(key, digest_size=16, key=str(seed).encode()).digest()
    identity = int.from_bytes(digest[:8], "little")
    draw = int.from_bytes(digest[8:], "little") / 2.0**64
    return identity, draw


def assign_split(draw: float, val_fraction: float) -> str:
    """``"val"`` for a ``val_fraction`` share of draws, else ``"train"``."""
    return "val" if draw < val_fraction else "train"


class SeenDigests:
    """Set of 64-bit digests with ~8 bytes per member.

    New digests go to a small Python set; when it fills up they are appended to a uint64 buffer
    that grows by doubling and is kept sorted, then searched with ``np.searchsorted``. Growing in
    place (rather than ``np.union1d`` copies) keeps the allocator from fragmenting.
    """

    def __init__(self, merge_every: int = 1 << 13):
        self._recent: set[int] = set()
        self._buffer = np.empty(1 << 14, dtype=np.uint64)
        self._size = 0
        self._merge_every = merge_every

    def __len__(self) -> int:
        return len(self._recent) + self._size

    def __contains__(self, digest: int) -> bool:
        if digest in self._recent:
            return True
        if not self._size:
            return False
        stored = self._buffer[: self._size]
        value = np.uint64(digest)
        position = int(np.searchsorted(stored, value))
        return position < self._size and stored[position] == value

    def _merge_recent(self) -> None:
        count = len(self._recent)
        needed = self._size + count
        if needed > len(self._buffer):
            grown = np.empty(max(needed, 2 * len(self._buffer)), dtype=np.uint64)
            grown[: self._size] = self._buffer[: self._size]
            self._buffer = grown
        self._buffer[self._size : needed] = np.fromiter(self._recent, dtype=np.uint64, count=count)
        self._buffer[:needed].sort(kind="stable")
        self._size = needed
        self._recent = set()

    def add(self, digest: int) -> bool:
        """Insert ``digest``; False when it was already present."""
        if digest in self:
            return False
        self._recent.add(digest)
        if len(self._recent) >= self._merge_every:
            self._merge_recent()
        return True
