"""Build a tiny Qwen2.5-VL-architecture model with random weights and an offline tokenizer.

This is the model behind the CPU default and the tests: the real Qwen2.5-VL code paths
(vision tower, M-RoPE, image placeholders, chat template) at a size that trains in seconds.
Nothing is downloaded: the byte-level BPE tokenizer is trained here on a small built-in corpus.

    python -m verl_ext.tiny_model --out ~/.cache/revisual/tiny-qwen25vl
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path

from verl_ext.tempdirs import built_in_place, remove_stale_siblings

# Qwen's special tokens, in Qwen's order, so prompts look like the real model's.
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
# Added as ordinary (non-special) tokens so they survive skip_special_tokens decoding,
# which the reward's format check needs.
THINK_TOKENS = ["<think>", "</think>", "<answer>", "</answer>"]

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' or 'image' in part %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'video' or 'video' in part %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# A few kilobytes of the text the synthetic tasks, their prompts and their answers use, so BPE merges
# are useful: a whole think-then-box answer of every synthetic task fits the CPU default's 32 tokens.
_CORPUS = [
    "You FIRST think about the reasoning process step by step as an internal monologue and then provide the final answer.",
    "The reasoning process MUST BE enclosed within <think> </think> tags. The final answer MUST BE put in \\boxed{}.",
    "How many red circles are in the image? How many blue squares? Which bar is the tallest?",
    "How many green shapes are there? Count the yellow shapes in the image. How many shapes in the picture are red?",
    "Which bar is the tallest? Give its position from the left, starting at 1.",
    "Counting bars from the left starting at 1, which one is tallest?",
    "What is the sum of the two digits in the image? Add the two digits shown.",
    "The image shows two digits. What do they add up to?",
    "What is 12 + 35? Compute 7 * 3. Calculate 20 - 4. Solve for x: 3x + 5 = 20. Find x if x + 2 = 9.",
    "What is x when 2x + 4 = 10?",
    "<think>\nI count 3 red shapes.\n</think>\nThe answer is \\boxed{3}.",
    "<think>\nI count 2 blue shapes.\n</think>\nThe answer is \\boxed{2}.",
    "<think>\nOf 4 bars, bar 2 is the tallest.\n</think>\nThe answer is \\boxed{2}.",
    "<think>\nThe digits are 4 and 5. 4 + 5 = 9.\n</think>\nThe answer is \\boxed{9}.",
    "<think>\n12 + 35 = 47.\n</think>\nThe answer is \\boxed{47}.",
    "<think>\nx = 9 - 2 = 7.\n</think>\nThe answer is \\boxed{7}.",
    "<think>\n3x = 15, so x = 5.\n</think>\nThe answer is \\boxed{5}.",
    "red green blue yellow purple orange circle square triangle bar chart digit number shapes bars digits",
    "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 + - * / = ( ) { } [ ] . , ? !",
    "A B C D E Option answer question problem image figure diagram value total",
]


def build_tokenizer(out_dir: str | os.PathLike, vocab_size: int = 512):
    """Train a byte-level BPE tokenizer offline and save it as a Qwen-like fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
    )
    fast.add_tokens(THINK_TOKENS)
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out_dir)
    return fast


HEAD_DIM = 32
"""Attention head width of the CPU shape; Qwen2.5-VL's mrope_section must sum to half the head width."""


