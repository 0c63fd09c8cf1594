"""Real Ray clusters on this machine for the cluster tests: every node `ray start`-ed by the test.

Each node runs `ray start --block` in its own process group, with its own ports and its own temp
folder under one short root (Ray's unix sockets live there). Teardown stops exactly those process
groups, then any process still running from inside the root (a job's entrypoint runs in the
unpacked working dir there), and never uses `ray stop`, which would stop every Ray on the machine.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# A job's working dir is uploaded: leave out the environment, caches and run outputs.
UPLOAD_EXCLUDES = [".venv", ".cache", "outputs", ".git", "__pycache__"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def _free_port_range(width: int = 40) -> tuple[int, int]:
    """A block of ports nobody listens on, for one node's worker processes."""
    for _ in range(200):
        start = 20000 + secrets.randbelow(400) * 100
        ports = range(start, start + width)
        busy = {conn.laddr.port for conn in psutil.net_connections("inet") if conn.laddr}
        if not busy.intersection(ports):
            return start, start + width - 1
    raise RuntimeError("no free block of worker ports")


class LocalRayCluster:
    """A head and optional worker nodes, each a `ray start --block` process of this test."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="rvc-", dir="/tmp"))
        self.token = secrets.token_hex(16)
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        # A job must import the uploaded working dir and decide its own device, like on a real cluster.
        for name in ("PYTHONPATH", "REVISUAL_DEVICE", "VERL_PLATFORM", "VERL_USE_EXTERNAL_MODULES"):
            env.pop(name, None)
        env.update(
            # What activating the project's environment before `ray start` does.
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            RAY_AUTH_MODE="token",
            RAY_AUTH_TOKEN=self.token,
            RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",
            RAY_USAGE_STATS_ENABLED="0",
        )
        self.env = env
        self.nodes: list[subprocess.Popen] = []
        self.node_dirs: dict[str, Path] = {}
        self.address: str | None = None
        self.dashboard_url: str | None = None

    def _start(self, name: str, node_args) -> None:
        """Start a node; ``node_args()`` gives its own flags, with ports picked afresh on each try.

        A port found free can be taken by another process before Ray binds it, so a node that does
        not come up is stopped and started once more on new ports.
        """
        for attempt in (1, 2):
            temp = self.root / f"{name}-{attempt}"
            temp.mkdir()
            low, high = _free_port_range()
            cmd = [
                str(BIN / "ray"), "start", "--block", "--disable-usage-stats",
                "--temp-dir", str(temp),
                "--node-manager-port", str(_free_port()),
                "--object-manager-port", str(_free_port()),
                "--dashboard-agent-listen-port", str(_free_port()),
                "--dashboard-agent-grpc-port", str(_free_port()),
                "--metrics-export-port", str(_free_port()),
                "--runtime-env-agent-port", str(_free_port()),
                "--min-worker-port", str(low), "--max-worker-port", str(high),
                "--object-store-memory", str(300 * 1024 * 1024),
                *node_args(),
            ]  # fmt: skip
            log_path = self.root / f"{name}-{attempt}.log"
            with open(log_path, "w") as log:
                proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                self._wait_started(proc, log_path, temp)
            except RuntimeError:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
                if attempt == 2:
                    raise
                continue
            self.nodes.append(proc)
            self.node_dirs[name] = temp
            return

    @staticmethod
    def _wait_started(proc: subprocess.Popen, log: Path, temp: Path, limit_s: float = 120) -> None:
        # A bound on waiting, so a broken start fails the test instead of hanging it (no assertion on time).
        deadline = time.monotonic() + limit_s
        while "Ray runtime started" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                tails = [f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}"
                         for p in sorted(temp.glob("session_*/logs/*")) if p.suffix in (".out", ".err") and p.stat().st_size]  # fmt: skip
                raise RuntimeError(f"ray start failed:\n{log.read_text()[-3000:]}\n" + "\n".join(tails)[-6000:])
            time.sleep(0.5)

    def start_head(self, num_cpus: int, num_gpus: int) -> str:
        ports = {}

        def head_args():
            ports.update(gcs=_free_port(), dashboard=_free_port())
            return [
                "--head", "--port", str(ports["gcs"]), "--num-cpus", str(num_cpus), "--num-gpus", str(num_gpus),
                "--dashboard-host", "127.0.0.1", "--dashboard-port", str(ports["dashboard"]),
                "--ray-client-server-port", str(_free_port()),
            ]  # fmt: skip

        self._start("head", head_args)
        self.address = (self.node_dirs["head"] / "ray_current_cluster").read_text().strip()
        self.dashboard_url = f"http://127.0.0.1:{ports['dashboard']}"
        return self.address

    def add_node(self, num_cpus: int, num_gpus: int) -> str:
        """Add a worker node; returns its name (its temp folder is ``node_dirs[name]``)."""
        name = f"worker{len(self.nodes)}"
        self._start(name, lambda: ["--address", self.address, "--num-cpus", str(num_cpus), "--num-gpus", str(num_gpus)])
        return name

    def client_env(self, **extra: str) -> dict[str, str]:
        """The environment of a process on this machine that talks to the cluster."""
        return {**self.env, "RAY_ADDRESS": self.address, **extra}

    def submit(self, entrypoint: list[str], env_vars: dict[str, str], timeout_s: float) -> subprocess.CompletedProcess:
        """`ray job submit --working-dir <repo>`, waiting for the job and streaming its log back."""
        runtime_env = {"env_vars": env_vars, "excludes": UPLOAD_EXCLUDES}
        cmd = [
            str(BIN / "ray"), "job", "submit", "--address", self.dashboard_url, "--working-dir", str(REPO),
            "--runtime-env-json", json.dumps(runtime_env), "--", *entrypoint,
        ]  # fmt: skip
        env = {k: v for k, v in self.env.items() if k != "RAY_ADDRESS"}
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s)

    def node_logs(self) -> str:
        return "\n".join(p.read_text()[-2000:] for p in sorted(self.root.glob("*.log")))

    def stop(self) -> None:
        for proc in reversed(self.nodes):
            _signal_group(proc, signal.SIGTERM)
        for proc in reversed(self.nodes):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
        _kill_processes_under(self.root)
        shutil.rmtree(self.root, ignore_errors=True)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # the node's own process group (start_new_session)
    except ProcessLookupError:
        pass


def _kill_processes_under(root: Path) -> None:
    """Job entrypoints run in their own session, from the working dir unpacked under ``root``."""
    prefix = str(root)
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        info = proc.info
        if (info["cwd"] or "").startswith(prefix) or any(prefix in part for part in info["cmdline"] or ()):
            try:
                proc.kill()
            except psutil.Error:
                pass


@pytest.fixture
def ray_cluster():
    cluster = LocalRayCluster()
    try:
        yield cluster
    finally:
        cluster.stop()
