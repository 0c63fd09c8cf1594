"""Synthetic task files: layout, determinism, correct answers, and verl reading them."""

import io
import random
import re

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from data_preprocess.prompt import RL_INSTRUCTION
from data_preprocess.synthetic import generate_items, write_synthetic_datasets
from data_preprocess.synthetic_images import COLOURS, draw_digits
from data_preprocess.synthetic_tasks import arithmetic, linear_equation

LAYOUT = {
    "mmrl": ("train", "val"),
    "textrl": ("train", "val"),
    "sft": ("train", "val"),
}


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    paths = write_synthetic_datasets(str(out), seed=3, num_train=24, num_val=9, difficulty=1)
    return out, paths


def read_rows(path):
    return pq.read_table(path).to_pylist()


def decode(cell):
    return Image.open(io.BytesIO(cell["bytes"])).convert("RGB")


def test_layout_and_row_counts(synthetic_dir):
    out, paths = synthetic_dir
    assert set(paths) == set(LAYOUT)
    for stage, splits in LAYOUT.items():
        for split in splits:
            path = out / stage / f"{split}.parquet"
            assert paths[stage][split] == str(path)
            assert pq.read_metadata(path).num_rows == (24 if split == "train" else 9)


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    first = write_synthetic_datasets(str(tmp_path / "a"), seed=7, num_train=6, num_val=3)
    second = write_synthetic_datasets(str(tmp_path / "b"), seed=7, num_train=6, num_val=3)
    third = write_synthetic_datasets(str(tmp_path / "c"), seed=8, num_train=6, num_val=3)
    for stage in LAYOUT:
        for split in ("train", "val"):
            with open(first[stage][split], "rb") as a, open(second[stage][split], "rb") as b:
                assert a.read() == b.read()
    assert read_rows(first["textrl"]["train"]) != read_rows(third["textrl"]["train"])


def test_rl_rows_have_verl_columns_and_matching_placeholders(synthetic_dir):
    _, paths = synthetic_dir
    for stage, has_images in (("mmrl", True), ("textrl", False)):
        for split in ("train", "val"):
            columns = pq.read_schema(paths[stage][split]).names
            assert ("images" in columns) is has_images
            for index, row in enumerate(read_rows(paths[stage][split])):
                assert row["ability"] == "math"
                assert row["data_source"].startswith("revisual/synthetic/")
                assert row["reward_model"] == {"style": "rule", "ground_truth": row["extra_info"]["answer"]}
                assert row["extra_info"]["index"] == index
                assert row["extra_info"]["split"] == split
                [message] = row["prompt"]
                assert message["role"] == "user"
                question = row["extra_info"]["question"]
                n_images = len(row["images"]) if has_images else 0
                assert message["content"] == "<image>" * n_images + question + " " + RL_INSTRUCTION
                assert len(question) < 100


def test_images_decode_with_varied_sizes_multiple_of_28(synthetic_dir):
    _, paths = synthetic_dir
    sizes = set()
    for row in read_rows(paths["mmrl"]["train"]):
        [cell] = row["images"]
        assert cell["path"] is None
        image = decode(cell)
        assert image.width % 28 == 0 and image.height % 28 == 0
        assert 28 <= image.width <= 84 and 28 <= image.height <= 84
        sizes.add(image.size)
    assert len(sizes) > 1


def _components(image, colour):
    """4-connected blobs of exactly ``colour``."""
    pixels = image.load()
    width, height = image.size
    seen = set()
    blobs = 0
    for x in range(width):
        for y in range(height):
            if (x, y) in seen or pixels[x, y] != colour:
                continue
            blobs += 1
            stack = [(x, y)]
            seen.add((x, y))
            while stack:
                cx, cy = stack.pop()
                for nx, ny in ((cx + 1, cy), (cx - 1, cy), (cx, cy + 1), (cx, cy - 1)):
                    if 0 <= nx < width and 0 <= ny < height and (nx, ny) not in seen and pixels[nx, ny] == colour:
                        seen.add((nx, ny))
                        stack.append((nx, ny))
    return blobs


def _bar_heights(image):
    """Height of each bar, reading the bottom pixel row left to right."""
    pixels = image.load()
    width, height = image.size
    heights, x = [], 0
    while x < width:
        if pixels[x, height - 1] == (255, 255, 255):
            x += 1
            continue
        top = height - 1
        while top > 0 and pixels[x, top - 1] != (255, 255, 255):
            top -= 1
        heights.append(height - top)
        while x < width and pixels[x, height - 1] != (255, 255, 255):
            x += 1
    return heights


