"""Two runs, one folder: the second is refused naming the first (host, pid, start time); a lock left by a
killed run is taken over with a warning. Real processes, real ``flock``."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from verl_ext.preflight.run_lock import LOCK_NAME, RunFolderLocked, RunLock

REPO = Path(__file__).resolve().parents[2]
HOLDER = """
import sys
from verl_ext.preflight.run_lock import RunLock
RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def holder(tmp_path):
    """``holder(folder)`` starts a process that locks ``folder`` and waits; yields the Popen."""
    started = []

    def start(folder):
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, env=env)
        assert proc.stdout.readline().strip() == "locked"
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_a_second_lock_is_refused_naming_the_holder(tmp_path, holder):
    proc = holder(tmp_path / "run")
    with pytest.raises(RunFolderLocked) as refused:
        RunLock(tmp_path / "run", "checkpoint folder", hint="use another folder").acquire()
    message = str(refused.value)
    assert f"host {socket.gethostname()}, pid {proc.pid}, started " in message
    assert "checkpoint folder" in message and "use another folder" in message
    assert json.loads((tmp_path / "run" / LOCK_NAME).read_text())["pid"] == proc.pid  # the holder's record is kept


def test_kill_9_releases_the_lock_and_the_next_run_takes_it_over_with_a_warning(tmp_path, holder):
    proc = holder(tmp_path / "run")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lock = RunLock(tmp_path / "run").acquire()
    try:
        assert lock.took_over.pid == proc.pid
        assert f"pid {proc.pid}" in lock.stale_warning() and "no longer running" in lock.stale_warning()
        assert json.loads((tmp_path / "run" / LOCK_NAME).read_text())["pid"] == os.getpid()
    finally:
        lock.release()
    assert (tmp_path / "run" / LOCK_NAME).read_text() == ""  # a clean release leaves no record
    with RunLock(tmp_path / "run") as again:
        assert again.stale_warning() is None


def test_the_rl_launcher_refuses_a_locked_checkpoint_folder_before_ray(tmp_path, launch):
    checkpoints = tmp_path / "ckpt"
    with RunLock(checkpoints):
        done = launch(tmp_path, "-m", "verl_ext.trainer.main", f"trainer.default_local_dir={checkpoints}")
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"the checkpoint folder (trainer.default_local_dir) {checkpoints} is in use by another run: " \
           f"host {socket.gethostname()}, pid {os.getpid()}, started " in done.stderr
    assert "give this run another trainer.default_local_dir" in done.stderr
    assert not (tmp_path / "metrics").exists() and "ray init" not in done.stdout  # refused before anything started


def test_a_second_pipeline_on_a_run_folder_is_refused(tmp_path, launch):
    run_dir = tmp_path / "run"
    with RunLock(run_dir):
        done = launch(tmp_path, "-m", "verl_ext.stages.pipeline", "--run-dir", run_dir, "--stages", "2,3")
    assert done.returncode == 2
    assert f"the pipeline run folder {run_dir} is in use by another run: host {socket.gethostname()}, " \
           f"pid {os.getpid()}" in done.stderr
    assert "give this pipeline another --run-dir" in done.stderr
    assert sorted(p.name for p in run_dir.iterdir()) == [LOCK_NAME]  # nothing launched, nothing written
