"""Chat-data schema families used for cold-start SFT, detected from a row's columns.

- ``openai``: ``messages`` = list of ``{"role", "content"}``;
- ``sharegpt``: ``conversations`` = list of ``{"from", "value"}`` (+ optional ``system`` column);
- ``alpaca``: ``instruction`` / ``input`` / ``output`` (+ optional ``system``, ``history``).

Turn text is kept verbatim, so ``<think>...</think>`` reasoning survives unchanged.
"""

from typing import Callable

from data_preprocess.validation import RowError

SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "system": "system",
}
VALID_ROLES = ("system", "user", "assistant")


class SchemaFamilyError(ValueError):
    """The columns of an input fit no known family."""


def detect_family(columns, file: str) -> str:
    """Family name for a row with these columns, or a :class:`SchemaFamilyError` listing them."""
    columns = set(columns)
    if "messages" in columns:
        return "openai"
    if "conversations" in columns:
        return "sharegpt"
    if {"instruction", "output"} <= columns:
        return "alpaca"
    raise SchemaFamilyError(
        f"{file}: cannot tell the chat schema; columns found: {sorted(columns)}. Expected 'messages' "
        f"(OpenAI role/content), 'conversations' (ShareGPT from/value) or 'instruction'+'output' "
        f"(Alpaca, optional 'input')"
    )


def _turn_list(record: dict, field: str) -> list:
    turns = record.get(field)
    if turns is None:
        raise RowError("missing_field", field, f"field {field!r} is missing")
    if not isinstance(turns, list | tuple):
        raise RowError("bad_value", field, f"expected a list of turns, got {type(turns).__name__}")
    if not turns:
        raise RowError("empty_field", field, "no turns")
    return list(turns)


def _text(value, field: str) -> str:
    if value is None:
        raise RowError("missing_field", field, "turn text is missing")
    if not isinstance(value, str):
        raise RowError("bad_value", field, f"turn text must be a string, got {type(value).__name__}")
    if not value.strip():
        raise RowError("empty_field", field, "turn text is empty")
    return value


def openai_messages(record: dict) -> list[dict]:
    messages = []
    for index, turn in enumerate(_turn_list(record, "messages")):
        field = f"messages[{index}]"
        if not isinstance(turn, dict):
            raise RowError("bad_value", field, "turn is not an object")
        messages.append({"role": turn.get("role"), "content": _text(turn.get("content"), field + ".content")})
    return messages


def sharegpt_messages(record: dict) -> list[dict]:
    messages = []
    if isinstance(record.get("system"), str) and record["system"].strip():
        messages.append({"role": "system", "content": record["system"]})
    for index, turn in enumerate(_turn_list(record, "conversations")):
        field = f"conversations[{index}]"
        if not isinstance(turn, dict):
            raise RowError("bad_value", field, "turn is not an object")
        speaker = turn.get("from")
        role = SHAREGPT_ROLES.get(str(speaker).lower()) if speaker is not None else None
        if role is None:
            raise RowError("bad_value", field + ".from", f"unknown speaker {speaker!r}")
        messages.append({"role": role, "content": _text(turn.get("value"), field + ".value")})
    return messages


def alpaca_messages(record: dict) -> list[dict]:
    messages = []
    if isinstance(record.get("system"), str) and record["system"].strip():
        messages.append({"role": "system", "content": record["system"]})
    for index, pair in enumerate(record.get("history") or []):
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise RowError("bad_value", f"history[{index}]", "history entries must be [prompt, response]")
        messages.append({"role": "user", "content": _text(pair[0], f"history[{index}][0]")})
        messages.append({"role": "assistant", "content": _text(pair[1], f"history[{index}][1]")})
    prompt = _text(record.get("instruction"), "instruction")
    extra = record.get("input")
    if isinstance(extra, str) and extra.strip():
        prompt = f"{prompt}\n\n{extra}"
    messages.append({"role": "user", "content": prompt})
    messages.append({"role": "assistant", "content": _text(record.get("output"), "output")})
    return messages


FAMILIES: dict[str, Callable[[dict], list[dict]]] = {
    "openai": openai_messages,
    "sharegpt": sharegpt_messages,
    "alpaca": alpaca_messages,
}


def check_turn_order(messages: list[dict], field: str) -> None:
    """Optional system turn first, then alternating user/assistant, ending on the assistant."""
    body = messages[1:] if messages and messages[0]["role"] == "system" else messages
    for index, message in enumerate(body):
        if message["role"] not in VALID_ROLES:
            raise RowError("bad_value", field, f"unknown role {message['role']!r}")
        expected = "user" if index % 2 == 0 else "assistant"
        if message["role"] != expected:
            raise RowError("bad_value", field, f"turn {index} is {message['role']!r}, expected {expected!r}")
    if len(body) < 2 or body[-1]["role"] != "assistant":
        raise RowError("missing_field", field, "needs at least one user turn followed by an assistant turn")


def has_think_block(messages: list[dict]) -> bool:
    """True when every assistant turn carries a closed ``<think>...</think>`` block."""
    replies = [m["content"] for m in messages if m["role"] == "assistant"]
    return bool(replies) and all("<think>" in r and "</think>" in r for r in replies)