def test_image_answers_can_be_read_back_from_the_pixels(synthetic_dir):
    _, paths = synthetic_dir
    checked = {"count_shapes": 0, "tallest_bar": 0, "digit_sum": 0}
    for row in read_rows(paths["mmrl"]["train"]) + read_rows(paths["mmrl"]["val"]):
        task = row["data_source"].rsplit("/", 1)[1]
        image = decode(row["images"][0])
        answer = int(row["reward_model"]["ground_truth"])
        if task == "count_shapes":
            colour = next(name for name in COLOURS if name in row["extra_info"]["question"])
            assert _components(image, COLOURS[colour]) == answer
        elif task == "tallest_bar":
            heights = _bar_heights(image)
            assert heights.index(max(heights)) + 1 == answer
        else:
            assert 0 <= answer <= 18
        checked[task] += 1
    assert all(count >= 5 for count in checked.values())


def test_seven_segment_digits_are_all_distinct():
    renders = {draw_digits((28, 56), [digit]).tobytes() for digit in range(10)}
    assert len(renders) == 10


def _solve_text_question(question):
    arithmetic_match = re.search(r"(\d+) ([-+*]) (\d+)", question)
    if "x" not in question:
        a, op, b = arithmetic_match.groups()
        return {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}[op]
    a, b, c = re.search(r"(\d*)x \+ (\d+) = (-?\d+)", question).groups()
    return (int(c) - int(b)) // int(a or 1)


def test_text_answers_are_correct_and_val_never_repeats_train(synthetic_dir):
    _, paths = synthetic_dir
    train_problems = set()
    for split in ("train", "val"):
        for row in read_rows(paths["textrl"][split]):
            question = row["extra_info"]["question"]
            assert _solve_text_question(question) == int(row["reward_model"]["ground_truth"])
            problem = re.sub(r"^(What is|Compute|Calculate|Solve for x:|Find x if|What is x when) ", "", question)
            problem = problem.rstrip(".?")
            if split == "train":
                train_problems.add(problem)
            else:
                assert problem not in train_problems


def test_sft_rows_think_then_box_with_the_right_answer(synthetic_dir):
    _, paths = synthetic_dir
    for row in read_rows(paths["sft"]["train"]):
        user, assistant = row["messages"]
        assert user["role"] == "user" and assistant["role"] == "assistant"
        assert user["content"].endswith(" " + RL_INSTRUCTION)
        assert "<image>" not in user["content"]
        match = re.fullmatch(r"<think>\n(.+)\n</think>\nThe answer is \\boxed\{(-?\d+)\}\.", assistant["content"])
        assert match is not None
        question = user["content"][: -len(RL_INSTRUCTION) - 1]
        assert int(match.group(2)) == _solve_text_question(question)


def test_higher_difficulty_widens_number_ranges():
    def largest_operand(difficulty):
        rng = random.Random(0)
        items = [arithmetic(rng, difficulty) for _ in range(200)]
        return max(int(n) for item in items for n in re.findall(r"\d+", item.key))

    assert largest_operand(1) <= 10
    assert largest_operand(4) > 10


def test_too_many_rows_for_a_tiny_problem_space_is_a_clear_error():
    with pytest.raises(ValueError, match="ran out of distinct problems"):
        generate_items(["arithmetic"], 500, random.Random(0), 1, set())


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), difficulty=st.integers(1, 6))
def test_generated_text_answers_satisfy_their_problems(seed, difficulty):
    rng = random.Random(seed)
    item = arithmetic(rng, difficulty)
    assert _solve_text_question(item.question) == int(item.answer)
    equation = linear_equation(rng, difficulty)
    a, b, c = re.search(r"(\d*)x \+ (\d+) = (-?\d+)", equation.question).groups()
    assert int(a or 1) * int(equation.answer) + int(b) == int(c)


def test_verl_rlhf_dataset_reads_text_rl(synthetic_dir, tiny_tokenizer, tmp_path):
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    _, paths = synthetic_dir
    config = OmegaConf.create(
        {"max_prompt_length": 256, "filter_overlong_prompts_workers": 1, "cache_dir": str(tmp_path)}
    )
    dataset = RLHFDataset(paths["textrl"]["train"], tiny_tokenizer, config)
    assert len(dataset) == 24
    item = dataset[5]
    assert item["raw_prompt"][0]["content"].endswith(RL_INSTRUCTION)
    assert item["reward_model"]["ground_truth"] == item["extra_info"]["answer"]
    assert item["index"] == 5


