"""Final-answer extraction: last complete ``\\boxed{}``, else last ``<answer>`` block.

Every scan here is a single left-to-right pass (no regex backtracking), so the cost is linear in
the response length even for 200k-character rollouts.
"""

from __future__ import annotations

import re

MAX_ANSWER_CHARS = 1000
"""An "answer" longer than this is a derailed generation, not an answer: it scores as missing."""

_BOX_COMMANDS = ("\\boxed", "\\fbox")
_ANSWER_OPEN = re.compile(r"<\s*answer\s*>")
_ANSWER_CLOSE = re.compile(r"<\s*/\s*answer\s*>")
_THINK_CLOSE = re.compile(r"<\s*/\s*think\s*>")


def _match_brace(text: str, open_pos: int) -> int:
    """Index of the ``}`` closing the ``{`` at ``open_pos``, or -1 if it is never closed.

    Escaped braces (``\\{``, ``\\}``) are set delimiters in LaTeX and do not count.
    """
    depth = 0
    i = open_pos
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _next_box_command(text: str, start: int) -> tuple[int, int]:
    """Position and length of the next box command at or after ``start``; (-1, 0) if none."""
    best, best_len = -1, 0
    for cmd in _BOX_COMMANDS:
        pos = text.find(cmd, start)
        while pos != -1 and pos + len(cmd) < len(text) and text[pos + len(cmd)].isalpha():
            # ``\boxedanswer`` or ``\fboxsep`` is another macro, not a box.
            pos = text.find(cmd, pos + 1)
        if pos != -1 and (best == -1 or pos < best):
            best, best_len = pos, len(cmd)
    return best, best_len


def find_boxed(text: str) -> tuple[list[str], bool]:
    """All top-level box contents in order, and whether the last box is unterminated.

    ``\\boxed{...}`` is matched by brace counting; ``\\boxed 5`` (no braces) takes the next
    whitespace-delimited token.  Nested boxes are returned as the outer content.
    """
    contents: list[str] = []
    pos = 0
    n = len(text)
    while True:
        start, cmd_len = _next_box_command(text, pos)
        if start == -1:
            return contents, False
        i = start + cmd_len
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == "{":
            end = _match_brace(text, i)
            if end == -1:
                return contents, True
            contents.append(text[i + 1 : end])
            pos = end + 1
        elif i > start + cmd_len:
            # ``\boxed 5``: a bare token up to whitespace or a math delimiter.
            j = i
            while j < n and not text[j].isspace() and text[j] not in "$":
                j += 1
            if j == i:
                return contents, True
            contents.append(text[i:j])
            pos = j
        else:
            pos = i


def _unwrap(answer: str) -> str | None:
    """Strip math delimiters and nested boxes from an extracted answer; None if empty or too long."""
    answer = answer.strip()
    for _ in range(4):
        boxes, unterminated = find_boxed(answer)
        if len(boxes) == 1 and not unterminated:
            stripped = answer.strip().strip("$").strip()
            for cmd in _BOX_COMMANDS:
                if stripped.startswith(cmd):
                    answer = boxes[0].strip()
                    break
            else:
                break
        else:
            break
    answer = answer.strip()
    while len(answer) >= 2 and answer[0] == "$" and answer[-1] == "$":
        answer = answer[1:-1].strip()
    for left, right in (("\\(", "\\)"), ("\\[", "\\]")):
        if answer.startswith(left) and answer.endswith(right):
            answer = answer[len(left) : -len(right)].strip()
    if not answer or len(answer) > MAX_ANSWER_CHARS:
        return None
    return answer


def _last_answer_block(response: str) -> str | None:
    """Content of the last complete ``<answer>...</answer>`` block, or None."""
    closes = list(_ANSWER_CLOSE.finditer(response))
    if not closes:
        return None
    close = closes[-1]
    opens = [m for m in _ANSWER_OPEN.finditer(response, 0, close.start())]
    if not opens:
        return None
    return response[opens[-1].end() : close.start()]


def final_answer_region(response: str) -> str:
    """The part of the response that holds the final answer: after the last ``</think>`` if that
    part contains a box, else the whole response."""
    closes = list(_THINK_CLOSE.finditer(response))
    if closes:
        tail = response[closes[-1].end() :]
        if _next_box_command(tail, 0)[0] != -1:
            return tail
    return response


def extract_answer_candidates(response: str) -> list[str]:
    """Every final answer the response commits to, last one last.

    Boxes from the final-answer region (see :func:`final_answer_region`) or, failing that, the
    boxes in the last ``<answer>`` block or the block itself.  Empty list if there is no answer
    or the last box is unterminated.  Used to detect hedged answers.
    """
    if not isinstance(response, str) or not response:
        return []
    region = final_answer_region(response)
    boxes, unterminated = find_boxed(region)
    if unterminated:
        return []
    if boxes:
        return [a for a in (_unwrap(b) for b in boxes) if a is not None]
    block = _last_answer_block(response)
    if block is None:
        return []
    inner, unterminated = find_boxed(block)
    if unterminated:
        return []
    if inner:
        return [a for a in (_unwrap(b) for b in inner) if a is not None]
    answer = _unwrap(block)
    return [answer] if answer is not None else []


def extract_answer(response: str) -> str | None:
    """Return the model's final answer, or None.

    Order: the last complete ``\\boxed{...}`` (braces matched, nested boxes unwrapped); else the
    last ``<answer>...</answer>`` with a box inside it unwrapped; else None.  An unterminated last
    box (a truncated rollout) is no answer.  Numbers in the reasoning text are never used.  Runs in
    linear time.
    """
    candidates = extract_answer_candidates(response)
    return candidates[-1] if candidates else None
