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
import tempfile
from pathlib import Path

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

# A few kilobytes of the text the synthetic tasks and prompts use, so BPE merges are useful.
_CORPUS = [
    "You FIRST think about the reasoning process as an internal monologue and then provide the final answer.",
    "The reasoning process MUST BE enclosed within <think> </think> tags. The final answer MUST BE put in \\boxed{}.",
    "How many red circles are in the image? How many blue squares? Which bar is the tallest?",
    "What is the sum of the two digits shown in the image? Compute 12 + 35 - 7 * 3 / 4.",
    "Solve for x: 3x + 5 = 20. The answer is \\boxed{5}. Let me think step by step.",
    "<think> count the shapes, add the numbers, check the result </think> \\boxed{42}",
    "red green blue yellow purple orange circle square triangle bar chart digit number",
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


# Shapes of the random model. "cpu" trains in seconds on 2 cores. "gpu" is the smallest shape that
# vLLM and flash-attn take as they are: head dims of 64 (text and vision), bf16-friendly widths.
# mrope_section must sum to head_dim / 2.
SIZES = {
    "cpu": dict(text_hidden=64, head_dim=32, intermediate=128, kv_heads=1, mrope_section=[4, 6, 6],
                vision_hidden=32, vision_heads=2, vision_intermediate=64),
    "gpu": dict(text_hidden=256, head_dim=64, intermediate=512, kv_heads=2, mrope_section=[8, 12, 12],
                vision_hidden=128, vision_heads=2, vision_intermediate=256),
}  # fmt: skip


def build_config(tokenizer, size: str = "cpu"):
    """A Qwen2.5-VL config of one of :data:`SIZES` (``cpu``: ~0.2 M parameters)."""
    from transformers import Qwen2_5_VLConfig

    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    shape = SIZES[size]
    ids = tokenizer.convert_tokens_to_ids
    text_hidden = shape["text_hidden"]
    return Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=text_hidden,
            intermediate_size=shape["intermediate"],
            num_hidden_layers=2,
            num_attention_heads=text_hidden // shape["head_dim"],
            num_key_value_heads=shape["kv_heads"],
            max_position_embeddings=4096,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": shape["mrope_section"]},
            bos_token_id=ids("<|endoftext|>"),
            eos_token_id=ids("<|im_end|>"),
            pad_token_id=ids("<|endoftext|>"),
            tie_word_embeddings=False,
        ),
        vision_config=dict(
            depth=2,
            hidden_size=shape["vision_hidden"],
            intermediate_size=shape["vision_intermediate"],
            num_heads=shape["vision_heads"],
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            window_size=112,
            out_hidden_size=text_hidden,
            fullatt_block_indexes=[1],
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


def build_tiny_model(
    out_dir: str | os.PathLike, seed: int = 0, warm_start_sft: str | os.PathLike | None = None, size: str = "cpu"
) -> Path:
    """Write a complete HF model folder (config, weights, tokenizer, processor) of shape ``size`` to ``out_dir``.

    With ``warm_start_sft`` the random model is first fitted to the answer format (:func:`warm_start`).
    The folder is written to a temporary sibling and renamed into place, so a crash never
    leaves a half-written model that a later run would take for a complete one.
    """
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    out = Path(out_dir).expanduser().resolve()
    if (out / "config.json").exists() and (out / "model.safetensors").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))

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
    if warm_start_sft is not None:
        warm_start(tmp, warm_start_sft, seed=seed)
    if out.exists():
        # An incomplete folder from an interrupted build: replace it.
        import shutil

        shutil.rmtree(out)
    os.replace(tmp, out)
    return out


def warm_start(model_dir: str | os.PathLike, sft_parquet: str | os.PathLike, steps: int = 150, seed: int = 0) -> dict:
    """Teach the random model the answer format on the synthetic cold-start data, in place.

    A random model never closes ``\\boxed{}``, so every rollout scores 0 and GRPO has nothing to
    learn from. A few seconds of supervised steps (the paper's cold start in miniature) give it the
    think-then-box format and a guessing accuracy, so the CPU RL default gets real reward variance.
    Returns the first and last training losses. The folder is rewritten atomically.
    """
    import pyarrow.parquet as pq
    import torch
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    model_dir = Path(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, attn_implementation="sdpa", dtype=torch.float32)
    rows = pq.read_table(sft_parquet, columns=["messages"]).column("messages").to_pylist()
    examples = []
    for messages in rows:
        prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=False)
        full = tokenizer.apply_chat_template(messages, tokenize=False)
        prompt_len = len(tokenizer(prompt)["input_ids"])
        ids = tokenizer(full)["input_ids"]
        labels = [-100] * prompt_len + ids[prompt_len:]
        examples.append((ids, labels))
    gen = torch.Generator().manual_seed(seed)
    optim = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for _ in range(steps):
        batch = [examples[i] for i in torch.randint(len(examples), (16,), generator=gen).tolist()]
        width = max(len(ids) for ids, _ in batch)
        pad = tokenizer.pad_token_id
        input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in batch])
        labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in batch])
        attention = (torch.arange(width)[None, :] < torch.tensor([len(i) for i, _ in batch])[:, None]).long()
        loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        loss.backward()
        optim.step()
        optim.zero_grad()
        losses.append(loss.item())
    model.eval()
    model.save_pretrained(model_dir)
    return {"first_loss": losses[0], "last_loss": losses[-1]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output model folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warm-start", metavar="SFT_PARQUET", help="fit the answer format on this SFT parquet")
    parser.add_argument("--size", choices=sorted(SIZES), default="cpu", help="cpu (default) or gpu (vLLM/flash-attn shapes)")
    args = parser.parse_args(argv)
    path = build_tiny_model(args.out, seed=args.seed, warm_start_sft=args.warm_start, size=args.size)
    print(f"tiny Qwen2.5-VL model written to {path}")


if __name__ == "__main__":
    main()