@dataclass(frozen=True)
class TinySize:
    """The shape of the tiny Qwen2.5-VL. The defaults are the CPU default's: big enough that a short
    warm start leaves the synthetic tasks half-learned and GRPO can lift them in a few dozen steps,
    small enough that an RL step takes seconds on 2 cores."""

    text_hidden: int = 128
    """Hidden size of the language model (a multiple of ``head_dim``)."""
    text_layers: int = 2
    """Decoder layers."""
    text_intermediate: int = 256
    """MLP width of each decoder layer."""
    head_dim: int = HEAD_DIM
    """Attention head width of the language model."""
    kv_heads: int = 1
    """Key/value heads (grouped-query attention)."""
    mrope_section: tuple[int, int, int] = (4, 6, 6)
    """M-RoPE split of the rotary dimensions (temporal, height, width); sums to ``head_dim / 2``."""
    vision_hidden: int = 32
    """Hidden size of the vision tower."""
    vision_heads: int = 2
    """Attention heads of the vision tower."""
    vision_depth: int = 2
    """Vision blocks (the last one uses full attention, as in Qwen2.5-VL)."""

    def __post_init__(self):
        if self.text_hidden % self.head_dim or min(self.text_layers, self.text_intermediate, self.vision_hidden,
                                                   self.vision_depth, self.kv_heads, self.vision_heads) < 1:
            raise ValueError(f"text_hidden must be a multiple of head_dim and every size >= 1, got {self}")
        if sum(self.mrope_section) * 2 != self.head_dim:
            raise ValueError(f"mrope_section must sum to head_dim / 2, got {self.mrope_section} for {self.head_dim}")


# "gpu" is the smallest shape that vLLM and flash-attn take as they are: head dims of 64 (text and
# vision), bf16-friendly widths.
SIZES = {
    "cpu": TinySize(),
    "gpu": TinySize(text_hidden=256, text_intermediate=512, head_dim=64, kv_heads=2, mrope_section=(8, 12, 12),
                    vision_hidden=128),
}


def resolve_size(size: "TinySize | str") -> TinySize:
    if isinstance(size, TinySize):
        return size
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)} or a TinySize, got {size!r}")
    return SIZES[size]


def build_config(tokenizer, size: "TinySize | str" = "cpu"):
    """A Qwen2.5-VL config of shape ``size`` (``cpu``: about 0.5 M parameters)."""
    from transformers import Qwen2_5_VLConfig

    size = resolve_size(size)
    ids = tokenizer.convert_tokens_to_ids
    return Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=size.text_hidden,
            intermediate_size=size.text_intermediate,
            num_hidden_layers=size.text_layers,
            num_attention_heads=size.text_hidden // size.head_dim,
            num_key_value_heads=size.kv_heads,
            max_position_embeddings=4096,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": list(size.mrope_section)},
            bos_token_id=ids("<|endoftext|>"),
            eos_token_id=ids("<|im_end|>"),
            pad_token_id=ids("<|endoftext|>"),
            tie_word_embeddings=False,
        ),
        vision_config=dict(
            depth=size.vision_depth,
            hidden_size=size.vision_hidden,
            intermediate_size=2 * size.vision_hidden,
            num_heads=size.vision_heads,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            window_size=112,
            out_hidden_size=size.text_hidden,
            fullatt_block_indexes=[size.vision_depth - 1],
        ),
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=False,
    )


def build_image_processor_config() -> dict:
    """Qwen2-VL image-processor settings with a small pixel budget (images of at most 8x8 patches)."""
    return {
        "image_processor_type": "Qwen2VLImageProcessor",
        "processor_class": "Qwen2_5_VLProcessor",
        "do_resize": True,
        "do_rescale": True,
        "do_normalize": True,
        "do_convert_rgb": True,
        "rescale_factor": 1 / 255,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "patch_size": 14,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "min_pixels": 28 * 28,
        "max_pixels": 112 * 112,
    }


