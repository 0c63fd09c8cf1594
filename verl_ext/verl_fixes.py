"""Fixes for verl 0.9.1 bugs that hit ReVisual on any device (CPU and GPU alike).

1. Text-only micro-batches on Qwen2/2.5-VL crash (on GPUs as on the CPU). verl's patched
   ``_get_input_embeds`` runs the vision tower on a dummy image when a micro-batch has no pixels
   (so FSDP's collectives see the same parameters on every rank), then calls ``.mean()`` on the
   tower's output; transformers 5 returns a ``BaseModelOutputWithPooling`` there, not a tensor:
   ``AttributeError: 'BaseModelOutputWithPooling' object has no attribute 'mean'``. Stage 1 (text
   SFT of the VL model) and stage 3 (text RL) feed only text, so every step hits it.
2. ``actor_rollout_ref.actor.freeze_vision_tower`` is accepted by verl's ``ActorConfig`` but never
   read: the vision tower trains (or, with zero gradients, decays under AdamW's weight decay)
   whatever the flag says. Stage 3 freezes it, so the flag is made to do what it says.
3. A VL mini-batch whose sequences all have the same length crashes the actor update
   (``RuntimeError: split_with_sizes expects split_sizes to sum exactly to 132 ..., but got
   split_sizes=[4, 4, 4, 4, 4, 4, 4, 4]``; the path does not depend on the device). TransferQueue rebuilds the
   per-sample ``(4, L)`` M-RoPE position ids with ``torch.nested.as_nested_tensor(layout=jagged)``, which
   for equal ``L`` makes the *first* sample dimension the ragged one; verl's ``maybe_fix_3d_position_ids``
   then declares the last dimension ragged regardless, and the tensor no longer matches its own offsets.
   Small batches hit it often (a PAD selection of a few groups whose prompts and answers have equal
   lengths); large ones rarely. The fix rebuilds such a tensor ragged along the last dimension.

The plugin applies each fix when verl first imports the module it patches
(:func:`install_hooks`); :func:`apply_verl_fixes` applies them all at once.
"""

from __future__ import annotations

import functools
import logging

logger = logging.getLogger(__name__)

# Attribute the actor config hands to its FSDP engine config; the engine reads it when it builds the model.
FREEZE_FLAG = "revisual_freeze_vision_tower"
# Sub-module names of the vision tower in HF VL models (Qwen2/2.5-VL: ``model.visual``).
VISION_TOWER_NAMES = ("visual", "vision_tower", "vision_model")



def visual_embeddings(visual_output):
    """The embedding tensor of a vision-tower call, whatever container transformers wraps it in."""
    from verl.utils.transformers_compat import unpack_visual_output

    embeddings, _ = unpack_visual_output(visual_output)
    return embeddings


def _text_only_safe(original):
    """Wrap verl's ``_get_input_embeds``: batches with pixels go to verl, pixel-free ones are handled here."""

    @functools.wraps(original)
    def get_input_embeds(
        model,
        input_ids,
        attention_mask=None,
        pixel_values=None,
        pixel_values_videos=None,
        image_grid_thw=None,
        video_grid_thw=None,
    ):
        if pixel_values is not None or pixel_values_videos is not None:
            return original(
                model, input_ids, attention_mask, pixel_values, pixel_values_videos, image_grid_thw, video_grid_thw
            )
        import torch

        inputs_embeds = model.get_input_embeddings()(input_ids)
        vision = model.config.vision_config
        # A 4x4-patch dummy image keeps the tower in the graph, as verl intends; it adds exactly zero.
        patch_dim = vision.in_channels * vision.temporal_patch_size * vision.patch_size**2
        dummy_pixels = torch.zeros((16, patch_dim), dtype=inputs_embeds.dtype, device=inputs_embeds.device)
        dummy_grid = torch.tensor([[1, 4, 4]], dtype=torch.long, device=inputs_embeds.device)
        dummy = visual_embeddings(model.visual(dummy_pixels, grid_thw=dummy_grid))
        inputs_embeds = inputs_embeds + 0.0 * dummy.mean()
        if attention_mask is not None:
            attention_mask = attention_mask.to(inputs_embeds.device)
        return inputs_embeds, attention_mask

    get_input_embeds.__revisual_fixed__ = True
    return get_input_embeds


def fix_text_only_vl_embeddings(qwen2_vl=None) -> None:
    """Bug 1: replace ``verl.models.transformers.qwen2_vl._get_input_embeds`` (looked up as a module global)."""
    if qwen2_vl is None:
        from verl.models.transformers import qwen2_vl

    if not getattr(qwen2_vl._get_input_embeds, "__revisual_fixed__", False):
        qwen2_vl._get_input_embeds = _text_only_safe(qwen2_vl._get_input_embeds)


def vision_tower_of(module):
    """The vision sub-module of an HF VL model (``model.visual`` on Qwen2.5-VL), or None for a text model."""
    for holder in (module, getattr(module, "model", None)):
        if holder is None:
            continue
        for name in VISION_TOWER_NAMES:
            tower = getattr(holder, name, None)
            if tower is not None:
                return tower
    return None


def freeze_vision_tower(module) -> int:
    """Set ``requires_grad=False`` on every vision-tower parameter; returns how many tensors were frozen.

    Frozen parameters get no gradient, so AdamW skips them entirely (no update, no weight decay):
    they stay bit-identical. Raises if the model has no vision tower, since the flag would be a no-op.
    """
    tower = vision_tower_of(module)
    if tower is None:
        raise ValueError(
            f"actor_rollout_ref.actor.freeze_vision_tower=true but {type(module).__name__} has no vision tower "
            f"(looked for {', '.join(VISION_TOWER_NAMES)})"
        )
    frozen = 0
    for param in tower.parameters():
        param.requires_grad_(False)
        frozen += 1
    return frozen


