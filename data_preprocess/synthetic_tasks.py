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
    chain = f"I count the {target} shapes one by one: there are {n_target}."
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
    chain = f"There are {n_bars} bars; comparing their heights, bar {tallest} from the left is the tallest."
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
    if a == 1:
        chain = f"x = {c} - {b} = {x}."
    else:
        chain = f"{a}x = {c} - {b} = {c - b}, so x = {c - b} / {a} = {x}."
    return SyntheticItem(f"linear_equation:{equation}", question, str(x), chain)


def multimodal_task_names() -> list[str]:
    """Names of the image tasks, in registration order."""
    return [name for name, spec in TASKS.items() if spec.multimodal]


def text_task_names() -> list[str]:
    """Names of the text-only tasks, in registration order."""
    return [name for name, spec in TASKS.items() if not spec.multimodal]


def think_then_box(item: SyntheticItem) -> str:
    """Cold-start style response: a short chain inside think tags, then the boxed answer."""
    return f"<think>\n{item.chain}\n</think>\nThe answer is \\boxed{{{item.answer}}}."