@dataclass(frozen=True)
class WarmStart:
    """A miniature of the base model's own training, so that RL starts from a model that half knows the tasks.

    The real recipe starts from Qwen2.5-VL-7B-Instruct, which already reads images and answers questions;
    a random tiny model does neither, never closes ``\\boxed{}`` and scores 0, and GRPO then has nothing to
    learn from. A short supervised fit on freshly generated synthetic problems of every task (image and
    text; a stream of its own, not the RL files) gives it the think-then-box format and partial skill:
    stopped early on purpose, so that sampled accuracy sits in the middle, where RL has room to move.
    """

    steps: int = 150
    """Optimizer steps (AdamW)."""
    batch_size: int = 16
    """Problems per step."""
    lr: float = 3e-3
    """Learning rate (constant)."""
    tasks: tuple[str, ...] | None = None
    """Synthetic task names to draw from; None = every registered task."""
    difficulty: int = 1
    """Difficulty of the generated problems."""
    seed: int = 0
    """Seed of the problem stream and the batch order."""
    wrong_answer_frac: float = 0.0
    """Share of the examples whose worked answer is replaced by another problem's answer of the same task.

    A base model that has seen a task but is unsure of it puts part of its probability on wrong answers;
    a noisy teacher gives the tiny model that shape (the right answer most likely, wrong ones often
    sampled), which is what RL with verifiable rewards sharpens."""

    def __post_init__(self):
        if self.steps < 0 or self.batch_size < 1 or self.lr <= 0 or not 0.0 <= self.wrong_answer_frac < 1.0:
            raise ValueError(f"WarmStart needs steps >= 0, batch_size >= 1, lr > 0 and "
                             f"0 <= wrong_answer_frac < 1, got {self}")


def build_tiny_model(out_dir: str | os.PathLike, seed: int = 0, size: "TinySize | str" = "cpu",
                     warm: WarmStart | None = None) -> Path:
    """Write a complete HF model folder (config, weights, tokenizer, processor) to ``out_dir``.

    With ``warm`` the random model is first fitted to the synthetic tasks (:func:`warm_start`).
    The folder is written to a temporary sibling and renamed into place, so a crash never
    leaves a half-written model that a later run would take for a complete one.
    """
    out = Path(out_dir).expanduser().resolve()
    if (out / "config.json").exists() and (out / "model.safetensors").exists():
        remove_stale_siblings(out.parent, f"{out.name}.")  # a later build that was interrupted
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    # An interrupted build left its folder here: removed now, and this one is removed if it fails.
    with built_in_place(out, f"{out.name}.") as tmp:
        _write_tiny_model(tmp, seed, size, warm)
    return out


