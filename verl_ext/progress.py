"""Progress of long waits: a tqdm bar on a terminal, plain ``[revisual]`` lines in a log or a pipe.

In plain mode a line is printed at the start, then at least every ``interval_s`` seconds from a
background thread, even while one step takes longer than that (a CPU warm-start step under load
can), and at the end. The lines start with ``[revisual]`` so that the pipeline, which echoes only
those from its child processes, shows them.
"""

from __future__ import annotations

import os
import sys
import threading
import time

PREFIX = "[revisual]"
ANNOUNCE_ENV = "REVISUAL_PROGRESS_ANNOUNCE"
_last_line_at: float | None = None
"""When any progress of this process last printed: a progress that follows another (the next model of an
evaluation) and does not announce itself is due its first line ``interval_s`` after that, not after its
own start, so the time between the two (loading the model) does not add to the silence."""
INTERVAL_S = 25.0
"""Under the 30 s that a person (or a job log) should ever wait for a sign of life."""


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """``update(n)`` / ``set(done)`` towards ``total`` (which may be learnt later with ``set_total``),
    with the rate and ETA measured from the steps done. A context manager."""

    def __init__(self, label: str, total: int | None, unit: str = "steps", *, interval_s: float = INTERVAL_S,
                 stream=None, terminal: bool | None = None, announce: bool | None = None):
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream or sys.stdout
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self.done = 0
        self.started = time.monotonic()
        self._first: tuple[float, int] | None = None  # (when, done) at the first update
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._bar = None
        self._thread = None
        self.interval_s = interval_s
        if self.terminal:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=label, unit=f" {unit}", file=self.stream, dynamic_ncols=True)
        else:
            # Without ``announce`` the caller's own lines say when it starts and ends (the pipeline's stages).
            # REVISUAL_PROGRESS_ANNOUNCE=0: set by the pipeline for its children, whose start and end
            # it prints itself.
            self.announce = os.environ.get(ANNOUNCE_ENV, "1") != "0" if announce is None else announce
            self._last = time.monotonic() if _last_line_at is None else _last_line_at
            if self.announce:
                self._line("started")
            self._thread = threading.Thread(target=self._beat, daemon=True)
            self._thread.start()

    def status(self) -> str:
        elapsed = time.monotonic() - self.started
        text = f"{self.done}" + (f" of {self.total}" if self.total else "") + f" {self.unit}, {duration(elapsed)} elapsed"
        eta = self.eta()
        if eta:
            text += f", {self.seconds_per():.1f} s each, {eta}"
        return text

    def seconds_per(self) -> float | None:
        """Seconds per unit, measured from the first update on; None before a second one. The time before
        the first update (a stage's Ray start-up, a model load) is not a unit's: counted in, it made the
        first ETA of a 30-step stage read 15 min where the stage took 70 s."""
        if self._first is None or self.done <= self._first[1]:
            return None
        return (time.monotonic() - self._first[0]) / (self.done - self._first[1])

    def eta(self) -> str:
        """``ETA 2m30s`` from the measured rate once it is measured and the total is known, else ``""``."""
        seconds_per = self.seconds_per()
        if not self.total or seconds_per is None or self.done >= self.total:
            return ""
        return f"ETA {duration(seconds_per * (self.total - self.done))}"

    def line(self, text: str) -> None:
        """Print a line of the caller's (a step's summary): it counts as the sign of life, so the
        periodic status line waits another interval."""
        with self._lock:
            if self._bar is not None:
                self._bar.write(text, file=self.stream)
            else:
                print(text, file=self.stream, flush=True)
            self._printed()

    def _line(self, note: str = "") -> None:
        with self._lock:
            print(f"{PREFIX} {self.label}: {self.status()}" + (f" ({note})" if note else ""), file=self.stream, flush=True)
            self._printed()

    def _printed(self) -> None:
        global _last_line_at
        self._last = _last_line_at = time.monotonic()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s / 5):
            if time.monotonic() - self._last >= self.interval_s:
                self._line()

    def set_total(self, total: int) -> None:
        self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def set(self, done: int) -> None:
        self.update(done - self.done)

    def update(self, n: int = 1) -> None:
        if n <= 0:
            return
        self.done += n
        if self._first is None:
            self._first = (time.monotonic(), self.done)
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        self._stop.set()
        if self._bar is not None:
            self._bar.close()
        elif self._thread is not None:
            self._thread.join()
            finished = not self.total or self.done >= self.total
            if self.announce or not finished:
                self._line("done" if finished else "stopped")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
