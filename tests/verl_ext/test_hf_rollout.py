"""The CPU rollout server samples from the model the actor trains: for an image prompt, the log-probs it
reports for its own tokens equal those of a training-style forward pass (M-RoPE grid positions)."""

from types import SimpleNamespace

import pytest
import torch
from PIL import Image


@pytest.fixture(scope="module")
def server_and_prompt(tmp_path_factory):
    from verl_ext.cpu.hf_rollout import HFRolloutServer
    from verl_ext.tiny_model import build_tiny_model

    model_dir = build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=1)
    server = HFRolloutServer(SimpleNamespace(response_length=12), {"path": str(model_dir)}, replica_rank=0)
    image = Image.new("RGB", (56, 84), (220, 30, 30))
    image.paste((40, 70, 220), (0, 0, 28, 56))
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour is the image?"}]}]
    text = server.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = server.processor(text=[text], images=[image], return_tensors="pt")
    return server, image, inputs


def training_view_logprobs(server, inputs, tokens, mm_types=True):
    """Log-probs of ``tokens`` after the prompt, from one forward pass as verl's actor computes them."""
    prompt = inputs["input_ids"]
    full = torch.cat([prompt, torch.tensor([tokens])], dim=1)
    kwargs = {"pixel_values": inputs["pixel_values"], "image_grid_thw": inputs["image_grid_thw"]}
    if mm_types:
        types = torch.zeros_like(full)
        types[:, : prompt.shape[1]] = inputs["mm_token_type_ids"]
        kwargs["mm_token_type_ids"] = types
    with torch.no_grad():
        logits = server.model(input_ids=full, attention_mask=torch.ones_like(full), **kwargs).logits
    steps = torch.log_softmax(logits[0, prompt.shape[1] - 1 : -1].float(), dim=-1)
    return steps.gather(-1, torch.tensor(tokens)[:, None])[:, 0]


def test_rollout_logprobs_match_the_training_view_of_an_image_prompt(server_and_prompt):
    server, image, inputs = server_and_prompt
    torch.manual_seed(0)
    tokens, logprobs = server._generate(inputs["input_ids"][0].tolist(), {"temperature": 1.0, "logprobs": True},
                                        [image])
    assert tokens
    expected = training_view_logprobs(server, inputs, tokens)
    assert torch.allclose(torch.tensor(logprobs), expected, atol=1e-4)


def test_the_image_token_positions_change_what_the_model_says(server_and_prompt):
    # The check above can fail: without the token types the same tokens get other log-probs.
    server, image, inputs = server_and_prompt
    tokens = inputs["input_ids"][0, -6:].tolist()
    with_types = training_view_logprobs(server, inputs, tokens)
    without = training_view_logprobs(server, inputs, tokens, mm_types=False)
    assert (with_types - without).abs().max() > 1e-3


def test_requests_sent_together_are_batched_and_each_gets_its_own_answer(server_and_prompt):
    import asyncio

    server, image, inputs = server_and_prompt
    small = Image.new("RGB", (28, 28), (30, 170, 60))
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Count the squares."}]}]
    text = server.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    other = server.processor(text=[text], images=[small], return_tensors="pt")
    text_only = server.tokenizer("What is 2 + 3?")["input_ids"]
    requests = [(inputs["input_ids"][0].tolist(), [image]), (other["input_ids"][0].tolist(), [small]),
                (text_only, None), (inputs["input_ids"][0].tolist(), [image])]
    greedy = {"temperature": 0, "logprobs": True}
    alone = [server._generate(ids, greedy, images) for ids, images in requests]
    calls = []
    original = server._generate_batch
    server._generate_batch = lambda rows, params: calls.append(len(rows)) or original(rows, params)

    async def together():
        return await asyncio.gather(*(server.generate(f"r{i}", prompt_ids=ids, sampling_params=greedy, image_data=images)
                                      for i, (ids, images) in enumerate(requests)))

    try:
        outputs = asyncio.run(together())
    finally:
        server._generate_batch = original
    assert calls == [len(requests)]  # one left-padded generate call for all four
    for output, (tokens, logprobs) in zip(outputs, alone):
        assert output.token_ids == tokens
        assert torch.allclose(torch.tensor(output.log_probs), torch.tensor(logprobs), atol=1e-4)


@pytest.mark.parametrize("tokens, expected", [([5, 9, 2, 0, 0], 3), ([5, 9], 2), ([2], 1), ([], 0)])
def test_a_row_ends_at_its_first_stop_token(tokens, expected):
    from verl_ext.cpu.hf_rollout import first_stop

    assert first_stop(tokens, {2}) == expected


def test_rollout_seed_decides_the_sampling(server_and_prompt):
    """actor_rollout_ref.rollout.seed reaches the CPU rollout: a server started with the same seed samples the
    same answers, another seed other answers (the stagnation demo's seeds rely on it)."""
    from verl_ext.cpu.hf_rollout import HFRolloutServer

    _, image, inputs = server_and_prompt
    path = server_and_prompt[0].model.name_or_path
    ids = inputs["input_ids"][0].tolist()
    hot = {"temperature": 1.0, "logprobs": True}

    def samples(seed):
        server = HFRolloutServer(SimpleNamespace(response_length=12, seed=seed), {"path": path}, replica_rank=0)
        return [server._generate(ids, hot, [image])[0] for _ in range(4)]

    first = samples(5)
    assert samples(5) == first
    assert samples(6) != first
