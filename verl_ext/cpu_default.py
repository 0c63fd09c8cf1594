"""The CPU default's assets: the synthetic task files and the warm-started tiny model, built once per recipe.

    <cache>/data/{mmrl,textrl,sft}/{train,val}.parquet   the synthetic tasks (data_preprocess.synthetic)
    <cache>/tiny-qwen25vl/                              the tiny Qwen2.5-VL after its warm start
    <cache>/assets.json                                 the recipe both were built from

The recipe is chosen so that the main job shows learning within minutes on 2 cores: the tiny model's
warm start leaves the tasks half-learned, the tasks carry a signal a model this small can pick up (see
docs/pipeline.md). When the recipe changes, a cache built from an older one is rebuilt, never reused.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from verl_ext.tiny_model import TinySize, WarmStart, build_tiny_model

RECIPE_FILE = "assets.json"
MODEL_DIR = "tiny-qwen25vl"
DATA_DIR = "data"


@dataclass(frozen=True)
class AssetRecipe:
    """Everything the CPU default's data and model are built from."""

    tasks: dict = field(default_factory=lambda: {
        "mmrl": ["fill_colour", "majority_colour", "count_squares"],
        # The text twin of majority_colour, which the warm start half teaches (below). Comparing and adding
        # numbers stay near 0.05 for a model this small, and text RL had nothing to move.
        "textrl": ["majority_word"],
        "sft": ["compare_numbers", "arithmetic"],
    })
    """Task specs per stage file (``data_preprocess.synthetic.stage_task_names``)."""
    num_train: int = 256
    """Rows per stage in each train file."""
    num_val: int = 64
    """Rows per stage in each val file: what the before/after evaluation scores."""
    difficulty: int = 1
    """Default difficulty of the task specs."""
    data_seed: int = 0
    """Seed of the task files."""
    size: TinySize = TinySize()
    """The tiny model's sizes."""
    warm: WarmStart = WarmStart(steps=120, tasks=("fill_colour", "majority_colour", "count_squares",
                                                 "compare_numbers", "arithmetic", "majority_word"))
    """The tiny model's warm start (a stream of fresh problems of these tasks, not the task files).

    ``majority_word`` is in it because without it the model never reads a text question: after the warm start
    on the image tasks alone it answered every ``majority_word`` item with the same colour, and stage 3 had no
    signal to sharpen. With it, 120 steps leave the text task half learned (greedy 0.52, sampled 0.31 on the
    64 validation items), as the image tasks are."""
    name: str = "cpu_default"
    """Who owns a cache built from this recipe: the launcher keeps a cache whose recipe has another name
    (an experiment's own assets, e.g. the stagnation demo's) and rebuilds only its own when it changes."""
    version: int = 3
    """Raised whenever a change outside these fields (a task's generator, the tokenizer) changes the assets."""

    def to_json(self) -> dict:
        # Through JSON and back, so tuples compare equal to the lists a stored recipe reads back as.
        return json.loads(json.dumps(asdict(self)))


CPU_DEFAULT = AssetRecipe()


def build_assets(cache: Path, recipe: AssetRecipe = CPU_DEFAULT, keep_other_owners: bool = False) -> Path:
    """Build (or keep) the data and the model of ``recipe`` under ``cache``; returns the model folder.

    A cache whose ``assets.json`` holds another recipe (or none: built before recipes were recorded)
    is rebuilt, except, with ``keep_other_owners``, a complete cache built from a recipe of another
    :attr:`AssetRecipe.name` (the launcher passes it, so a run on an experiment's own assets uses them).
    The recipe file is written last, so an interrupted build is redone on the next call.
    """
    from data_preprocess.synthetic import write_synthetic_datasets

    cache = Path(cache)
    wanted = recipe.to_json()
    try:
        current = json.loads((cache / RECIPE_FILE).read_text())
    except (FileNotFoundError, ValueError):
        current = None
    model = cache / MODEL_DIR
    complete = (model / "model.safetensors").exists()
    if complete and current is not None and (
            current == wanted or (keep_other_owners and current.get("name") != recipe.name)):
        return model
    from verl_ext.progress import PREFIX

    why = ("not built yet" if current is None else "the last build was interrupted" if current == wanted
           else "the cache holds another recipe's")
    print(f"{PREFIX} building the {recipe.name} assets (synthetic data, tiny model, {recipe.warm.steps}-step warm "
          f"start) under {cache} ({why})", flush=True)
    (cache / RECIPE_FILE).unlink(missing_ok=True)
    for stale in (cache / DATA_DIR, model):
        if stale.exists():
            shutil.rmtree(stale)
    write_synthetic_datasets(str(cache / DATA_DIR), seed=recipe.data_seed, num_train=recipe.num_train,
                             num_val=recipe.num_val, difficulty=recipe.difficulty, tasks=recipe.tasks)
    build_tiny_model(model, size=recipe.size, warm=recipe.warm)
    from verl_ext.stages.outputs import write_json_atomic

    write_json_atomic(cache / RECIPE_FILE, wanted)
    return model
