"""Verifiable synthetic tasks, registered by name like verl's ``core_algos`` registries.

Each generator takes ``(rng, difficulty)`` and returns a :class:`SyntheticItem`. ``difficulty`` is
an integer >= 1: it widens number ranges and adds shapes/bars, so a tiny model can start on
difficulty 1. ``key`` identifies the underlying problem (not its wording) for deduplication.
"""

import hashlib
import random
from dataclasses import dataclass, field
from typing import Callable

from data_preprocess import synthetic_images as draw

DATA_SOURCE_PREFIX = "revisual/synthetic/"


@dataclass(frozen=True)
class SyntheticItem:
    """One generated problem with its answer and a short worked solution."""

    key: str
    question: str
    answer: str
    chain: str
    images: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    multimodal: bool
    generate: Callable[[random.Random, int], SyntheticItem]

    @property
    def data_source(self) -> str:
        return DATA_SOURCE_PREFIX + self.name


TASKS: dict[str, TaskSpec] = {}


def register_task(name: str, multimodal: bool):
    """Decorator that adds a generator to :data:`TASKS`."""

    def decorator(fn):
        if name in TASKS:
            raise ValueError(f"synthetic task {name!r} is already registered")
        TASKS[name] = TaskSpec(name=name, multimodal=multimodal, generate=fn)
        return fn

    return decorator


def get_task(name: str) -> TaskSpec:
    """Look a task up by name, listing the known names on a miss."""
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown synthetic task {name!r}; known: {sorted(TASKS)}") from None


def _image_key(prefix: str, images: list[bytes]) -> str:
    digest = hashlib.sha1(b"".join(images)).hexdigest()[:16]
    return f"{prefix}:{digest}"


