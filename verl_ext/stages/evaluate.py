"""A stage's model before and after training, on the stage's validation set, scored by the project's reward.

    python -m verl_ext.stages.evaluate --stage 2 --model BEFORE_DIR --model AFTER_DIR --out val_acc.json \\
        [--samples 8] [--max-items 64] [-- hydra overrides of the stage...]

Per model it reports two accuracies over the validation items:

* ``greedy``: one greedy answer per item;
* ``sampled``: the mean over ``--samples`` answers per item, drawn at the stage's rollout temperature
  and top-p (what the RL stages train on).

Everything runs in this process with transformers' ``generate`` on the merged Hugging Face folders;
the prompts are built by verl's own dataset class and its rollout tokenizer (the continuous-token
builder the agent loop uses), and every answer is scored by ``reward_fns.score_answer``, the
accuracy term the training reward reports as ``acc``. Where the stage's config says how long a
response may be and how the rollout samples, the evaluation uses the same values (composed from the
stage's config and overrides, as its launch composes them). Meant for small models: a CPU tiny
model takes seconds; a 7B model on thousands of items belongs in ``revisual_eval``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_SAMPLES = 8
DEFAULT_MAX_ITEMS = 64


@dataclass(frozen=True)
class GenerationSettings:
    """How the evaluation generates: the stage's own response length and rollout sampling."""

    max_new_tokens: int
    """``data.max_response_length`` of the RL recipe."""
    temperature: float
    """``actor_rollout_ref.rollout.temperature``: the sampled accuracy's temperature."""
    top_p: float
    """``actor_rollout_ref.rollout.top_p``."""
    samples: int = DEFAULT_SAMPLES
    """Answers drawn per item for the sampled accuracy."""
    seed: int = 0
    """Seed of the sampling; the same seed gives the same draws for the same model."""

    def __post_init__(self):
        if self.max_new_tokens < 1 or self.samples < 1 or self.temperature <= 0 or not 0 < self.top_p <= 1:
            raise ValueError(
                "evaluation needs max_new_tokens >= 1, samples >= 1, temperature > 0 and 0 < top_p <= 1, got "
                f"{self.max_new_tokens}, {self.samples}, {self.temperature}, {self.top_p}"
            )


@dataclass(frozen=True)
class ValItem:
    """One validation question: the prompt messages (structured, as verl's dataset builds them), its images
    and the gold answer."""

    messages: list
    images: list
    ground_truth: str
    choices: list | None = None
    data_source: str = ""


# ----------------------------------------------------------------------------- reading the validation set
def _tiny_dataset_config(cache_dir: Path, prompt_key: str, max_prompt_length: int):
    from omegaconf import OmegaConf

    return OmegaConf.create({
        "prompt_key": prompt_key, "image_key": "images", "max_prompt_length": max_prompt_length,
        "filter_overlong_prompts": False, "cache_dir": str(cache_dir), "return_raw_chat": True,
    })


def read_val_items(parquet: str | os.PathLike, tokenizer, processor, *, max_items: int | None = None,
                   max_prompt_length: int = 8192) -> list[ValItem]:
    """The first ``max_items`` rows of a validation parquet as :class:`ValItem` s.

    An RL file (``prompt`` + ``reward_model.ground_truth``) keeps its prompt; an SFT file (``messages``
    ending with the assistant's reference answer) is asked the conversation up to that answer, and its
    gold answer is the reference's final (boxed) answer.
    """
    import tempfile

    import pyarrow.parquet as pq

    from reward_fns import gold_answer
    from verl_ext.cpu.dataset import CPURLHFDataset

    columns = pq.read_schema(parquet).names
    is_sft = "prompt" not in columns and "messages" in columns
    if not is_sft and "prompt" not in columns:
        raise ValueError(f"{parquet}: a validation file needs a 'prompt' (RL) or 'messages' (SFT) column, has {columns}")
    with tempfile.TemporaryDirectory(prefix="revisual-eval-") as cache:
        config = _tiny_dataset_config(Path(cache), "messages" if is_sft else "prompt", max_prompt_length)
        dataset = CPURLHFDataset(str(parquet), tokenizer, config, processor=processor)
        count = len(dataset) if max_items is None else min(max_items, len(dataset))
        items = []
        for index in range(count):
            row = dataset[index]
            messages = list(row["raw_prompt"])
            if is_sft:
                if not messages or messages[-1].get("role") != "assistant":
                    raise ValueError(f"{parquet}, row {index}, field 'messages': the last turn must be the assistant's answer")
                reference = messages.pop()["content"]
                ground_truth = gold_answer(reference if isinstance(reference, str) else str(reference))
                choices = None
            else:
                try:
                    ground_truth = str(row["reward_model"]["ground_truth"])
                except (KeyError, TypeError):
                    raise ValueError(f"{parquet}, row {index}, field 'reward_model.ground_truth' is missing") from None
                extra = row.get("extra_info") or {}
                choices = [str(c) for c in extra["choices"]] if isinstance(extra.get("choices"), (list, tuple)) else None
            images, _, _ = CPURLHFDataset._process_multi_modal_info(messages, 14, config)
            items.append(ValItem(messages, list(images or []), ground_truth, choices, str(row.get("data_source", ""))))
    return items


