"""revisual: the ReVisual-R1 recipe on verl 0.9.1 (pinned with the versions verified together)."""

from setuptools import find_packages, setup

# Verified together on the CPU (Python 3.11, torch 2.13.0+cpu) for the whole test suite.
INSTALL_REQUIRES = [
    "verl==0.9.1",
    # verl's GPU extra pins torch 2.11 for vLLM 0.24; the CPU path is verified on 2.13.0.
    "torch>=2.11,<=2.13.0",
    "transformers==5.10.4",
    "tokenizers==0.22.2",
    "ray[default]==2.60.0",
    "tensordict==0.10.0",
    "hydra-core==1.3.8",
    "omegaconf==2.3.1",
    "datasets==5.2.0",
    "pandas==3.1.1",
    "pyarrow==26.0.1",
    "numpy==2.4.6",
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
    "fastapi==0.165.0",
    "uvicorn==0.54.0",
    "cachetools==8.0.2",
    "qwen_vl_utils==0.0.14",
    # revisual_eval's LLM judge: the client of any OpenAI-compatible endpoint (vllm serve).
    "openai==3.51.0",
]

EXTRAS = {
    "test": ["pytest==9.2.0", "pytest-asyncio==1.5.0", "hypothesis==6.170.17"],
    # GPU clusters: the versions verl 0.9.1's own vllm extra uses.
    "gpu": ["vllm==0.24.0", "flash-attn==2.8.3", "torch==2.11.0", "torchvision==0.26.0"],
}

setup(
    name="revisual",
    version="0.1.0",
    description="ReVisual-R1 (cold start, multimodal RL with PAD, text RL) on verl",
    python_requires=">=3.10",
    packages=find_packages(
        include=["verl_ext", "verl_ext.*", "reward_fns", "reward_fns.*", "data_preprocess", "data_preprocess.*", "revisual_eval", "revisual_eval.*"]
    ),
    package_data={"verl_ext": ["config/*.yaml", "config/*/*.yaml"]},
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"verl.plugins": ["revisual = verl_ext.plugin"]},
)
