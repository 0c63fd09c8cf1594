"""A CPU rollout backend for verl's agent loop: transformers ``generate`` behind verl's server API.

verl 0.9.1 only ships vLLM, SGLang and TensorRT-LLM rollout servers, all GPU-only. This module
registers a fourth backend, ``hf``, with the same three parts verl expects of any backend:

* ``HFRolloutServer``: one Ray actor per replica that owns a transformers model and answers
  ``generate(prompt_ids, sampling_params, image_data)`` with sampled tokens and their log-probs;
* ``HFReplica``: verl's ``RolloutReplica`` that launches that actor;
* ``HFServerAdapter``: verl's ``BaseRollout`` inside the actor worker; at every weight sync it
  streams the trainer's weights into the server, so rollouts are on-policy.

Select it with ``actor_rollout_ref.rollout.name=hf`` (the CPU profile does this).
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any, Optional

import ray
import torch
from verl.workers.rollout.base import BaseRollout
from verl.workers.rollout.replica import RolloutReplica, TokenOutput

logger = logging.getLogger(__name__)

# Tokens a random or barely trained VL model must not emit: verl's M-RoPE indexer reads
# vision tokens in a *response* as the start of an image and fails.
_VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")


def suppressed_token_ids(tokenizer) -> list[int]:
    """The ids of the vision tokens a tiny model's answer must not contain (see ``_VISION_TOKENS``)."""
    vocab = tokenizer.get_vocab()
    return [vocab[t] for t in _VISION_TOKENS if t in vocab]


def stop_token_ids(model, tokenizer) -> set[int]:
    """Every id that ends an answer: the model's generation-config EOS (one or a list) and the tokenizer's."""
    eos = model.generation_config.eos_token_id
    return (set(eos if isinstance(eos, list) else [eos]) | {tokenizer.eos_token_id}) - {None}


def multimodal_token_types(input_ids: torch.Tensor, image_token_id: Optional[int],
                           video_token_id: Optional[int] = None) -> torch.Tensor:
    """Qwen-VL's ``mm_token_type_ids``: 1 at image placeholders, 2 at video ones, 0 elsewhere.

    transformers 5 places image tokens on M-RoPE's (t, h, w) grid only where these types say so;
    without them, ``generate`` gives the image tokens text positions, while verl's actor (whose
    agent loop computes the types) trains on grid positions: the rollout samples from a different
    model than the one being trained.
    """
    types = torch.zeros_like(input_ids)
    if image_token_id is not None:
        types[input_ids == image_token_id] = 1
    if video_token_id is not None:
        types[input_ids == video_token_id] = 2
    return types


def load_for_generation(path: str):
    """``(hf config, model, tokenizer, processor)`` of a Hugging Face folder, as the CPU rollout generates with
    it: fp32, sdpa attention, eval mode; the processor only for a vision-language model (else None)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText
    from verl.utils.tokenizer import hf_processor, hf_tokenizer

    hf_config = AutoConfig.from_pretrained(path)
    is_vision_model = hasattr(hf_config, "vision_config")
    model_cls = AutoModelForImageTextToText if is_vision_model else AutoModelForCausalLM
    model = model_cls.from_pretrained(path, attn_implementation="sdpa", dtype=torch.float32).eval()
    return hf_config, model, hf_tokenizer(path), (hf_processor(path) if is_vision_model else None)


def left_padded_inputs(rows: list[tuple[list[int], Optional[list[Any]]]], pad_token_id: int, processor=None) -> dict:
    """``generate`` inputs for ``(prompt ids, images)`` rows: left-padded ids and mask, and, when a row has
    images, their pixel values and grid plus the token types that put them on M-RoPE's grid."""
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.tensor([[pad_token_id] * (width - len(ids)) + list(ids) for ids, _ in rows], dtype=torch.long)
    attention_mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids, _ in rows], dtype=torch.long)
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    images = [image for _, row_images in rows for image in (row_images or [])]
    if images:
        vision = processor.image_processor(images=images, return_tensors="pt")
        inputs.update(pixel_values=vision["pixel_values"], image_grid_thw=vision["image_grid_thw"])
        types = multimodal_token_types(
            input_ids, getattr(processor, "image_token_id", None), getattr(processor, "video_token_id", None)
        )
        inputs["mm_token_type_ids"] = types * attention_mask
    return inputs


def server_actor_name(replica_rank: int) -> str:
    """Name of a replica's server actor, unique per Ray job so two runs on one cluster never meet."""
    job_id = ray.get_runtime_context().get_job_id()
    return f"revisual_hf_server_{job_id}_{replica_rank}"