def test_verl_multiturn_sft_dataset_trains_only_on_the_answer(synthetic_dir, tiny_tokenizer):
    from omegaconf import OmegaConf
    from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset

    _, paths = synthetic_dir
    dataset = MultiTurnSFTDataset(paths["sft"]["train"], tiny_tokenizer, OmegaConf.create({"max_length": 256}))
    assert len(dataset) == 24
    item = dataset[0]
    target = tiny_tokenizer.decode(item["input_ids"][item["loss_mask"].bool()])
    expected = read_rows(paths["sft"]["train"])[0]["messages"][1]["content"]
    assert target.rstrip("\n") == expected + "<|im_end|>"


def test_verl_rlhf_dataset_reads_multimodal_rl_with_the_tiny_vl_processor(synthetic_dir, tmp_path_factory):
    """Uses the teammate's torchvision-free Qwen2.5-VL pieces (verl_ext) when they are present."""
    tiny_model = pytest.importorskip("verl_ext.tiny_model")
    cpu_processor = pytest.importorskip("verl_ext.cpu.processor")
    cpu_dataset = pytest.importorskip("verl_ext.cpu.dataset")
    from omegaconf import OmegaConf
    from verl.utils import hf_processor, hf_tokenizer

    model_dir = tiny_model.build_tiny_model(tmp_path_factory.mktemp("tiny_vl") / "model")
    cpu_processor.register_torchvision_free_processor()
    tokenizer, processor = hf_tokenizer(str(model_dir)), hf_processor(str(model_dir))
    _, paths = synthetic_dir
    config = OmegaConf.create(
        {"max_prompt_length": 256, "filter_overlong_prompts_workers": 1,
         "cache_dir": str(tmp_path_factory.mktemp("cache"))}
    )
    dataset = cpu_dataset.CPURLHFDataset(paths["mmrl"]["train"], tokenizer, config, processor=processor)
    assert len(dataset) == 24  # every prompt fits the CPU default's 256-token budget
    lengths = set()
    for index in range(6):
        messages = dataset[index]["raw_prompt"]
        images, _, _ = cpu_dataset.CPURLHFDataset._process_multi_modal_info(messages, 14, config)
        assert len(images) == 1 and [part["type"] for part in messages[0]["content"]] == ["image", "text"]
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        lengths.add(len(processor(text=[text], images=images)["input_ids"][0]))
    assert len(lengths) > 1  # varied lengths avoid verl's equal-length VL batch crash


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), difficulty=st.integers(1, 3))
def test_main_job_tasks_are_answered_by_their_pixels_and_numbers(seed, difficulty):
    from collections import Counter

    from data_preprocess.synthetic_tasks import get_task

    rng = random.Random(seed)
    for name in ("fill_colour", "majority_colour", "count_squares"):
        item = get_task(name).generate(rng, difficulty)
        image = Image.open(io.BytesIO(item.images[0])).convert("RGB")
        counts = Counter(image.getdata())
        by_name = {colour: counts[rgb] for colour, rgb in COLOURS.items()}
        if name == "fill_colour":
            assert max(by_name, key=by_name.get) == item.answer
        elif name == "majority_colour":
            named = [c for c in COLOURS if c in item.question]
            assert len(named) == 2 and item.answer in named
            other = next(c for c in named if c != item.answer)
            assert by_name[item.answer] > by_name[other]
        else:
            target = next(c for c in COLOURS if c in item.question)
            assert _components(image, COLOURS[target]) == int(item.answer)
        assert item.answer in item.chain
    item = get_task("compare_numbers").generate(rng, difficulty)
    a, b = map(int, re.findall(r"\d+", item.question))
    assert int(item.answer) == max(a, b) and a != b


def test_majority_word_names_both_colours_and_answers_the_one_named_more_often():
    from data_preprocess.synthetic_tasks import get_task

    rng = random.Random(5)
    task = get_task("majority_word")
    assert not task.multimodal
    for difficulty in (1, 2):
        for _ in range(50):
            item = task.generate(rng, difficulty)
            listed = item.question.split("'")[1].split()
            first, second = item.question.rstrip("?").rsplit(", ", 1)[1].split(" or ")
            assert set(listed) <= {first, second} and item.answer in (first, second)
            assert listed.count(item.answer) > len(listed) / 2
            assert item.chain == f"{item.answer} is named more."


def test_the_cpu_defaults_text_rl_files_fit_the_majority_word_problem_space(tmp_path):
    from pathlib import Path

    from verl_ext.cpu_default import CPU_DEFAULT

    paths = write_synthetic_datasets(str(tmp_path), num_train=CPU_DEFAULT.num_train, num_val=CPU_DEFAULT.num_val,
                                     tasks=CPU_DEFAULT.tasks)
    assert Path(paths["textrl"]["val"]).is_file()
