"""One run per folder: an advisory lock naming its holder (host, pid, start time).

The lock is ``fcntl.flock`` on ``<folder>/.revisual.lock``, held for the life of the process. The
kernel drops it when the process dies, even by ``kill -9``, so a crashed run never blocks the next
one; the holder record it leaves behind is then taken over with a warning. A clean release empties
the record. The file itself is never deleted: a process that opened the old file could otherwise
lock a file nobody else sees.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from verl_ext.tempdirs import pid_alive as _pid_alive

LOCK_NAME = ".revisual.lock"


class RunFolderLocked(RuntimeError):
    """Another live process holds the folder."""


@dataclass(frozen=True)
class LockHolder:
    host: str
    pid: int
    started: str
    command: str

    @classmethod
    def of_this_process(cls) -> LockHolder:
        return cls(socket.gethostname(), os.getpid(), time.strftime("%Y-%m-%dT%H:%M:%S%z"), " ".join(sys.argv)[:300])

    @classmethod
    def parse(cls, text: str) -> LockHolder | None:
        try:
            fields = json.loads(text)
            return cls(str(fields["host"]), int(fields["pid"]), str(fields["started"]), str(fields.get("command", "")))
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        return f"host {self.host}, pid {self.pid}, started {self.started}" + (f" ({self.command})" if self.command else "")


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


class RunLock:
    """``with RunLock(folder): ...`` or :meth:`acquire` / :meth:`release`; ``what`` names the folder in messages."""

    def __init__(self, folder: str | os.PathLike, what: str = "run folder", hint: str = ""):
        self.folder = Path(folder).resolve()
        self.path = self.folder / LOCK_NAME
        self.what = what
        self.hint = hint
        self._fd: int | None = None
        self.took_over: LockHolder | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`RunFolderLocked` naming the holder; sets ``took_over`` for a stale record."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            previous = LockHolder.parse(_read(fd))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise self._refusal(previous) from None
            except OSError as error:
                # A filesystem without locks (ENOLCK): fall back on the record and the pid on this host.
                if error.errno != errno.ENOLCK:
                    raise
                if previous and previous.host == socket.gethostname() and _pid_alive(previous.pid):
                    raise self._refusal(previous) from None
            self.took_over = previous
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(asdict(LockHolder.of_this_process())).encode(), 0)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def _refusal(self, holder: LockHolder | None) -> RunFolderLocked:
        who = holder.describe() if holder else "a process whose record is unreadable"
        return RunFolderLocked(
            f"the {self.what} {self.folder} is in use by another run: {who}. Wait for it to end"
            + (f", or {self.hint}" if self.hint else "")
            + f" (lock file: {self.path})."
        )

    def stale_warning(self) -> str | None:
        """The warning to print when the lock was taken over from a process that died holding it."""
        if self.took_over is None:
            return None
        return (f"took over the lock of {self.folder} from a run that is no longer running "
                f"({self.took_over.describe()}); it ended without releasing it (killed or crashed)")

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
