"""A generation engine that, like vLLM's, answers through a child process it starts itself.

Used by test_parallel.py inside data-parallel workers: a daemonic worker cannot start it. The
child's pid is appended to ``pid_file`` so the test can check that clean-up ended it.
"""

import multiprocessing as mp
import os


def _serve(connection) -> None:
    while True:
        keys = connection.recv()
        if keys is None:
            return
        connection.send([f"\\boxed{{A}} from {os.getpid()} for {key}" for key in keys])


class ChildProcessEngine:
    def __init__(self, model_path, sampling, pid_file: str, fail_on: str | None = None):
        self.fail_on = fail_on
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
