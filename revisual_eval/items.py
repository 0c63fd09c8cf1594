"""What one benchmark item is, independent of the file it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

ImageRef = Union[bytes, Path]
"""An image as encoded bytes (parquet HF Image) or as a file on disk (JSON layouts)."""


@dataclass
class EvalItem:
    """One question of a benchmark, ready to prompt and to score.

    ``reference`` holds everything scoring needs (gold answer, option list and order, answer type,
    precision, grouping keys); it is copied into every generated row so a run can be re-scored
    without the data.
    """

    benchmark: str
    id: str
    prompt: str
    reference: dict[str, Any]
    images: list[ImageRef] = field(default_factory=list)


def load_image(ref: ImageRef):
    """A PIL RGB image from bytes or a path."""
    import io

    from PIL import Image

    if isinstance(ref, (bytes, bytearray)):
        image = Image.open(io.BytesIO(ref))
    else:
        image = Image.open(ref)
    image.load()
    return image.convert("RGB")