def sampled_token_logprobs(step_logits: torch.Tensor, tokens: torch.Tensor, temperature: float) -> torch.Tensor:
    """Log-probability of each sampled token under the temperature-scaled distribution.

    ``step_logits`` is (T, V), ``tokens`` is (T,). The trainer scores old log-probs with the same
    temperature, so the two agree up to numerics when the weights are in sync.
    """
    scale = temperature if temperature > 0 else 1.0
    logp = torch.log_softmax(step_logits.float() / scale, dim=-1)
    return logp.gather(-1, tokens.long().unsqueeze(-1)).squeeze(-1)


BATCH_WINDOW_S = 0.02
"""How long the server waits for more requests before it generates: the agent loop sends a step's
requests together, so one short wait turns them into one batched ``generate`` call."""
MAX_BATCH_ROWS = 64
"""Most sequences one ``generate`` call decodes together."""


@dataclass
class _Request:
    prompt_ids: list[int]
    sampling_params: dict[str, Any]
    image_data: Optional[list[Any]]
    future: asyncio.Future


def _sampling_key(params: dict[str, Any]) -> tuple:
    """Requests with equal keys can share one ``generate`` call."""
    return tuple(sorted((k, str(v)) for k, v in params.items() if k != "logprobs"))


def first_stop(tokens: list[int], stop_ids: set[int]) -> int:
    """Length of a generated row up to and including its first stop token (all of it when there is none);
    the rows of a batch that stop early are padded after that."""
    return next((i + 1 for i, token in enumerate(tokens) if token in stop_ids), len(tokens))


