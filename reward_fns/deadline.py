"""Hard per-call deadlines: persistent scoring processes, SIGKILLed and respawned on overrun.

Why not the alternatives: ``signal.alarm`` only works on the main thread (Ray reward workers and
thread pools are not), ``ProcessPoolExecutor.result(timeout)`` stops waiting but leaves the hung
worker running, and a fresh process per call costs 5-80 ms.  Here each worker is a plain
``python -m reward_fns._worker`` subprocess talking length-prefixed pickles over its stdin/stdout,
so it needs no ``multiprocessing`` start method (which misbehaves under Ray actors' ``__main__``)
and any thread may call :meth:`ScoringPool.call`.
"""

from __future__ import annotations

import atexit
import itertools
import os
import pickle
import queue
import select
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

_HEADER = struct.Struct("<Q")
DEFAULT_STARTUP_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class CallResult:
    """Outcome of one deadline-bounded call: exactly one of ok / timed_out / error is set."""

    ok: bool
    value: Any = None
    timed_out: bool = False
    error: str | None = None


class WorkerStartupError(RuntimeError):
    """A scoring process could not start (bad import path, missing package...)."""


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes | None:
    """Read ``size`` bytes from ``fd``; None if the deadline passes first.  EOFError if closed."""
    chunks = []
    remaining = size
    while remaining:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return None
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise EOFError("scoring process closed its pipe")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


