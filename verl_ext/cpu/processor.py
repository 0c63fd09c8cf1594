"""A Qwen2.5-VL processor that works without torchvision.

transformers 5.10 builds Qwen2.5-VL's processor with a *video* processor, and that one imports
torchvision. torchvision cannot be installed beside the CPU build of torch (its wheel is a CUDA
build), so on a CPU machine the stock processor fails to load and verl silently continues
without one. This subclass keeps the class name (verl dispatches on it) and drops videos.
"""

from __future__ import annotations

import importlib.util

from transformers import AutoProcessor, Qwen2_5_VLConfig
from transformers.models.qwen2_5_vl import processing_qwen2_5_vl
from transformers.processing_utils import ProcessorMixin


class Qwen2_5_VLProcessor(processing_qwen2_5_vl.Qwen2_5_VLProcessor):  # noqa: N801 (verl matches this name)
    """Images and text only; videos raise a clear error."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        self.image_token = getattr(tokenizer, "image_token", "<|image_pad|>")
        self.video_token = getattr(tokenizer, "video_token", "<|video_pad|>")
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    def __call__(self, images=None, text=None, videos=None, **kwargs):
        if videos is not None:
            raise NotImplementedError("videos need torchvision, which the CPU install leaves out")
        return super().__call__(images=images, text=text, **kwargs)


def register_torchvision_free_processor() -> bool:
    """Make AutoProcessor build the class above for Qwen2.5-VL checkpoints, where torchvision is missing.

    Checkpoints name their processor class in ``preprocessor_config.json`` and AutoProcessor resolves
    that name as an attribute of ``transformers.models.qwen2_5_vl``, so the class is put there too.
    Returns whether the swap was made.
    """
    if importlib.util.find_spec("torchvision") is not None:
        return False
    import transformers.models.qwen2_5_vl as qwen2_5_vl_module

    AutoProcessor.register(Qwen2_5_VLConfig, Qwen2_5_VLProcessor, exist_ok=True)
    setattr(qwen2_5_vl_module, "Qwen2_5_VLProcessor", Qwen2_5_VLProcessor)
    return True
