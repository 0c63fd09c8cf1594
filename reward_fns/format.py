"""Format reward: reasoning in ``<think>...</think>``, then a boxed final answer."""

from __future__ import annotations

import re

from reward_fns.extract import find_boxed

_THINK_OPEN = re.compile(r"^\s*<\s*think\s*>")
_THINK_CLOSE = re.compile(r"<\s*/\s*think\s*>")


def format_reward(response: str) -> float:
    """1.0 if the response opens with ``<think>``, closes it exactly once, and a complete
    ``\\boxed{}`` follows the ``</think>``; else 0.0.  Linear time."""
    if not isinstance(response, str):
        return 0.0
    opening = _THINK_OPEN.match(response)
    if opening is None:
        return 0.0
    closes = list(_THINK_CLOSE.finditer(response, opening.end()))
    if len(closes) != 1 or "<think>" in response[opening.end() :]:
        return 0.0
    boxes, unterminated = find_boxed(response[closes[0].end() :])
    return 1.0 if boxes and not unterminated else 0.0
