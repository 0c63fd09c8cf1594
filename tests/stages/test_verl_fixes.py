"""verl 0.9.1 fixes: text-only batches on a Qwen2.5-VL model, and freeze_vision_tower doing what it says."""

import pytest
import torch

from verl_ext.verl_fixes import (
    FREEZE_FLAG,
    apply_verl_fixes,
    freeze_vision_tower,
    honour_freeze_vision_tower,
    vision_tower_of,
)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from verl_ext.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-qwen25vl")


def load(model_dir):
    from transformers import Qwen2_5_VLForConditionalGeneration

    torch.manual_seed(0)
    return Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir, attn_implementation="sdpa", dtype=torch.float32)


def text_batch(model):
    vocab = model.config.text_config.vocab_size
    generator = torch.Generator().manual_seed(1)
    # Ordinary tokens only (ids above the special ones), two rows of different content.
    return torch.randint(20, vocab, (2, 12), generator=generator)


def test_verl_text_only_path_is_broken_and_fixed(tiny_model_dir):
    from verl.models.transformers import qwen2_vl

    apply_verl_fixes()
    fixed = qwen2_vl._get_input_embeds
    original = fixed.__wrapped__
    model = load(tiny_model_dir)
    ids = text_batch(model)
    with pytest.raises(AttributeError, match="mean"):
        original(model.model, ids)  # the verl bug this module fixes
    embeds, mask = fixed(model.model, ids, attention_mask=torch.ones_like(ids))
    # The dummy vision pass adds exactly zero: the embeddings are the token embeddings.
    assert torch.equal(embeds, model.model.get_input_embeddings()(ids))
    assert mask.shape == ids.shape
    embeds.sum().backward()
    vision_grads = [p.grad for p in model.model.visual.parameters()]
    # The tower stays in the graph (FSDP needs it on every rank) but receives zero gradient.
    assert all(g is not None and torch.count_nonzero(g) == 0 for g in vision_grads)


def train_text_only(model, steps=2):
    """A few AdamW steps with weight decay on text-only LM loss, through verl's (fixed) embedding path."""
    from verl.models.transformers import qwen2_vl

    apply_verl_fixes()
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.1)
    ids = text_batch(model)
    for _ in range(steps):
        embeds, _ = qwen2_vl._get_input_embeds(model.model, ids)
        hidden = model.model.language_model(inputs_embeds=embeds).last_hidden_state
        logits = model.lm_head(hidden)
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten())
        loss.backward()
        optim.step()
        optim.zero_grad()


def snapshot(module):
    return {name: p.detach().clone() for name, p in module.named_parameters()}


@pytest.mark.parametrize("frozen", [True, False])
def test_frozen_tower_is_bit_identical_and_language_moves(tiny_model_dir, frozen):
    model = load(tiny_model_dir)
    if frozen:
        assert freeze_vision_tower(model) == len(list(model.model.visual.parameters()))
    vision_before = snapshot(model.model.visual)
    language_before = snapshot(model.model.language_model)
    train_text_only(model)
    vision_same = all(torch.equal(p, vision_before[n]) for n, p in model.model.visual.named_parameters())
    language_moved = sum(not torch.equal(p, language_before[n]) for n, p in model.model.language_model.named_parameters())
    assert language_moved > 0
    # Unfrozen, AdamW's weight decay moves the tower even though its gradient is zero: freezing is needed.
    assert vision_same is frozen


def test_freeze_needs_a_vision_tower():
    with pytest.raises(ValueError, match="no vision tower"):
        freeze_vision_tower(torch.nn.Linear(2, 2))
    assert vision_tower_of(torch.nn.Linear(2, 2)) is None


def test_actor_config_hands_the_flag_to_its_engine():
    from verl.workers.config.actor import FSDPActorConfig

    honour_freeze_vision_tower()
    on = FSDPActorConfig(strategy="fsdp2", rollout_n=1, ppo_micro_batch_size_per_gpu=1, freeze_vision_tower=True)
    off = FSDPActorConfig(strategy="fsdp2", rollout_n=1, ppo_micro_batch_size_per_gpu=1)
    assert getattr(on.engine, FREEZE_FLAG) is True
    assert getattr(off.engine, FREEZE_FLAG) is False


def _stored_position_ids(lengths):
    """Per-sample M-RoPE position ids ``(4, L)`` as TransferQueue hands them back: one jagged nested tensor."""
    samples = [torch.arange(4 * length).reshape(4, length) + 1000 * i for i, length in enumerate(lengths)]
    return samples, torch.nested.as_nested_tensor(samples, layout=torch.jagged)


@pytest.mark.parametrize("lengths", [[6] * 8, [6, 7, 9], [5]])
def test_equal_length_vl_position_ids_survive_the_actors_mini_batch_split(lengths):
    from tensordict import TensorDict
    from verl.utils import tensordict_utils as tu
    from verl.workers import engine_workers

    apply_verl_fixes()
    samples, stored = _stored_position_ids(lengths)
    data = TensorDict({"position_ids": stored}, batch_size=len(lengths))
    engine_workers.maybe_fix_3d_position_ids(data)  # what the actor worker calls before splitting
    picked = [len(lengths) - 1, 0]
    selected = tu.index_select_tensor_dict(data, torch.tensor(picked))["position_ids"]
    assert [t.tolist() for t in selected.unbind()] == [samples[i].tolist() for i in picked]


def test_equal_length_vl_position_ids_break_verls_own_fix():
    # Without the fix, the same split of eight equal-length samples fails (the bug the fix is for).
    from tensordict import TensorDict
    from verl.utils import tensordict_utils as tu
    from verl_ext import verl_fixes

    _, stored = _stored_position_ids([6] * 8)
    assert verl_fixes.is_ragged_along_first_sample_dim(stored)
    data = TensorDict({"position_ids": stored}, batch_size=8)
    original = tu.maybe_fix_3d_position_ids
    while getattr(original, "__wrapped__", None) is not None:
        original = original.__wrapped__
    original(data)
    with pytest.raises(RuntimeError):
        tu.index_select_tensor_dict(data, torch.tensor([1, 0]))
