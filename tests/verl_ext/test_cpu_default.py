"""The CPU default's assets: a cache is rebuilt when its own recipe changes, an experiment's cache is
kept by the launcher, and the warm start's noisy-teacher option gives wrong but well-formed answers."""

import json
import os
import random
from dataclasses import replace

import pytest

from verl_ext.cpu_default import CPU_DEFAULT, RECIPE_FILE, build_assets
from verl_ext.tiny_model import WarmStart, with_wrong_answer

# Small enough to build in a few seconds: a handful of rows, two warm-start steps.
SMALL = replace(CPU_DEFAULT, num_train=8, num_val=4, warm=replace(CPU_DEFAULT.warm, steps=2, batch_size=2))


def stamp(cache):
    return os.stat(cache / "tiny-qwen25vl" / "model.safetensors").st_mtime_ns


def test_own_recipe_change_rebuilds_and_an_experiments_cache_is_kept(tmp_path, capsys):
    own, experiment = tmp_path / "own", tmp_path / "experiment"
    build_assets(own, SMALL)
    # A build says so (it is the one silent minute of a first run otherwise); a kept cache says nothing.
    assert capsys.readouterr().out.startswith(f"[revisual] building the cpu_default assets (synthetic data, tiny model, "
                                              f"2-step warm start) under {own} (not built yet)\n")
    first = stamp(own)
    assert build_assets(own, SMALL) and stamp(own) == first  # same recipe: kept
    assert capsys.readouterr().out == ""
    changed = replace(SMALL, num_val=5)
    build_assets(own, changed)
    assert "(the cache holds another recipe's)\n" in capsys.readouterr().out
    assert stamp(own) != first and json.loads((own / RECIPE_FILE).read_text())["num_val"] == 5

    demo = replace(SMALL, name="some_experiment", num_train=6)
    build_assets(experiment, demo)
    kept = stamp(experiment)
    # What the stage launchers call: another owner's complete cache is used as it is ...
    build_assets(experiment, SMALL, keep_other_owners=True)
    assert stamp(experiment) == kept and json.loads((experiment / RECIPE_FILE).read_text())["name"] == "some_experiment"
    # ... but without the flag (an explicit build of the CPU default) it is replaced.
    build_assets(experiment, SMALL)
    assert json.loads((experiment / RECIPE_FILE).read_text())["name"] == "cpu_default"


def test_wrong_answer_is_another_answer_of_the_same_task_in_chain_and_box():
    from data_preprocess.synthetic_tasks import get_task, think_then_box

    rng = random.Random(3)
    for name in ("fill_colour", "count_squares", "compare_numbers", "arithmetic"):
        task = get_task(name)
        item = task.generate(rng, 1)
        wrong = with_wrong_answer(item, rng, 1, task)
        assert wrong.answer != item.answer and wrong.question == item.question and wrong.images == item.images
        assert wrong.chain.rpartition(wrong.answer)[0] == item.chain.rpartition(item.answer)[0]
        assert think_then_box(wrong).endswith(f"\\boxed{{{wrong.answer}}}.")


def test_warm_start_settings_check_their_values():
    import pytest

    with pytest.raises(ValueError, match="wrong_answer_frac"):
        WarmStart(wrong_answer_frac=1.0)
    with pytest.raises(ValueError):
        WarmStart(steps=-1)


@pytest.mark.e2e
def test_the_warm_started_model_reads_the_text_question():
    """Stage 3 (text RL) can only sharpen what the model conditions on. A warm start on the image tasks
    alone gave a model that answered every ``majority_word`` item with the same colour (named in the
    question or not: 47 % of its answers were one of the two options), and stage 3 had no signal to
    learn from. The warm start that includes the task: all four colours, 86 % one of the two options."""
    import re

    from reward_fns import extract_answer
    from verl_ext.devices import default_cache_dir
    from verl_ext.stages.evaluate import GenerationSettings, ModelUnderTest, read_val_items

    cache = default_cache_dir()
    model = ModelUnderTest(build_assets(cache, keep_other_owners=True))
    items = read_val_items(cache / "data" / "textrl" / "val.parquet", model.tokenizer, model.processor, max_items=64)
    answers = [extract_answer(text) for text in
               model.answers(items, GenerationSettings(max_new_tokens=32, temperature=1.0, top_p=1.0), greedy=True)]
    options = [re.search(r", (\w+) or (\w+)\?", str(item.messages[-1]["content"])).groups() for item in items]
    named = sum(answer in pair for answer, pair in zip(answers, options)) / len(items)
    assert len(set(answers)) >= 3 and named >= 0.7, (sorted(set(map(str, answers))), named)