class _Worker:
    """One scoring subprocess."""

    def __init__(self, preload: tuple[str, ...], memory_limit_mb: int | None, startup_timeout_s: float):
        env = dict(os.environ)
        # The child must import what the parent can: reward_fns itself and user reward files.
        env["PYTHONPATH"] = os.pathsep.join(p for p in [os.getcwd(), *sys.path] if p)
        env["REVISUAL_WORKER_PRELOAD"] = ",".join(preload)
        env["REVISUAL_WORKER_MEMORY_MB"] = str(memory_limit_mb or 0)
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "reward_fns._worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        self.out_fd = self.proc.stdout.fileno()
        try:
            hello = self._receive(time.monotonic() + startup_timeout_s)
        except EOFError as exc:
            self.kill()
            raise WorkerStartupError(f"scoring process exited during start-up (rc={self.proc.poll()})") from exc
        if hello is None:
            self.kill()
            raise WorkerStartupError(f"scoring process did not start within {startup_timeout_s:.0f}s")
        if hello[0] != "ready":
            self.kill()
            raise WorkerStartupError(f"scoring process failed to start: {hello[1]}")

    def _receive(self, deadline: float | None):
        header = _read_exact(self.out_fd, _HEADER.size, deadline)
        if header is None:
            return None
        (size,) = _HEADER.unpack(header)
        body = _read_exact(self.out_fd, size, deadline)
        if body is None:
            return None
        return pickle.loads(body)

    def send(self, message) -> None:
        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self.proc.stdin.write(_HEADER.pack(len(payload)) + payload)
        self.proc.stdin.flush()

    def receive(self, deadline: float):
        return self._receive(deadline)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class ScoringPool:
    """Persistent scoring processes with a hard, externally enforced deadline per call.

    ``call(fn, *args, timeout_s=...)`` runs ``fn(*args)`` (``fn`` must be picklable by reference,
    i.e. a module-level function) in an idle worker. The deadline counts from submission: time
    spent waiting for a free worker counts against it, so ``n`` calls submitted together all
    return within one deadline however slow each is, instead of ``n / workers`` deadlines one
    after the other. A call whose deadline passes while it waits never runs; one whose result
    is not back in time has its worker SIGKILLed (a replacement starts in the background). Both
    return ``CallResult(ok=False, timed_out=True)`` with the reason in ``error``. Exceptions
    inside ``fn`` come back as ``error``; nothing raises to the caller (except a worker that
    cannot start at all: :class:`WorkerStartupError`). Thread-safe: at most ``workers`` calls run
    at once.
    """

    def __init__(
        self,
        workers: int = 2,
        *,
        preload: tuple[str, ...] = ("reward_fns.symbolic_warmup",),
        memory_limit_mb: int | None = 4096,
        startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
    ):
        if workers < 1:
            raise ValueError(f"ScoringPool needs at least one worker, got workers={workers}")
        self.size = workers
        self._preload = tuple(preload)
        self._memory_limit_mb = memory_limit_mb
        self._startup_timeout_s = startup_timeout_s
        self._idle: queue.Queue[_Worker | None] = queue.Queue()
        self._lock = threading.Lock()
        self._warm_up_lock = threading.Lock()  # two warm-ups holding one slot each would deadlock
        self._ids = itertools.count()
        self._closed = False
        self.stats = {"calls": 0, "timeouts": 0, "expired_in_queue": 0, "errors": 0, "respawns": 0}
        for _ in range(workers):
            self._idle.put(None)  # started lazily, by the first call that needs it

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def _start_worker(self) -> _Worker:
        return _Worker(self._preload, self._memory_limit_mb, self._startup_timeout_s)

    def _replace_in_background(self) -> None:
        """Start a replacement for a killed worker off the caller's path (its start-up, about a
        second with math-verify warmed up, must not eat into anyone's deadline)."""

        def start() -> None:
            worker = None
            if not self._closed:
                try:
                    worker = self._start_worker()
                except WorkerStartupError:
                    worker = None  # the next call retries on its own thread and reports why
            self._idle.put(worker)

        self._count("respawns")
        threading.Thread(target=start, name="revisual-scoring-respawn", daemon=True).start()

    def warm_up(self) -> None:
        """Start every worker now rather than on first use (waits for calls in flight)."""
        with self._warm_up_lock:
            started = []
            try:
                for _ in range(self.size):
                    worker = self._idle.get()
                    started.append(worker)
                    if worker is None or not worker.alive():
                        started[-1] = self._start_worker()
            finally:
                for worker in started:
                    self._idle.put(worker)

    def call(self, fn: Callable, *args, timeout_s: float, deadline: float | None = None, **kwargs) -> CallResult:
        """Run ``fn(*args, **kwargs)`` in a worker; it must be done ``timeout_s`` seconds after
        submission, or by ``deadline`` (a ``time.monotonic()`` instant) when the caller's clock
        started earlier, e.g. when the sample entered the reward manager."""
        if self._closed:
            raise RuntimeError("ScoringPool is closed")
        if deadline is None:
            deadline = time.monotonic() + timeout_s
        self._count("calls")
        try:
            worker = self._idle.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return self._expired()
        replaced = False  # the slot goes to a background replacement instead of back to the queue
        try:
            if worker is None or not worker.alive():
                if worker is not None:
                    worker.kill()
                    self._count("respawns")
                worker = self._start_worker()
            if time.monotonic() >= deadline:
                return self._expired()
            job_id = next(self._ids)
            payload = pickle.dumps((fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
            worker.send((job_id, payload))
            reply = worker.receive(deadline)
            if reply is None:
                worker.kill()
                self._replace_in_background()
                replaced = True
                self._count("timeouts")
                return CallResult(ok=False, timed_out=True, error="killed at its deadline")
            reply_id, ok, value = reply
            if reply_id != job_id:
                raise RuntimeError(f"scoring process answered job {reply_id}, expected {job_id}")
            if not ok:
                self._count("errors")
                return CallResult(ok=False, error=value)
            return CallResult(ok=True, value=value)
        except WorkerStartupError:
            worker = None
            raise
        except (EOFError, BrokenPipeError, OSError, RuntimeError, pickle.PickleError) as exc:
            # Crashed (segfault, OOM kill) or desynchronised worker: replace it, score as error.
            if worker is not None:
                worker.kill()
                self._replace_in_background()
                replaced = True
            self._count("errors")
            return CallResult(ok=False, error=f"{type(exc).__name__}: {exc}")
        finally:
            if not replaced:
                self._idle.put(worker)

    def _expired(self) -> CallResult:
        self._count("timeouts")
        self._count("expired_in_queue")
        return CallResult(ok=False, timed_out=True, error="deadline passed while waiting for a scoring process")

    def close(self) -> None:
        """Stop all workers.  Waits for calls in flight to hand their worker back."""
        if self._closed:
            return
        self._closed = True
        for _ in range(self.size):
            worker = self._idle.get()
            if worker is not None:
                try:
                    worker.send(None)
                except OSError:
                    pass
                worker.kill()

    def __enter__(self) -> "ScoringPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_default_pool: ScoringPool | None = None
_default_lock = threading.Lock()


def default_pool() -> ScoringPool:
    """The process-wide pool used by :func:`reward_fns.accuracy_reward` and friends.

    Size from ``REVISUAL_SCORE_WORKERS`` (default 2).
    """
    global _default_pool
    with _default_lock:
        if _default_pool is None:
            workers = int(os.environ.get("REVISUAL_SCORE_WORKERS", "2"))
            _default_pool = ScoringPool(workers=workers)
            atexit.register(_default_pool.close)
        return _default_pool


def set_default_pool(pool: ScoringPool | None) -> ScoringPool | None:
    """Replace the process-wide pool (returns the previous one, not closed)."""
    global _default_pool
    with _default_lock:
        previous, _default_pool = _default_pool, pool
        return previous
