"""Small Pillow drawings for the synthetic multimodal tasks.

Sides are multiples of 28 (Qwen2.5-VL merges 2x2 patches of 14 px), so the processor never has
to resize them; the mix of sizes gives VL batches different sequence lengths.
"""

import io
import random

from PIL import Image, ImageDraw

SIDE_CHOICES = (28, 56, 84)
BACKGROUND = (255, 255, 255)
COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 170, 60),
    "blue": (40, 70, 220),
    "yellow": (235, 200, 20),
}
CELL = 14
TILE = 28
"""Side of the image area one Qwen2.5-VL image token covers (2x2 patches of 14 px)."""

# Seven-segment layout: segment -> (x0, y0, x1, y1) in a 4x7 unit box.
_SEGMENT_BOXES = {
    "a": (0, 0, 4, 1),
    "b": (3, 0, 4, 4),
    "c": (3, 3, 4, 7),
    "d": (0, 6, 4, 7),
    "e": (0, 3, 1, 7),
    "f": (0, 0, 1, 4),
    "g": (0, 3, 4, 4),
}
_DIGIT_SEGMENTS = {
    0: "abcdef", 1: "bc", 2: "abged", 3: "abgcd", 4: "fgbc",
    5: "afgcd", 6: "afgedc", 7: "abc", 8: "abcdefg", 9: "abcdfg",
}


def random_canvas_size(rng: random.Random) -> tuple[int, int]:
    """(width, height), each drawn from :data:`SIDE_CHOICES`."""
    return rng.choice(SIDE_CHOICES), rng.choice(SIDE_CHOICES)


def to_png_bytes(image: Image.Image) -> bytes:
    """Deterministic PNG encoding (no timestamps or text chunks)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def draw_shapes(size: tuple[int, int], shapes: list[tuple[int, str, str]]) -> Image.Image:
    """Draw ``(cell_index, colour_name, kind)`` shapes, one per 14x14 grid cell.

    ``kind`` is ``"square"`` or ``"circle"``; cells are numbered row-major.
    """
    width, height = size
    columns = width // CELL
    image = Image.new("RGB", size, BACKGROUND)
    pen = ImageDraw.Draw(image)
    for cell, colour, kind in shapes:
        x0 = (cell % columns) * CELL + 2
        y0 = (cell // columns) * CELL + 2
        box = (x0, y0, x0 + CELL - 5, y0 + CELL - 5)
        if kind == "circle":
            pen.ellipse(box, fill=COLOURS[colour])
        else:
            pen.rectangle(box, fill=COLOURS[colour])
    return image


def draw_bars(size: tuple[int, int], heights: list[int], colour: str = "blue") -> Image.Image:
    """Vertical bar chart with bars of the given pixel heights, evenly spaced from the left."""
    width, height = size
    image = Image.new("RGB", size, BACKGROUND)
    pen = ImageDraw.Draw(image)
    slot = width // len(heights)
    bar_width = max(2, slot - 3)
    for position, bar_height in enumerate(heights):
        x0 = position * slot + 1
        pen.rectangle((x0, height - bar_height, x0 + bar_width - 1, height - 1), fill=COLOURS[colour])
    return image


def draw_digits(size: tuple[int, int], digits: list[int], colour: str = "red") -> Image.Image:
    """Digits in seven-segment style, side by side, scaled to fill the canvas."""
    width, height = size
    image = Image.new("RGB", size, BACKGROUND)
    pen = ImageDraw.Draw(image)
    slot = width // len(digits)
    unit = max(1, min((slot - 4) // 4, (height - 4) // 7))
    top = (height - 7 * unit) // 2
    for position, digit in enumerate(digits):
        left = position * slot + (slot - 4 * unit) // 2
        for segment in _DIGIT_SEGMENTS[digit]:
            x0, y0, x1, y1 = _SEGMENT_BOXES[segment]
            pen.rectangle(
                (left + x0 * unit, top + y0 * unit, left + x1 * unit - 1, top + y1 * unit - 1),
                fill=COLOURS[colour],
            )
    return image


def draw_block(size: tuple[int, int], box: tuple[int, int, int, int], colour: str) -> Image.Image:
    """One filled rectangle ``(x0, y0, x1, y1)`` (inclusive) on a white canvas."""
    image = Image.new("RGB", size, BACKGROUND)
    ImageDraw.Draw(image).rectangle(box, fill=COLOURS[colour])
    return image


def draw_split(size: tuple[int, int], split: int, left: str, right: str) -> Image.Image:
    """Columns ``[0, split)`` in ``left``, the rest in ``right``."""
    width, height = size
    image = Image.new("RGB", size, COLOURS[right])
    ImageDraw.Draw(image).rectangle((0, 0, split - 1, height - 1), fill=COLOURS[left])
    return image


def draw_tiles(size: tuple[int, int], tiles: list[tuple[int, str]]) -> Image.Image:
    """A square inset in each ``(tile_index, colour_name)`` tile of a :data:`TILE`-pixel grid, row-major."""
    width, _ = size
    columns = width // TILE
    image = Image.new("RGB", size, BACKGROUND)
    pen = ImageDraw.Draw(image)
    for tile, colour in tiles:
        x0, y0 = (tile % columns) * TILE, (tile // columns) * TILE
        pen.rectangle((x0 + 2, y0 + 2, x0 + TILE - 3, y0 + TILE - 3), fill=COLOURS[colour])
    return image
