"""Stop a stage when told: forward SIGTERM, SIGINT and SIGHUP to the stage's processes, bounded.

``kill <pid>``, Kubernetes, Slurm's ``scancel`` and a closed terminal signal one process: the
pipeline driver or the launcher. Without forwarding, that process died at once and its stage
(with the Ray processes it started) was reparented to init and kept training. Here each stage runs
in a session of its own (``start_new_session``); a stop signal received by the supervising process
is sent to the stage's process group, then the supervisor waits at most ``REVISUAL_STOP_GRACE_S``
seconds (default 60) before it SIGKILLs every process left in that session, and exits with the
shell's convention, 128 + the signal number. A second signal skips the wait.

verl 0.9.1 runs the training loop inside a Ray actor (``TaskRunner``) with no hook that saves on a
signal, so a stopped stage keeps the checkpoints it has (``trainer.save_freq``) and the rerun
resumes from the last one. The stage process also gets SIGTERM when its supervisor dies, even by
SIGKILL (``PR_SET_PDEATHSIG``), so no stage outlives the process that watches it.

    python -m verl_ext.stages.stopping -- COMMAND [ARGS...]     # what the recipes/ launchers run

This module imports nothing heavy: it wraps every launcher.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
GRACE_ENV = "REVISUAL_STOP_GRACE_S"
DEFAULT_GRACE_S = 60.0
_PR_SET_PDEATHSIG = 1


class Stopped(Exception):
    """A stop signal ended the run; ``exit_code`` is 128 + its number, as a shell reports it."""

    def __init__(self, signum: int, note: str = ""):
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(note or f"stopped by {signal.Signals(signum).name}")


def grace_s() -> float:
    try:
        value = float(os.environ.get(GRACE_ENV, DEFAULT_GRACE_S))
    except ValueError:
        raise SystemExit(f"[revisual] error: {GRACE_ENV} must be a number of seconds, "
                         f"got {os.environ[GRACE_ENV]!r}") from None
    return max(value, 0.0)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (Linux), so a killed supervisor leaves no stage."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the forwarding still works, only the SIGKILLed-supervisor case is not covered


def session_members(sid: int) -> list[int]:
    """Pids of the live processes of session ``sid`` (Linux ``/proc``; the session leader included).

    Ray's head processes and its workers are started below the stage process and keep its session
    (Ray's reaper makes its own process group, not its own session), so the session finds them all."""
    members = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        fields = stat[stat.rindex(")") + 2:].split()
        # fields: state, ppid, pgrp, session, ...; a zombie holds its pid but runs nothing
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def signal_session(sid: int, signum: int) -> list[int]:
    """Send ``signum`` to the process group ``sid`` and to every other process of the session; returns the pids."""
    try:
        os.killpg(sid, signum)
    except ProcessLookupError:
        pass
    pids = [pid for pid in session_members(sid) if pid != os.getpid()]
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
    return pids


def reap_session(sid: int, bound_s: float) -> list[int]:
    """After the session's leader exited: SIGTERM what is left, SIGKILL what outlives ``bound_s``; returns the killed."""
    left = signal_session(sid, signal.SIGTERM) if session_members(sid) else []
    deadline = time.monotonic() + bound_s
    while session_members(sid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if session_members(sid):
        signal_session(sid, signal.SIGKILL)
        while session_members(sid) and time.monotonic() < deadline + 5:
            time.sleep(0.1)
    return left


class Supervisor:
    """Install the stop handlers for a block; start children in their own session and forward stops to them.

    While no supervised child runs, a stop signal raises :class:`Stopped` where the program is (a
    ``subprocess.run`` child is then killed by ``subprocess`` itself, and ``finally`` blocks run).
    """

    def __init__(self, grace: float | None = None):
        self.grace = grace_s() if grace is None else grace
        self.signum: int | None = None
        self.received_at: float | None = None
        self.children: list[subprocess.Popen] = []
        self._previous: dict[int, object] = {}
        self._killer: threading.Timer | None = None

    def __enter__(self) -> "Supervisor":
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._killer is not None:
            self._killer.cancel()
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _live(self) -> list[subprocess.Popen]:
        return [child for child in self.children if child.poll() is None]

    def _handle(self, signum, frame) -> None:
        first = self.signum is None
        if first:
            self.signum, self.received_at = signum, time.monotonic()
        live = self._live()
        if not live:
            raise Stopped(self.signum)
        for child in live:
            # The first signal goes to the stage as it came; a second one means "now".
            signal_session(child.pid, signum if first else signal.SIGKILL)
        if first:
            self._killer = threading.Timer(self.grace, self._kill_all)
            self._killer.daemon = True
            self._killer.start()

    def _kill_all(self) -> None:
        for child in self.children:
            signal_session(child.pid, signal.SIGKILL)

    def popen(self, cmd: list[str], **kwargs) -> subprocess.Popen:
        """``subprocess.Popen`` in a new session (its pid is its process group and session id)."""
        if self.signum is not None:
            raise Stopped(self.signum)
        child = subprocess.Popen(cmd, start_new_session=True, preexec_fn=_die_with_parent, **kwargs)
        self.children.append(child)
        return child

    def finish(self, child: subprocess.Popen) -> int:
        """Wait for ``child``, then clear its session within what is left of the bound; returns its exit status."""
        code = child.wait()
        left = self.grace
        if self.received_at is not None:
            left = max(self.grace - (time.monotonic() - self.received_at), 0.0)
        reap_session(child.pid, left if self.signum is not None else min(left, 10.0))
        return code

    def stop_note(self, child: subprocess.Popen, code: int) -> str:
        """One line for the stage log: what was received and how the stage ended."""
        assert self.signum is not None and self.received_at is not None
        took = time.monotonic() - self.received_at
        return (f"{signal.Signals(self.signum).name} received: forwarded to the stage's process group {child.pid}; "
                f"the stage ended (exit {code}) {took:.1f} s later (bound {self.grace:g} s, "
                f"{GRACE_ENV}); the rerun resumes from its last checkpoint")


def main(argv: list[str] | None = None) -> int:
    """Run COMMAND under the stop handlers with this terminal's output; exit with its status, or 128 + signal."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: python -m verl_ext.stages.stopping -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    with Supervisor() as supervisor:
        try:
            child = supervisor.popen(argv)
        except Stopped as stop:
            return stop.exit_code
        code = supervisor.finish(child)
        if supervisor.signum is not None:
            print(f"[revisual] {supervisor.stop_note(child, code)}", file=sys.stderr, flush=True)
            return 128 + supervisor.signum
    return code


if __name__ == "__main__":
    sys.exit(main())