@register_task("count_shapes", multimodal=True)
def count_shapes(rng: random.Random, difficulty: int) -> SyntheticItem:
    """Count the shapes of one colour among distractors of other colours."""
    size = draw.random_canvas_size(rng)
    cells = (size[0] // draw.CELL) * (size[1] // draw.CELL)
    target = rng.choice(sorted(draw.COLOURS))
    others = [c for c in sorted(draw.COLOURS) if c != target][: min(3, difficulty)]
    n_target = rng.randint(1, min(cells, 2 + difficulty))
    n_other = rng.randint(0, min(cells - n_target, difficulty + 1))
    chosen_cells = rng.sample(range(cells), n_target + n_other)
    kinds = ("square", "circle")
    shapes = [(cell, target, rng.choice(kinds)) for cell in chosen_cells[:n_target]]
    shapes += [(cell, rng.choice(others), rng.choice(kinds)) for cell in chosen_cells[n_target:]]
    png = draw.to_png_bytes(draw.draw_shapes(size, shapes))
    question = rng.choice(
        [
            f"How many {target} shapes are there?",
            f"Count the {target} shapes in the image.",
            f"How many shapes in the picture are {target}?",
        ]
    )
    chain = f"I count {n_target} {target} shapes."
    return SyntheticItem(_image_key("count_shapes", [png]), question, str(n_target), chain, [png])


@register_task("tallest_bar", multimodal=True)
def tallest_bar(rng: random.Random, difficulty: int) -> SyntheticItem:
    """Give the 1-based position of the tallest bar in a bar chart."""
    size = draw.random_canvas_size(rng)
    width, height = size
    n_bars = rng.randint(2, max(2, min(2 + difficulty, width // 7)))
    heights = rng.sample(range(max(3, height // 8), height - 2), n_bars)
    tallest = heights.index(max(heights)) + 1
    colour = rng.choice(sorted(draw.COLOURS))
    png = draw.to_png_bytes(draw.draw_bars(size, heights, colour))
    question = rng.choice(
        [
            "Which bar is the tallest? Give its position from the left, starting at 1.",
            "Counting bars from the left starting at 1, which one is tallest?",
        ]
    )
    chain = f"Of {n_bars} bars, bar {tallest} is the tallest."
    return SyntheticItem(_image_key("tallest_bar", [png]), question, str(tallest), chain, [png])


@register_task("digit_sum", multimodal=True)
def digit_sum(rng: random.Random, difficulty: int) -> SyntheticItem:
    """Add the two digits drawn in the image."""
    size = draw.random_canvas_size(rng)
    high = min(9, 2 + 3 * difficulty)
    digits = [rng.randint(0, high), rng.randint(0, high)]
    colour = rng.choice(sorted(draw.COLOURS))
    png = draw.to_png_bytes(draw.draw_digits(size, digits, colour))
    question = rng.choice(
        [
            "What is the sum of the two digits in the image?",
            "Add the two digits shown.",
            "The image shows two digits. What do they add up to?",
        ]
    )
    total = sum(digits)
    chain = f"The digits are {digits[0]} and {digits[1]}. {digits[0]} + {digits[1]} = {total}."
    return SyntheticItem(_image_key("digit_sum", [png]), question, str(total), chain, [png])


@register_task("fill_colour", multimodal=True)
def fill_colour(rng: random.Random, difficulty: int) -> SyntheticItem:
    """Name the colour of a large block that covers most of the image (an easy, image-wide cue)."""
    size = draw.random_canvas_size(rng)
    colour = rng.choice(sorted(draw.COLOURS))
    width, height = size
    box = (rng.randint(0, width // 4), rng.randint(0, height // 4),
           rng.randint(3 * width // 4, width - 1), rng.randint(3 * height // 4, height - 1))
    png = draw.to_png_bytes(draw.draw_block(size, box, colour))
    question = rng.choice(["What colour is the image?", "Which colour fills the picture?"])
    chain = f"The image is {colour}."
    return SyntheticItem(_image_key("fill_colour", [png]), question, colour, chain, [png])


@register_task("majority_colour", multimodal=True)
def majority_colour(rng: random.Random, difficulty: int) -> SyntheticItem:
    """Which of two colours, left and right of a vertical split, covers more of the image.

    Higher difficulty allows splits closer to the middle (a smaller difference to see).
    """
    width, height = rng.choice((56, 84)), rng.choice(draw.SIDE_CHOICES)
    left, right = rng.sample(sorted(draw.COLOURS), 2)
    margin = max(1, width // (4 * difficulty))
    splits = [x for x in range(4, width - 3) if abs(2 * x - width) >= 2 * margin]
    split = rng.choice(splits)
    png = draw.to_png_bytes(draw.draw_split((width, height), split, left, right))
    answer = left if 2 * split > width else right
    first, second = sorted((left, right), key=lambda _: rng.random())
    question = f"Which colour covers more of the image, {first} or {second}?"
    chain = f"{answer} covers more."
    return SyntheticItem(_image_key("majority_colour", [png]), question, answer, chain, [png])


@register_task("count_squares", multimodal=True)
def count_squares(rng: random.Random, difficulty: int) -> SyntheticItem:
    """Count big squares of one colour, one per 28-pixel tile (one image token of Qwen2.5-VL each);
    from difficulty 2 on, squares of other colours are mixed in."""
    width, height = rng.choice(((84, 84), (56, 84), (84, 56)))
    tiles = (width // draw.TILE) * (height // draw.TILE)
    target = rng.choice(sorted(draw.COLOURS))
    n_target = rng.randint(1, min(tiles, 2 + difficulty))
    n_other = rng.randint(0, min(tiles - n_target, difficulty - 1))
    chosen = rng.sample(range(tiles), n_target + n_other)
    others = [c for c in sorted(draw.COLOURS) if c != target]
    colours = [target] * n_target + [rng.choice(others) for _ in range(n_other)]
    png = draw.to_png_bytes(draw.draw_tiles((width, height), list(zip(chosen, colours))))
    question = rng.choice([f"How many {target} squares are there?", f"Count the {target} squares."])
    chain = f"I count {n_target} {target} squares."
    return SyntheticItem(_image_key("count_squares", [png]), question, str(n_target), chain, [png])


@register_task("arithmetic", multimodal=False)
def arithmetic(rng: random.Random, difficulty: int) -> SyntheticItem:
    """``a op b`` with op in + and - (and * from difficulty 2); results stay non-negative."""
    high = 10 * difficulty
    op = rng.choice("+-*" if difficulty >= 2 else "+-")
    a, b = rng.randint(0, high), rng.randint(0, high)
    if op == "-" and a < b:
        a, b = b, a
    if op == "*":
        b = rng.randint(0, 3 * difficulty)
    value = {"+": a + b, "-": a - b, "*": a * b}[op]
    expression = f"{a} {op} {b}"
    question = rng.choice([f"What is {expression}?", f"Compute {expression}.", f"Calculate {expression}."])
    chain = f"{expression} = {value}."
    return SyntheticItem(f"arithmetic:{expression}", question, str(value), chain)


@register_task("compare_numbers", multimodal=False)
def compare_numbers(rng: random.Random, difficulty: int) -> SyntheticItem:
    """The larger of two different numbers up to ``20 * difficulty``."""
    a, b = rng.sample(range(0, 20 * difficulty + 1), 2)
    question = rng.choice([f"Which is larger, {a} or {b}?", f"Which number is bigger: {a} or {b}?"])
    larger = max(a, b)
    return SyntheticItem(f"compare_numbers:{min(a, b)}:{larger}", question, str(larger), f"{larger} is larger.")


@register_task("linear_equation", multimodal=False)
def linear_equation(rng: random.Random, difficulty: int) -> SyntheticItem:
    """Solve ``a x + b = c`` for an integer ``x``."""
    low = 0 if difficulty == 1 else -5 * difficulty
    x = rng.randint(low, 5 * difficulty)
    a = rng.randint(1, 1 + 2 * difficulty)
    b = rng.randint(0, 10 * difficulty)
    c = a * x + b
    lhs = f"{a}x" if a != 1 else "x"
    equation = f"{lhs} + {b} = {c}"
    question = rng.choice([f"Solve for x: {equation}.", f"Find x if {equation}.", f"What is x when {equation}?"])
    chain = f"x = {c} - {b} = {x}." if a == 1 else f"{a}x = {c - b}, so x = {x}."
    return SyntheticItem(f"linear_equation:{equation}", question, str(x), chain)


@register_task("majority_word", multimodal=False)
def majority_word(rng: random.Random, difficulty: int) -> SyntheticItem:
    """Which of two colour words is named more often in a short list: the text twin of ``majority_colour``
    (same question shape and chain), so a model warm-started on that image task half knows this one.
    The list has ``3 + 2 * difficulty`` words at most; higher difficulty allows a margin of one."""
    first, second = rng.sample(sorted(draw.COLOURS), 2)
    length = rng.choice(range(3, 4 + 2 * difficulty, 2))  # odd: there is always a majority
    more = rng.randint(length // 2 + 1, length if difficulty == 1 else length - 1)
    answer, other = (first, second) if rng.random() < 0.5 else (second, first)
    words = [answer] * more + [other] * (length - more)
    rng.shuffle(words)
    listed = " ".join(words)
    question = f"Which colour is named more often in '{listed}', {first} or {second}?"
    chain = f"{answer} is named more."
    return SyntheticItem(f"majority_word:{listed}:{first}:{second}", question, answer, chain)


def multimodal_task_names() -> list[str]:
    """Names of the image tasks, in registration order."""
    return [name for name, spec in TASKS.items() if spec.multimodal]


def text_task_names() -> list[str]:
    """Names of the text-only tasks, in registration order."""
    return [name for name, spec in TASKS.items() if not spec.multimodal]


def think_then_box(item: SyntheticItem) -> str:
    """Cold-start style response: a short chain inside think tags, then the boxed answer.

    The chains are kept short so that a whole response fits the CPU default's 32-token budget
    (``data.max_response_length``) with the tiny model's tokenizer: a cut-off answer has no box and
    scores 0, whatever the model knew.
    """
    return f"<think>\n{item.chain}\n</think>\nThe answer is \\boxed{{{item.answer}}}."