class HFRolloutServer:
    """Owns one transformers model; serves verl's token-in/token-out ``generate`` calls, batching the
    requests that arrive together (left-padded, one ``generate`` call per batch)."""

    def __init__(self, config, model_config, replica_rank: int):
        from verl_ext.cpu import enable_cpu_support

        enable_cpu_support()
        self.config = config
        self.replica_rank = replica_rank
        # verl hands a DictConfig here; HFModelConfig.local_path exists only once the dataclass is built.
        path = getattr(model_config, "local_path", None) or model_config["path"]
        _, self.model, self.tokenizer, self.processor = load_for_generation(path)
        self.suppress_tokens = suppressed_token_ids(self.tokenizer)
        self.eos_token_ids = stop_token_ids(self.model, self.tokenizer)
        seed = getattr(config, "seed", None)
        if seed is not None:
            # actor_rollout_ref.rollout.seed decides the sampling, as it does for vLLM; each replica its own stream.
            torch.manual_seed(int(seed) + int(replica_rank))
        self.global_steps: Optional[int] = None
        self._pending: list[_Request] = []
        self._drainer: Optional[asyncio.Task] = None

    async def generate(
        self,
        request_id,
        *,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        image_data: Optional[list[Any]] = None,
        video_data: Optional[list[Any]] = None,
        audio_data: Optional[list[Any]] = None,
        mm_processor_kwargs: Optional[dict[str, Any]] = None,
        **kwargs: Any,
    ) -> TokenOutput:
        if video_data:
            raise NotImplementedError("the hf rollout backend does not take videos")
        future = asyncio.get_running_loop().create_future()
        self._pending.append(_Request(list(prompt_ids), dict(sampling_params), image_data, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        token_ids, log_probs = await future
        return TokenOutput(
            token_ids=token_ids,
            log_probs=log_probs if sampling_params.get("logprobs") else None,
            stop_reason="completed",
            extra_fields={"global_steps": self.global_steps},
        )

    async def _drain(self) -> None:
        """Generate for the waiting requests, one batch of equal sampling settings at a time."""
        while self._pending:
            await asyncio.sleep(BATCH_WINDOW_S)
            key = _sampling_key(self._pending[0].sampling_params)
            batch = [r for r in self._pending if _sampling_key(r.sampling_params) == key][:MAX_BATCH_ROWS]
            for request in batch:
                self._pending.remove(request)
            try:
                # One generate call at a time: two cores gain nothing from more, and memory stays flat.
                results = await asyncio.to_thread(
                    self._generate_batch, [(r.prompt_ids, r.image_data) for r in batch], batch[0].sampling_params
                )
            except Exception as err:  # noqa: BLE001 - every waiting caller must hear about it
                for request in batch:
                    request.future.set_exception(err)
            else:
                for request, result in zip(batch, results):
                    request.future.set_result(result)

    def _generate(self, prompt_ids, sampling_params, image_data):
        """One request alone: ``(token ids, log-probs)``."""
        return self._generate_batch([(list(prompt_ids), image_data)], sampling_params)[0]

    @torch.no_grad()
    def _generate_batch(self, rows: list[tuple[list[int], Optional[list[Any]]]], sampling_params: dict[str, Any]):
        """``(token ids, log-probs)`` per ``(prompt ids, images)`` row, all sampled in one left-padded call."""
        pad = self.tokenizer.pad_token_id
        inputs = left_padded_inputs(rows, pad, self.processor)
        width = inputs["input_ids"].shape[1]
        temperature = float(sampling_params.get("temperature", 1.0))
        max_new = int(sampling_params.get("max_tokens", self.config.response_length))
        max_new = max(1, min(max_new, self.config.response_length))
        top_k = int(sampling_params.get("top_k", -1))
        do_sample = temperature > 0
        out = self.model.generate(
            **inputs,
            max_new_tokens=max_new,
            do_sample=do_sample,
            temperature=temperature if do_sample else None,
            top_p=float(sampling_params.get("top_p", 1.0)) if do_sample else None,
            top_k=top_k if (do_sample and top_k > 0) else None,
            eos_token_id=sorted(self.eos_token_ids),
            pad_token_id=pad,
            suppress_tokens=self.suppress_tokens or None,
            output_logits=True,
            return_dict_in_generate=True,
        )
        generated = out.sequences[:, width:]
        step_logits = torch.stack(out.logits, dim=1)
        results = []
        for row in range(len(rows)):
            tokens = generated[row].tolist()
            length = first_stop(tokens, self.eos_token_ids)
            log_probs = sampled_token_logprobs(step_logits[row, :length], generated[row, :length], temperature)
            results.append((tokens[:length], log_probs.tolist()))
        return results

    def update_weights(self, state_dict: dict[str, torch.Tensor]) -> int:
        """Load the trainer's weights; every tensor must land on a parameter of the rollout model."""
        result = self.model.load_state_dict(state_dict, strict=False)
        if result.unexpected_keys:
            raise RuntimeError(f"rollout model has no parameters named {result.unexpected_keys[:5]}")
        return len(state_dict)

    def set_global_steps(self, global_steps: Optional[int]) -> None:
        self.global_steps = global_steps

    # The lifecycle calls verl makes on every backend; a CPU model has no memory to release.
    async def wake_up(self, tags: Optional[list[str]] = None):
        return None

    async def sleep(self):
        return None

    async def clear_kv_cache(self):
        return None

    async def release_kv_cache(self):
        return None

    async def resume_kv_cache(self):
        return None

    async def abort_all_requests(self, reject_request: bool = False):
        return {"aborted_count": 0, "request_ids": []}

    async def resume_generation(self):
        return None

    async def wait_for_requests_to_drain(self):
        if self._drainer is not None:
            await asyncio.gather(self._drainer, return_exceptions=True)
        return None

    async def start_profile(self, **kwargs):
        return None

    async def stop_profile(self):
        return None


class HFReplica(RolloutReplica):
    """One HF server actor per replica; ``tensor_model_parallel_size`` must be 1."""

    async def launch_servers(self):
        if self.world_size != 1:
            raise ValueError(
                "the hf rollout backend runs one process per replica: set "
                "actor_rollout_ref.rollout.tensor_model_parallel_size=1 (got world size "
                f"{self.world_size})"
            )
        env_vars = {k: os.environ[k] for k in ("VERL_PLATFORM", "VERL_USE_EXTERNAL_MODULES") if k in os.environ}
        server = (
            ray.remote(HFRolloutServer)
            .options(
                name=server_actor_name(self.replica_rank),
                num_cpus=0,
                max_concurrency=self.max_concurrency,
                runtime_env={"env_vars": env_vars},
            )
            .remote(self.config, self.model_config, self.replica_rank)
        )
        await server.wait_for_requests_to_drain.remote()
        self.servers = [server]
        self._server_handle = server
        self._server_address = f"ray://{server_actor_name(self.replica_rank)}"


class HFServerAdapter(BaseRollout):
    """Lives in the actor worker and pushes the trainer's full weights to its replica's server."""

    def __init__(self, config, model_config, device_mesh, replica_rank: int = -1):
        super().__init__(config, model_config, device_mesh)
        rank = int(os.environ.get("RANK", 0))
        world = self.config.tensor_model_parallel_size * self.config.data_parallel_size
        self.replica_rank = rank // world if replica_rank == -1 else replica_rank
        self.is_replica_leader = rank % world == 0
        self._server = None

    def _server_handle(self):
        if self._server is None:
            self._server = ray.get_actor(server_actor_name(self.replica_rank))
        return self._server

    async def resume(self, tags: list[str]):
        return None

    async def release(self):
        return None

    @torch.no_grad()
    async def update_weights(self, weights, global_steps: Optional[int] = None, wire_format="named_tensors", **kwargs):
        if wire_format != "named_tensors":
            raise NotImplementedError(f"the hf rollout backend takes full tensors, not {wire_format!r}")
        # Every rank must drain the generator: producing a full tensor is a collective under FSDP.
        state = {}
        if hasattr(weights, "__aiter__"):
            async for name, tensor in weights:
                state[name] = tensor.detach().to("cpu", copy=True)
        else:
            for name, tensor in weights:
                state[name] = tensor.detach().to("cpu", copy=True)
        if self.is_replica_leader:
            server = self._server_handle()
            await server.update_weights.remote(state)
            await server.set_global_steps.remote(global_steps)
