"""A generation engine that, like vLLM's, answers through a child process it starts itself.

Used by test_parallel.py inside data-parallel workers: a daemonic worker cannot start it. The
child's pid is appended to ``pid_file`` so the test can check that clean-up ended it.
"""

import multiprocessing as mp
import os
import time
from pathlib import Path


def _serve(connection) -> None:
    while True:
        keys = connection.recv()
        if keys is None:
            return
        connection.send([f"\\boxed{{A}} from {os.getpid()} for {key}" for key in keys])


def _build_alone(marker: Path) -> None:
    """Hold ``marker`` for a moment, as a slow engine start would; an engine that finds it held records an overlap."""
    if marker.exists():
        with open(marker.with_suffix(".overlaps"), "a") as handle:
            handle.write(f"{os.getpid()}\n")
    marker.write_text(str(os.getpid()))
    time.sleep(0.5)  # long enough for a second engine started at the same time to see the marker
    marker.unlink(missing_ok=True)


class ChildProcessEngine:
    def __init__(self, model_path, sampling, pid_file: str, fail_on: str | None = None, build_marker: str | None = None):
        self.fail_on = fail_on
        if build_marker is not None:
            _build_alone(Path(build_marker))
        self.connection, child_end = mp.Pipe()
        self.child = mp.get_context("fork").Process(target=_serve, args=(child_end,), daemon=True)
        self.child.start()
        with open(pid_file, "a") as handle:
            handle.write(f"{os.getpid()} {self.child.pid}\n")

    def generate(self, requests):
        if any(request.key[1] == self.fail_on for request in requests):
            raise RuntimeError(f"engine failed on {self.fail_on}")
        self.connection.send([request.key[1] for request in requests])
        return self.connection.recv()
