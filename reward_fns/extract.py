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


class _BoxFinder:
    """Next box command at or after a position. Each command's next occurrence is remembered, so
    a response with thousands of boxes is scanned once (a fresh ``find`` per box for a command
    that never occurs would rescan to the end every time)."""

    def __init__(self, text: str):
        self.text = text
        self.next = {cmd: -2 for cmd in _BOX_COMMANDS}

    def find(self, start: int) -> tuple[int, int]:
        """Position and length of the next box command at or after ``start``; (-1, 0) if none."""
        best, best_len = -1, 0
        for cmd in _BOX_COMMANDS:
            pos = self.next[cmd]
            if pos != -1 and pos < start:
                pos = self.text.find(cmd, start)
                while pos != -1 and pos + len(cmd) < len(self.text) and self.text[pos + len(cmd)].isalpha():
                    # ``\boxedanswer`` or ``\fboxsep`` is another macro, not a box.
                    pos = self.text.find(cmd, pos + 1)
                self.next[cmd] = pos
            if pos != -1 and (best == -1 or pos < best):
                best, best_len = pos, len(cmd)
        return best, best_len


def _next_box_command(text: str, start: int) -> tuple[int, int]:
    """Position and length of the next box command at or after ``start``; (-1, 0) if none."""
    return _BoxFinder(text).find(start)


def find_boxed_spans(text: str) -> tuple[list[tuple[str, int, int]], bool]:
    """All top-level boxes in order as (content, start, end), and whether the last box is
    unterminated. ``\\boxed{...}`` is matched by brace counting; ``\\boxed 5`` (no braces) takes
    the next whitespace-delimited token. Nested boxes are returned as the outer content."""
    spans: list[tuple[str, int, int]] = []
    finder = _BoxFinder(text)
    pos = 0
    n = len(text)
    while True:
        start, cmd_len = finder.find(pos)
        if start == -1:
            return spans, False
        i = start + cmd_len
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == "{":
            end = _match_brace(text, i)
            if end == -1:
                return spans, True
            spans.append((text[i + 1 : end], start, end + 1))
            pos = end + 1
        elif i > start + cmd_len:
            j = i
            while j < n and not text[j].isspace() and text[j] not in "$":
                j += 1
            if j == i:
                return spans, True
            spans.append((text[i:j], start, j))
            pos = j
        else:
            pos = i


def find_boxed(text: str) -> tuple[list[str], bool]:
    """All top-level box contents in order, and whether the last box is unterminated (see
    :func:`find_boxed_spans`)."""
    spans, unterminated = find_boxed_spans(text)
    return [content for content, _, _ in spans], unterminated


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


# Words that retract an earlier final answer ("... \\boxed{12}. Wait, that is wrong ... \\boxed{15}").
# A hedge ("\\boxed{12} or \\boxed{13}", "maybe") names none of them.
_RETRACTION = re.compile(
    r"\b(?:wait|mistake|mistaken|wrong|incorrect|error|actually|correction|oops|scratch that|not right"
    r"|re-?check\w*|re-?calculat\w*|re-?evaluat\w*|re-?examin\w*|let me redo)\b",
    re.IGNORECASE,
)


