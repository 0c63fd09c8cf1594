"""Write small, verifiable, learnable synthetic datasets in all three ReVisual stage formats.

Layout (other code depends on it)::

    DIR/mmrl/{train,val}.parquet    multimodal RL rows (PNG images drawn with Pillow)
    DIR/textrl/{train,val}.parquet  text RL rows (arithmetic, linear equations)
    DIR/sft/{train,val}.parquet     cold-start SFT rows: <think>chain</think> then \\boxed{answer}

Output is byte-identical for a given ``(seed, num_train, num_val, difficulty)``.

CLI: ``python -m data_preprocess.synthetic --out DIR --seed S [--num-train N] [--num-val N]
[--difficulty D]``.
"""

import argparse
import os
import random

from data_preprocess.schema import make_rl_record, make_sft_pair, make_sft_record, rl_schema, sft_schema
from data_preprocess.synthetic_tasks import (
    SyntheticItem,
    get_task,
    multimodal_task_names,
    text_task_names,
    think_then_box,
)
from data_preprocess.writer import ParquetRowWriter

STAGES = ("mmrl", "textrl", "sft")
SPLITS = ("train", "val")
MAX_DRAWS_PER_ROW = 200


def stage_task_names(stage: str) -> list[str]:
    """Tasks mixed (round-robin) into one stage's files."""
    if stage == "mmrl":
        return multimodal_task_names()
    if stage in ("textrl", "sft"):
        return text_task_names()
    raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")


def generate_items(
    task_names: list[str], count: int, rng: random.Random, difficulty: int, seen: set[str]
) -> list[tuple[str, SyntheticItem]]:
    """``count`` distinct ``(task_name, item)`` pairs, round-robin over ``task_names``.

    ``seen`` holds problem keys already used (e.g. by the train split); it is updated, so val
    never repeats a train problem.
    """
    items = []
    for row in range(count):
        task = get_task(task_names[row % len(task_names)])
        for _ in range(MAX_DRAWS_PER_ROW):
            item = task.generate(rng, difficulty)
            if item.key not in seen:
                break
        else:
            raise ValueError(
                f"synthetic task {task.name!r} at difficulty {difficulty} ran out of distinct problems "
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
) -> dict[str, dict[str, str]]:
    """Write every stage's train/val parquet under ``out_dir``.

    Returns ``{stage: {split: path}}`` for stages ``mmrl``, ``textrl``, ``sft`` and splits
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
            items = generate_items(stage_task_names(stage), count, rng, difficulty, seen)
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
    args = parser.parse_args(argv)
    paths = write_synthetic_datasets(args.out, args.seed, args.num_train, args.num_val, args.difficulty)
    for stage, splits in paths.items():
        for split, path in splits.items():
            print(f"{stage}/{split}: {path}")
    return paths


if __name__ == "__main__":
    main()
