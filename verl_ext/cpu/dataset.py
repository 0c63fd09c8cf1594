"""RLHFDataset whose image handling needs no torchvision.

verl's dataset hands images to ``qwen_vl_utils.process_vision_info``, and that package imports
torchvision at import time. On the CPU we decode the images with Pillow and let the model's own
image processor do the resizing (it applies the same min/max-pixel rule).
"""

from __future__ import annotations

from io import BytesIO

from PIL import Image
from verl.utils.dataset.rl_dataset import RLHFDataset


def load_pil_image(item) -> Image.Image:
    """Decode one image entry as verl's parquet stores it: a PIL image, ``{"bytes"}``, ``{"image"}`` or a path."""
    if isinstance(item, Image.Image):
        return item.convert("RGB")
    if isinstance(item, dict):
        if item.get("bytes") is not None:
            return Image.open(BytesIO(item["bytes"])).convert("RGB")
        if item.get("image") is not None:
            return load_pil_image(item["image"])
        if item.get("path"):
            return load_pil_image(item["path"])
    if isinstance(item, (bytes, bytearray)):
        return Image.open(BytesIO(item)).convert("RGB")
    if isinstance(item, str):
        return Image.open(item.removeprefix("file://")).convert("RGB")
    raise ValueError(f"cannot decode image entry of type {type(item).__name__}")


class CPURLHFDataset(RLHFDataset):
    """Images only (videos need torchvision); selected with ``data.custom_cls`` in CPU mode."""

    @classmethod
    def _process_multi_modal_info(cls, messages, image_patch_size, config):
        images = []
        for message in messages:
            content = message.get("content")
            if not isinstance(content, list):
                continue
            for part in content:
                if not isinstance(part, dict):
                    continue
                if part.get("type") == "video":
                    raise NotImplementedError("videos need torchvision, which the CPU install leaves out")
                if part.get("type") == "image":
                    images.append(load_pil_image(part.get("image", part)))
        return (images or None), None, cls._extract_audio_info(messages)

    @classmethod
    async def process_vision_info(cls, messages, image_patch_size, config):
        images, videos, _ = cls._process_multi_modal_info(messages, image_patch_size, config)
        return images, videos
