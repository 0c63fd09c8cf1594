"""Shared fixtures of the fault suite: real PNG files and a converter runner that reports exit code and stderr."""

import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def _png(width: int = 28, height: int = 28, colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def png():
    """``png(width, height, colour)`` -> the bytes of a real PNG file."""
    return _png


@pytest.fixture
def convert(capsys):
    """``convert(module, *args)`` -> ``(exit code, stderr)`` of a converter CLI run in this process."""

    def run(module, *args):
        try:
            module.main([*map(str, args), "--no-progress"])
            code = 0
        except SystemExit as stop:
            code = stop.code
        return code, capsys.readouterr().err

    return run


@pytest.fixture(scope="session")
def parquet_rows():
    """``parquet_rows(path)`` -> the rows of a parquet file as dicts."""
    return lambda path: pq.read_table(path).to_pylist()


@pytest.fixture(scope="session")
def read_json():
    return lambda path: json.loads(Path(path).read_text())


@pytest.fixture(scope="session")
def launch():
    """``launch(cwd, *argv, env={})`` -> CompletedProcess of ``python *argv`` on the CPU profile, from this checkout."""
    import os
    import subprocess
    import sys

    def run(cwd, *argv, env=None, timeout=900):
        full_env = {**os.environ, "PYTHONPATH": str(REPO), "REVISUAL_DEVICE": "cpu", **(env or {})}
        full_env.pop("RAY_ADDRESS", None)
        # The timeout only stops a hung run from blocking CI; no assertion is made on time.
        return subprocess.run([sys.executable, *map(str, argv)], cwd=cwd, env=full_env, capture_output=True,
                              text=True, timeout=timeout)

    return run