def _actor_post_init_passing_freeze(post_init):
    @functools.wraps(post_init)
    def wrapper(self, *args, **kwargs):
        post_init(self, *args, **kwargs)
        engine = getattr(self, "engine", None)
        if engine is not None:
            # Engine configs are frozen dataclasses; this one attribute is ours.
            object.__setattr__(engine, FREEZE_FLAG, bool(self.freeze_vision_tower))

    wrapper.__revisual_fixed__ = True
    return wrapper


def _build_module_honouring_freeze(build_module):
    @functools.wraps(build_module)
    def wrapper(self, *args, **kwargs):
        module = build_module(self, *args, **kwargs)
        if getattr(self.engine_config, FREEZE_FLAG, False) and not self.engine_config.forward_only:
            count = freeze_vision_tower(module)
            logger.warning("freeze_vision_tower: %d vision-tower tensors frozen", count)
        return module

    wrapper.__revisual_fixed__ = True
    return wrapper


def _patch_actor_config(actor_config_module) -> None:
    cls = actor_config_module.FSDPActorConfig
    if not getattr(cls.__post_init__, "__revisual_fixed__", False):
        cls.__post_init__ = _actor_post_init_passing_freeze(cls.__post_init__)


def _patch_fsdp_engine(transformer_impl) -> None:
    cls = transformer_impl.FSDPEngine
    if not getattr(cls._build_module, "__revisual_fixed__", False):
        cls._build_module = _build_module_honouring_freeze(cls._build_module)


def honour_freeze_vision_tower() -> None:
    """Bug 2: the FSDP actor config passes its flag to the engine, which freezes the tower before FSDP wraps it."""
    from verl.workers.config import actor
    from verl.workers.engine.fsdp import transformer_impl

    _patch_actor_config(actor)
    _patch_fsdp_engine(transformer_impl)


def is_ragged_along_first_sample_dim(tensor) -> bool:
    """A 3-D jagged tensor whose samples all have the same shape, made ragged along their first dimension
    (what ``as_nested_tensor(layout=jagged)`` builds from equal ``(4, L)`` position ids)."""
    values, offsets = tensor._values, tensor._offsets
    return tensor._ragged_idx == 1 and values.dim() == 2 and int(offsets[-1]) == values.shape[0]


def _position_ids_fix(original):
    """Wrap ``maybe_fix_3d_position_ids``: equal-length samples are rebuilt ragged along the last dimension."""

    @functools.wraps(original)
    def maybe_fix_3d_position_ids(data):
        position_ids = data["position_ids"] if "position_ids" in data.keys() else None
        if (position_ids is not None and position_ids.is_nested and position_ids.dim() == 3
                and is_ragged_along_first_sample_dim(position_ids)):
            from verl.utils.tensordict_utils import nested_tensor_from_tensor_list

            data["position_ids"] = nested_tensor_from_tensor_list(list(position_ids.unbind()), ragged_idx=2)
            return None
        return original(data)

    maybe_fix_3d_position_ids.__revisual_fixed__ = True
    return maybe_fix_3d_position_ids


def _patch_position_ids_fix(module) -> None:
    """Replace the function in ``verl.utils.tensordict_utils`` and in each module that imported it by name."""
    current = module.maybe_fix_3d_position_ids
    if not getattr(current, "__revisual_fixed__", False):
        from verl.utils import tensordict_utils

        if not getattr(tensordict_utils.maybe_fix_3d_position_ids, "__revisual_fixed__", False):
            tensordict_utils.maybe_fix_3d_position_ids = _position_ids_fix(tensordict_utils.maybe_fix_3d_position_ids)
        module.maybe_fix_3d_position_ids = tensordict_utils.maybe_fix_3d_position_ids


POSITION_IDS_USERS = ("verl.utils.tensordict_utils", "verl.workers.engine_workers", "verl.workers.engine.base")
"""The modules that call ``maybe_fix_3d_position_ids`` (each binds the name at import)."""


def install_hooks(when_imported) -> None:
    """Apply each fix when verl first imports the module it patches (or now, if already imported)."""
    when_imported("verl.models.transformers.qwen2_vl", fix_text_only_vl_embeddings)
    when_imported("verl.workers.config.actor", _patch_actor_config)
    when_imported("verl.workers.engine.fsdp.transformer_impl", _patch_fsdp_engine)
    for name in POSITION_IDS_USERS:
        when_imported(name, _patch_position_ids_fix)


def apply_verl_fixes() -> None:
    """Apply every fix above now. Idempotent; not gated on the device."""
    import importlib

    fix_text_only_vl_embeddings()
    honour_freeze_vision_tower()
    for name in POSITION_IDS_USERS:
        _patch_position_ids_fix(importlib.import_module(name))


def fixes_applied() -> dict[str, bool]:
    """Whether each fix is in place in this process (imports the patched verl modules)."""
    from verl.models.transformers import qwen2_vl
    from verl.workers.config.actor import FSDPActorConfig
    from verl.workers.engine.fsdp.transformer_impl import FSDPEngine

    import importlib

    return {
        "equal_length_position_ids": all(
            getattr(importlib.import_module(name).maybe_fix_3d_position_ids, "__revisual_fixed__", False)
            for name in POSITION_IDS_USERS
        ),
        "text_only_vl_embeddings": getattr(qwen2_vl._get_input_embeds, "__revisual_fixed__", False),
        "freeze_vision_tower": getattr(FSDPActorConfig.__post_init__, "__revisual_fixed__", False)
        and getattr(FSDPEngine._build_module, "__revisual_fixed__", False),
    }