# ----------------------------------------------------------------------------- generating and scoring
class ModelUnderTest:
    """One merged Hugging Face folder, loaded for generation, with the rollout's prompt tokenizer."""

    def __init__(self, path: str | os.PathLike):
        from verl.utils.tokenizer.continuous_token_wiring import create_continuous_token_builder

        from verl_ext.cpu.hf_rollout import load_for_generation, stop_token_ids, suppressed_token_ids

        self.path = str(path)
        hf_config, self.model, self.tokenizer, self.processor = load_for_generation(self.path)
        self.builder = create_continuous_token_builder(self.tokenizer, hf_model_type=hf_config.model_type,
                                                       processor=self.processor)
        # As the CPU rollout generates: no vision placeholders in an answer, the same stop tokens.
        self.suppress = suppressed_token_ids(self.tokenizer) or None
        self.eos = sorted(stop_token_ids(self.model, self.tokenizer))

    def batch_inputs(self, items: list[ValItem]) -> dict:
        """Left-padded generation inputs for ``items`` (one row each), built as the rollout builds a prompt
        and with the rollout's inputs (image tokens on the M-RoPE grid, as the actor sees them)."""
        from verl_ext.cpu.hf_rollout import left_padded_inputs

        rows = [(list(self.builder.build_initial_tokens(item.messages, images=item.images or None)), item.images)
                for item in items]
        return left_padded_inputs(rows, self.tokenizer.pad_token_id, self.processor)

    def answers(self, items: list[ValItem], gen: GenerationSettings, *, greedy: bool) -> list[str]:
        """One answer per item, greedy or sampled at the rollout's temperature and top-p."""
        import torch

        inputs = self.batch_inputs(items)
        sampling = {} if greedy else {"temperature": gen.temperature, "top_p": gen.top_p}
        with torch.no_grad():
            out = self.model.generate(
                **inputs, max_new_tokens=gen.max_new_tokens, do_sample=not greedy, eos_token_id=self.eos,
                pad_token_id=self.tokenizer.pad_token_id, suppress_tokens=self.suppress, **sampling,
            )
        new = out[:, inputs["input_ids"].shape[1]:]
        return self.tokenizer.batch_decode(new, skip_special_tokens=True)


def score(response: str, item: ValItem) -> float:
    """The training reward's accuracy (``acc``) of one answer."""
    from reward_fns import score_answer

    return float(score_answer(response, item.ground_truth, choices=item.choices).acc)


BATCH_ROWS = 32
"""Sequences generated together (left-padded); the tiny models answer a whole validation set in seconds."""


def _scores(model: ModelUnderTest, items: list[ValItem], gen: GenerationSettings, greedy: bool, progress=None) -> list[float]:
    rows = items if greedy else [item for item in items for _ in range(gen.samples)]
    scores = []
    for start in range(0, len(rows), BATCH_ROWS):
        chunk = rows[start:start + BATCH_ROWS]
        scores += [score(text, item) for text, item in zip(model.answers(chunk, gen, greedy=greedy), chunk)]
        if progress is not None:
            progress.update(len(chunk))
    return scores


def accuracy(model: ModelUnderTest, items: list[ValItem], gen: GenerationSettings, label: str = "evaluation") -> dict:
    """``{"greedy": mean acc, "sampled": mean acc over gen.samples draws, "items": n, "samples": k}``."""
    import torch

    from verl_ext.progress import Progress

    if not items:
        raise ValueError("the validation set is empty")
    torch.manual_seed(gen.seed)
    # Minutes per model on a CPU: answers done out of all (greedy, then the sampled draws), with an ETA.
    with Progress(label, len(items) * (1 + gen.samples), "answers") as progress:
        greedy = _scores(model, items, gen, greedy=True, progress=progress)
        sampled = _scores(model, items, gen, greedy=False, progress=progress)
    return {"greedy": sum(greedy) / len(items), "sampled": sum(sampled) / len(sampled),
            "items": len(items), "samples": gen.samples}


