"""Write small, verifiable, learnable synthetic datasets in all three ReVisual stage formats.

Layout (other code depends on it)::

    DIR/mmrl/{train,val}.parquet    multimodal RL rows (PNG images drawn with Pillow)
    DIR/textrl/{train,val}.parquet  text RL rows (by default arithmetic, linear equations)
    DIR/sft/{train,val}.parquet     cold-start SFT rows: <think>chain</think> then \\boxed{answer}

Output is byte-identical for a given ``(seed, num_train, num_val, difficulty, tasks)``.

CLI: ``python -m data_preprocess.synthetic --out DIR --seed S [--num-train N] [--num-val N]
[--difficulty D] [--mmrl-tasks fill_colour,digit_sum:3] [--textrl-tasks ...] [--sft-tasks ...]``.
"""

import argparse
import os
import random
from collections.abc import Mapping, Sequence

from data_preprocess.schema import make_rl_record, make_sft_pair, make_sft_record, rl_schema, sft_schema
from data_preprocess.synthetic_tasks import (
    SyntheticItem,
    get_task,
    think_then_box,
)
from data_preprocess.writer import ParquetRowWriter

STAGES = ("mmrl", "textrl", "sft")
SPLITS = ("train", "val")
MAX_DRAWS_PER_ROW = 200


DEFAULT_STAGE_TASKS: dict[str, tuple[str, ...]] = {
    "mmrl": ("count_shapes", "tallest_bar", "digit_sum"),
    "textrl": ("arithmetic", "linear_equation"),
    "sft": ("arithmetic", "linear_equation"),
}
"""Each stage's task mix when none is given: the image tasks for multimodal RL, the text tasks for the rest."""


def parse_task_spec(spec: str, difficulty: int) -> tuple[str, int]:
    """``"name"`` or ``"name:D"`` -> ``(name, difficulty)``; the bare name takes ``difficulty``."""
    name, sep, level = spec.partition(":")
    if sep:
        if not level.isdigit() or int(level) < 1:
            raise ValueError(f"task spec {spec!r}: the difficulty after ':' must be an integer >= 1")
        difficulty = int(level)
    get_task(name)  # a clear error listing the known names
    return name, difficulty


def stage_task_names(stage: str, tasks: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """Task specs mixed (round-robin) into one stage's files: ``tasks[stage]`` or the default mix.

    A spec is a task name, optionally with its own difficulty (``"digit_sum:3"``); repeating a spec
    weights it (``["fill_colour", "fill_colour", "digit_sum:3"]`` is two easy rows per hard one).
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
    specs = list((tasks or {}).get(stage) or DEFAULT_STAGE_TASKS[stage])
    for spec in specs:
        name = spec.partition(":")[0]
        if get_task(name).multimodal != (stage == "mmrl"):
            kind = "an image" if get_task(name).multimodal else "a text-only"
            raise ValueError(f"task {name!r} is {kind} task and cannot go into the {stage} files")
    return specs


def generate_items(
    task_names: list[str], count: int, rng: random.Random, difficulty: int, seen: set[str]
) -> list[tuple[str, SyntheticItem]]:
    """``count`` distinct ``(task_name, item)`` pairs, round-robin over ``task_names``.

    ``task_names`` are specs as in :func:`stage_task_names` (``"name"`` at ``difficulty`` or
    ``"name:D"``). ``seen`` holds problem keys already used (e.g. by the train split); it is updated,
    so val never repeats a train problem.
    """
    items = []
    for row in range(count):
        name, level = parse_task_spec(task_names[row % len(task_names)], difficulty)
        task = get_task(name)
        for _ in range(MAX_DRAWS_PER_ROW):
            item = task.generate(rng, level)
            if item.key not in seen:
                break
        else:
            raise ValueError(
                f"synthetic task {task.name!r} at difficulty {level} ran out of distinct problems "
                f"after {row} rows; raise --difficulty or ask for fewer rows"
            )
        seen.add(item.key)
        items.append((task.name, item))
    return items


def _write_stage_split(stage: str, split: str, items, path: str) -> None:
    with_images = stage == "mmrl"
    schema = sft_schema() if stage == "sft" else rl_schema(with_images=with_images)
    with ParquetRowWriter(path, schema) as writer:
        for index, (task_name, item) in enumerate(items):
            data_source = get_task(task_name).data_source
            if stage == "sft":
                messages = make_sft_pair(question=item.question, response=think_then_box(item))
                writer.write(make_sft_record(data_source=data_source, messages=messages, index=index, split=split))
            else:
                writer.write(
                    make_rl_record(
                        data_source=data_source,
                        question=item.question,
                        answer=item.answer,
                        index=index,
                        split=split,
                        images=list(item.images) if with_images else None,
                    )
                )


def write_synthetic_datasets(
    out_dir: str,
    seed: int = 0,
    num_train: int = 64,
    num_val: int = 16,
    difficulty: int = 1,
    tasks: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, dict[str, str]]:
    """Write every stage's train/val parquet under ``out_dir``.

    ``tasks`` maps a stage to its task specs (:func:`stage_task_names`); a stage it leaves out
    keeps :data:`DEFAULT_STAGE_TASKS`. Returns ``{stage: {split: path}}`` for stages ``mmrl``, ``textrl``, ``sft`` and splits
    ``train``, ``val``.
    """
    if difficulty < 1:
        raise ValueError(f"difficulty must be >= 1, got {difficulty}")
    if num_train < 1 or num_val < 0:
        raise ValueError(f"need num_train >= 1 and num_val >= 0, got {num_train} and {num_val}")
    paths: dict[str, dict[str, str]] = {}
    for stage in STAGES:
        seen: set[str] = set()
        paths[stage] = {}
        for split, count in zip(SPLITS, (num_train, num_val)):
            # String seeds hash with SHA-512 in CPython, so each stream is stable across runs.
            rng = random.Random(f"revisual-synthetic:{seed}:{stage}:{split}")
            items = generate_items(stage_task_names(stage, tasks), count, rng, difficulty, seen)
            path = os.path.join(out_dir, stage, f"{split}.parquet")
            _write_stage_split(stage, split, items, path)
            paths[stage][split] = path
    return paths


def main(argv: list[str] | None = None) -> dict[str, dict[str, str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-train", type=int, default=64, help="rows per stage in train.parquet")
    parser.add_argument("--num-val", type=int, default=16, help="rows per stage in val.parquet")
    parser.add_argument("--difficulty", type=int, default=1, help="1 = easiest; widens ranges and counts")
    for stage in STAGES:
        parser.add_argument(f"--{stage}-tasks", help=f"comma-separated task specs (name or name:difficulty); "
                            f"default {','.join(DEFAULT_STAGE_TASKS[stage])}")
    args = parser.parse_args(argv)
    tasks = {stage: getattr(args, f"{stage}_tasks").split(",") for stage in STAGES if getattr(args, f"{stage}_tasks")}
    paths = write_synthetic_datasets(args.out, args.seed, args.num_train, args.num_val, args.difficulty, tasks)
    for stage, splits in paths.items():
        for split, path in splits.items():
            print(f"{stage}/{split}: {path}")
    return paths


if __name__ == "__main__":
    main()