def _after_retraction(region: str, spans: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """The boxes after the last retraction that precedes the last box (all of them if none)."""
    if len(spans) < 2:
        return spans
    last_start = spans[-1][1]
    cut = -1
    for match in _RETRACTION.finditer(region, spans[0][2], last_start):
        cut = match.start()
    if cut == -1:
        return spans
    return [span for span in spans if span[1] > cut]


def _last_occurrences(contents: list[str]) -> list[str]:
    """Each distinct box content once, at its last position (10,000 copies of one box are one
    answer, and the final box stays last)."""
    seen: set[str] = set()
    out: list[str] = []
    for content in reversed(contents):
        if content not in seen:
            seen.add(content)
            out.append(content)
    return out[::-1]


def _unwrapped(contents: list[str]) -> list[str]:
    return [a for a in (_unwrap(c) for c in _last_occurrences(contents)) if a is not None]


def extract_answer_candidates(response: str) -> list[str]:
    """Every final answer the response commits to, last one last, each distinct box once.

    Boxes from the final-answer region (see :func:`final_answer_region`) or, failing that, the
    boxes in the last ``<answer>`` block or the block itself. Boxes before a retraction ("wait",
    "that is wrong", "mistake", "actually"...) that comes before the last box are dropped: the
    response corrected itself. Empty list if there is no answer or the last box is unterminated.
    Used to detect hedged answers.
    """
    if not isinstance(response, str) or not response:
        return []
    region = final_answer_region(response)
    spans, unterminated = find_boxed_spans(region)
    if unterminated:
        return []
    if spans:
        return _unwrapped([content for content, _, _ in _after_retraction(region, spans)])
    block = _last_answer_block(response)
    if block is None:
        return []
    inner, unterminated = find_boxed_spans(block)
    if unterminated:
        return []
    if inner:
        return _unwrapped([content for content, _, _ in _after_retraction(block, inner)])
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


# ---- evaluation mode: answers written in prose ---------------------------------------------------

_PROSE_TAIL_CHARS = 3000
_ANSWER_PHRASE = re.compile(r"(?:final\s+answer|answer)\s*(?:is\b|:)\s*:?", re.IGNORECASE)
_CHAT_MARKER = re.compile(r"<\|[a-z_]+\|>.*", re.IGNORECASE | re.DOTALL)
_MATH_SPAN = re.compile(r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|(?<!\\)\$(.+?)(?<!\\)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?")
_SENTENCE_END = re.compile(r"\.(?=\s|$)|\n\s*\n|I hope it is correct", re.IGNORECASE)
_IS = re.compile(r"\b(?:is|are|equals|=)\s", re.IGNORECASE)


def _answer_in_sentence(sentence: str) -> str | None:
    """The answer a sentence states: what follows its last "is"/"=" (a math span, else a number),
    else its last math span, else its last number."""
    verb = None
    for verb in _IS.finditer(sentence):
        pass
    parts = ([sentence[verb.end():]] if verb is not None else []) + [sentence]
    for part in parts:
        spans = [next(g for g in m.groups() if g is not None).strip() for m in _MATH_SPAN.finditer(part)]
        spans = [span for span in spans if span]
        if spans:
            return _unwrap(spans[0] if part is not sentence else spans[-1])
        numbers = _NUMBER.findall(part)
        if numbers:
            return numbers[0 if part is not sentence else -1].strip()
    return None


def extract_answer_eval(response: str) -> str | None:
    """Evaluation mode: the answer as benchmarks' own protocols read it, prose included.

    The training answer (:func:`extract_answer`: a box or an ``<answer>`` block) when there is
    one. Otherwise, in the last 3,000 characters of the final-answer region (chat-template
    markers such as ``<|im_start|>`` cut off): the sentence after the last "answer is" /
    "Answer:", else the last sentence if it states a value ("... is 12", "x = 3"); from it what
    follows its last "is" or "=" (a math span, else a number), else its last math span or number. Training keeps the box requirement; only evaluation reads prose.
    """
    answer = extract_answer(response)
    if answer is not None or not isinstance(response, str):
        return answer
    region = _CHAT_MARKER.sub("", final_answer_region(response)[-_PROSE_TAIL_CHARS:]).strip()
    if not region:
        return None
    phrases = list(_ANSWER_PHRASE.finditer(region))
    if phrases:
        tail = region[phrases[-1].end():]
        end = _SENTENCE_END.search(tail)
        sentence = tail[: end.start()] if end else tail
        found = _answer_in_sentence(sentence)
        if found is not None:
            return found
    sentences = [s for s in _SENTENCE_END.split(region) if s and s.strip()]
    if not sentences or not _IS.search(sentences[-1]):
        return None  # the last sentence states no value ("... is 12", "x = 3"): no answer
    return _answer_in_sentence(sentences[-1])