def evaluate_models(paths: list[str | os.PathLike], val_file: str | os.PathLike, gen: GenerationSettings,
                    max_items: int | None = DEFAULT_MAX_ITEMS) -> list[dict]:
    """:func:`accuracy` of each model folder on the same validation items."""
    from verl_ext.cpu.processor import register_torchvision_free_processor

    register_torchvision_free_processor()  # Qwen2.5-VL's stock processor needs torchvision
    results = []
    items = None
    for number, path in enumerate(paths, start=1):
        model = ModelUnderTest(path)
        if items is None:
            items = read_val_items(val_file, model.tokenizer, model.processor, max_items=max_items)
        label = f"evaluating model {number} of {len(paths)} ({Path(path).parent.name}/{Path(path).name})"
        results.append({"model": str(path), **accuracy(model, items, gen, label)})
        del model
    return results


# ----------------------------------------------------------------------------- the stage's settings
def stage_settings(stage: int, overrides: list[str]) -> tuple[str, GenerationSettings, str | None]:
    """``(validation file, generation settings, the config's model path)`` of a pipeline stage, composed as
    its launch composes it.

    The RL stages read their own ``data.val_files``, ``data.max_response_length`` and rollout sampling;
    stage 1 (SFT) has no rollout, so its model is asked as stage 2 will ask it (stage 2's response length
    and sampling) on stage 1's own validation file.
    """
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    import verl_ext
    from verl_ext.stages.text_rl import stage3_argv
    from verl_ext.trainer.main import choose_device, prepare_process_environment

    config_dir = str(Path(verl_ext.__file__).parent / "config")

    def composed(name: str, argv: list[str], group: str = "device_profile"):
        argv = prepare_process_environment(list(argv), profile_group=group)
        with initialize_config_dir(config_dir=config_dir, version_base=None):
            return compose(config_name=name, overrides=argv)

    if stage == 1:
        sft = composed("revisual_stage1", overrides, "sft_profile")
        val, model = sft.data.val_files, sft.model.path
        rl = composed("revisual_stage2", [])
    elif stage == 2:
        rl = composed("revisual_stage2", overrides)
        val, model = rl.data.val_files, rl.actor_rollout_ref.model.path
    elif stage == 3:
        rl = composed("revisual_stage3", stage3_argv(overrides, choose_device(overrides))[2:])
        val, model = rl.data.val_files, rl.actor_rollout_ref.model.path
    else:
        raise ValueError(f"stage must be 1, 2 or 3, got {stage}")
    if OmegaConf.is_list(val) or isinstance(val, (list, tuple)):
        val = list(val)[0]
    if not val:
        raise ValueError(f"stage {stage} has no data.val_files to evaluate on")
    rollout = rl.actor_rollout_ref.rollout
    gen = GenerationSettings(max_new_tokens=int(rl.data.max_response_length), temperature=float(rollout.temperature),
                             top_p=float(rollout.top_p))
    return str(val), gen, (str(model) if model else None)


def _finite(value: float) -> float:
    return round(value, 4) if math.isfinite(value) else value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", type=int, required=True, choices=(1, 2, 3))
    parser.add_argument("--model", action="append", default=[], help="a merged HF folder (repeat for several)")
    parser.add_argument("--config-model", action="store_true",
                        help="evaluate the stage config's own model.path first (stage 1's base model)")
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES)
    parser.add_argument("--max-items", type=int, default=DEFAULT_MAX_ITEMS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("overrides", nargs="*", help="the stage's Hydra overrides (after --)")
    args = parser.parse_args(argv)
    val_file, gen, config_model = stage_settings(args.stage, args.overrides)
    gen = GenerationSettings(gen.max_new_tokens, gen.temperature, gen.top_p, samples=args.samples, seed=args.seed)
    models = ([config_model] if args.config_model else []) + args.model
    if not models or None in models:
        parser.error("name at least one --model (or --config-model, with a model.path in the stage config)")
    if os.environ.get("REVISUAL_DEVICE") == "cpu":
        from verl_ext.trainer.main import ensure_cpu_assets

        ensure_cpu_assets(Path(os.environ["REVISUAL_CACHE"]))  # the CPU default's val files and base model
    results = evaluate_models(models, val_file, gen, max_items=args.max_items)
    payload = {"stage": args.stage, "val_file": val_file, "generation": asdict(gen),
               "results": [{k: _finite(v) if isinstance(v, float) else v for k, v in r.items()} for r in results]}
    text = json.dumps(payload, indent=2)
    if args.out:
        from verl_ext.stages.outputs import write_json_atomic

        write_json_atomic(args.out, payload)
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
