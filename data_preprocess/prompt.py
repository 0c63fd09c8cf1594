"""The single RL/SFT instruction of ReVisual-R1 and the user-turn builder.

The sentence is the official ``examples/format_prompt/math_format.jinja`` of
CSfufu/Revisual-R1: appended to the question in the same user turn, no system prompt.
"""

IMAGE_PLACEHOLDER = "<image>"

RL_INSTRUCTION = (
    "You FIRST think about the reasoning process step by step as an internal monologue and then "
    "provide the final answer. The reasoning process MUST BE enclosed within <think> </think> tags. "
    "The final answer MUST BE put in \\boxed{}."
)


def count_placeholders(text: str) -> int:
    """Number of ``<image>`` placeholders in ``text``."""
    return text.count(IMAGE_PLACEHOLDER)


def build_user_content(question: str, num_images: int = 0) -> str:
    """User-turn text: image placeholders, then the question, then the instruction.

    Placeholders already present in ``question`` are kept where they are; when the question has
    none but the row has images, one placeholder per image is put in front (the EasyR1/verl
    convention of image-first prompts).
    """
    question = question.strip()
    if num_images and count_placeholders(question) == 0:
        question = IMAGE_PLACEHOLDER * num_images + question
    return f"{question} {RL_INSTRUCTION}"


def build_rl_prompt(question: str, num_images: int = 0) -> list[dict]:
    """verl ``prompt`` column value: a single user message (ReVisual RL uses no system prompt)."""
    return [{"role": "user", "content": build_user_content(question, num_images)}]
