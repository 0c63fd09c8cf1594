"""Entry point of a scoring subprocess (see :mod:`reward_fns.deadline`).

Protocol on stdin/stdout: 8-byte little-endian length, then a pickle.  The parent sends
``(job_id, pickle of (fn, args, kwargs))`` (pickled twice so that a job that cannot be
unpickled here, e.g. a function from an unimportable module, is answered as that job's error) or ``None`` to stop; the worker answers ``(job_id, ok, value)``.
The first frame the worker sends is ``("ready", None)`` or ``("failed", reason)``.
"""

from __future__ import annotations

import importlib
import os
import pickle
import signal
import struct
import sys

_HEADER = struct.Struct("<Q")


def _send(stream, message) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


def _receive(stream):
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    return pickle.loads(stream.read(size))


def _limit_memory(megabytes: int) -> None:
    if megabytes <= 0:
        return
    try:
        import resource

        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the parent, which kills us
    # Reserve the real stdout for the protocol; stray prints from user rewards go to stderr.
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    requests = sys.stdin.buffer
    try:
        for name in filter(None, os.environ.get("REVISUAL_WORKER_PRELOAD", "").split(",")):
            importlib.import_module(name)
        _limit_memory(int(os.environ.get("REVISUAL_WORKER_MEMORY_MB", "0")))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        _send(channel, ("failed", f"{type(exc).__name__}: {exc}"))
        return
    _send(channel, ("ready", None))
    while True:
        message = _receive(requests)
        if message is None:
            return
        job_id, payload = message
        try:
            fn, args, kwargs = pickle.loads(payload)
            reply = (job_id, True, fn(*args, **kwargs))
            _send(channel, reply)
        except BaseException as exc:  # noqa: BLE001 - any failure is one sample's error, not ours
            _send(channel, (job_id, False, f"{type(exc).__name__}: {exc}"))


if __name__ == "__main__":
    main()