def _write_tiny_model(tmp: Path, seed: int, size: "TinySize | str", warm: WarmStart | None) -> None:
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    tokenizer = build_tokenizer(tmp)
    config = build_config(tokenizer, size)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).to(torch.float32)
    model.generation_config = GenerationConfig(
        eos_token_id=config.text_config.eos_token_id,
        pad_token_id=config.text_config.pad_token_id,
        do_sample=True,
    )
    model.save_pretrained(tmp)
    (tmp / "preprocessor_config.json").write_text(json.dumps(build_image_processor_config(), indent=2))
    (tmp / "processor_config.json").write_text(json.dumps({"processor_class": "Qwen2_5_VLProcessor"}, indent=2))
    (tmp / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    if warm is not None:
        warm_start(tmp, warm)


def _user_parts(content: str) -> list[dict]:
    """A user turn whose ``<image>`` placeholders become image parts, as verl's dataset builds them."""
    from data_preprocess.prompt import IMAGE_PLACEHOLDER

    parts: list[dict] = []
    for index, text in enumerate(content.split(IMAGE_PLACEHOLDER)):
        if index:
            parts.append({"type": "image"})
        if text:
            parts.append({"type": "text", "text": text})
    return parts


def with_wrong_answer(item, rng, difficulty: int, task, attempts: int = 20):
    """``item`` answered (chain and box) with the answer of another problem of the same task; ``item`` itself
    when no other answer turns up in ``attempts`` draws."""
    from dataclasses import replace

    for _ in range(attempts):
        other = task.generate(rng, difficulty).answer
        if other != item.answer:
            head, found, tail = item.chain.rpartition(item.answer)
            chain = head + other + tail if found else item.chain
            return replace(item, answer=other, chain=chain)
    return item


def warm_start_examples(rng, count: int, tasks: tuple[str, ...] | None = None, difficulty: int = 1,
                        wrong_answer_frac: float = 0.0) -> list[tuple]:
    """``count`` fresh ``(messages, PIL images, answer)`` examples in the RL prompt format, tasks drawn at random;
    a ``wrong_answer_frac`` share of them carries another problem's answer (:class:`WarmStart`)."""
    from io import BytesIO

    from PIL import Image

    from data_preprocess.prompt import build_user_content
    from data_preprocess.synthetic_tasks import TASKS, get_task, think_then_box

    names = list(tasks or TASKS)
    examples = []
    for _ in range(count):
        task = get_task(rng.choice(names))
        item = task.generate(rng, difficulty)
        if wrong_answer_frac and rng.random() < wrong_answer_frac:
            item = with_wrong_answer(item, rng, difficulty, task)
        messages = [
            {"role": "user", "content": _user_parts(build_user_content(item.question, len(item.images)))},
            {"role": "assistant", "content": think_then_box(item)},
        ]
        images = [Image.open(BytesIO(data)).convert("RGB") for data in item.images]
        examples.append((messages, images, item.answer))
    return examples


def _supervised_batch(processor, examples):
    """Token ids, attention mask, pixel inputs and labels (the answer turn only) of a right-padded batch."""
    import torch

    tokenizer = processor.tokenizer
    texts = [tokenizer.apply_chat_template(messages, tokenize=False) for messages, _, _ in examples]
    images = [image for _, example_images, _ in examples for image in example_images]
    batch = processor(text=texts, images=images or None, padding=True, return_tensors="pt")
    labels = batch["input_ids"].clone()
    start = tokenizer.convert_tokens_to_ids("<|im_start|>")
    header = len(tokenizer("assistant\n")["input_ids"])
    for row in range(labels.shape[0]):
        answer_from = int(torch.nonzero(batch["input_ids"][row] == start).max()) + 1 + header
        labels[row, :answer_from] = -100
    labels[batch["attention_mask"] == 0] = -100
    return {**batch, "labels": labels}


def warm_start(model_dir: str | os.PathLike, recipe: WarmStart = WarmStart()) -> dict:
    """Fit the model in ``model_dir`` to the synthetic tasks (see :class:`WarmStart`), in place.

    Returns the mean training loss of the first and of the last tenth of the steps.
    """
    import random

    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from verl_ext.cpu.processor import register_torchvision_free_processor

    register_torchvision_free_processor()
    model_dir = Path(model_dir)
    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, attn_implementation="sdpa", dtype=torch.float32)
    rng = random.Random(f"revisual-warm-start:{recipe.seed}")
    torch.manual_seed(recipe.seed)
    optim = torch.optim.AdamW(model.parameters(), lr=recipe.lr)
    model.train()
    losses = []
    from verl_ext.progress import Progress

    # Minutes on a loaded 2-core machine: the bar (or a line every 25 s in a log) shows it moves.
    with Progress("tiny model warm start", recipe.steps, "steps") as progress:
        for _ in range(recipe.steps):
            batch = _supervised_batch(processor, warm_start_examples(rng, recipe.batch_size, recipe.tasks, recipe.difficulty,
                                                            recipe.wrong_answer_frac))
            loss = model(**batch).loss
            loss.backward()
            optim.step()
            optim.zero_grad()
            losses.append(loss.item())
            progress.update(1)
    model.eval()
    model.save_pretrained(model_dir)
    tenth = max(1, len(losses) // 10)
    return {"first_loss": sum(losses[:tenth]) / tenth, "last_loss": sum(losses[-tenth:]) / tenth}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output model folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warm-start-steps", type=int, default=0,
                        help="fit the synthetic tasks for this many steps first (0: random weights)")
    parser.add_argument("--size", choices=sorted(SIZES), default="cpu", help="cpu (default) or gpu (vLLM/flash-attn shapes)")
    args = parser.parse_args(argv)
    warm = WarmStart(steps=args.warm_start_steps, seed=args.seed) if args.warm_start_steps > 0 else None
    path = build_tiny_model(args.out, seed=args.seed, size=args.size, warm=warm)
    print(f"tiny Qwen2.5-VL model written to {path}")


if __name__ == "__main__":
    main()
