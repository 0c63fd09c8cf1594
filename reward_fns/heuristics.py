"""Opt-in heuristic terms modelled on ReVisual-R1's released ``math.py``.

The released code adds ``0.05 * (self_critique + image_revisit + repetition)`` to the reward;
the paper never mentions these terms.  They are re-implemented from what that file computes (a
weighted count of self-critique keywords, references back to the image, a penalty for repeated
sentences and n-grams; our keyword lists and weights are our own) and are off unless named in
``reward.terms``.  Each returns a value in [0, 1].
"""

from __future__ import annotations

import re
from collections import Counter

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?\n])\s+")

# (pattern, weight): stronger self-correction language weighs more.
_CRITIQUE_KEYWORDS = [
    (r"\bmistake\b", 0.15), (r"\berror\b", 0.12), (r"\bincorrect\b", 0.12), (r"\bwrong\b", 0.12),
    (r"\blet me (?:re-?check|recalculate|reconsider|verify)\b", 0.12), (r"\bdouble[- ]check\b", 0.1),
    (r"\bverify\b", 0.08), (r"\bre-?examine\b", 0.08), (r"\bwait\b", 0.06), (r"\bhowever\b", 0.04),
    (r"\bbut\b", 0.02), (r"\bperhaps\b", 0.03), (r"\bactually\b", 0.05), (r"\bon second thought\b", 0.1),
]
_CRITIQUE_RES = [(re.compile(p, re.IGNORECASE), w) for p, w in _CRITIQUE_KEYWORDS]
_REFLECTION_START = re.compile(r"^(?:wait|hmm|hold on|let me (?:check|re-?check|verify)|actually)\b", re.IGNORECASE)
_CORRECTION = re.compile(r"\b(?:so the correct|should be|instead|corrected|that gives|therefore)\b", re.IGNORECASE)

_IMAGE_REFERENCE = re.compile(
    r"\b(?:the (?:image|figure|diagram|graph|chart|picture) (?:shows|depicts|contains|has)|in the (?:image|figure|diagram))\b",
    re.IGNORECASE,
)
_IMAGE_REVISIT = re.compile(
    r"\b(?:look(?:ing)? (?:back )?at the (?:image|figure|diagram) again|re-?examin\w* the (?:image|figure|diagram)"
    r"|check(?:ing)? the (?:image|figure|diagram) again|wait[^.\n]{0,60}\b(?:image|figure|diagram))\b",
    re.IGNORECASE,
)
_INSIGHT = re.compile(r"\b(?:I see|now I notice|this means|so actually|which shows|notice that)\b", re.IGNORECASE)
_MAYBE_LOOP = re.compile(r"\bmaybe\b.{0,200}?\bbut wait\b.{0,200}?\bmaybe\b", re.IGNORECASE | re.DOTALL)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_SPLIT.split(text) if s.strip()]


def self_critique_reward(response: str) -> float:
    """Rewards explicit self-checking: weighted critique keywords (each repeat adds half its
    weight), reflection sentences followed within 3 sentences by a correction (+0.25 each, at
    most 3), and +0.1 when critique is denser in the second half of the response."""
    score = 0.0
    half = len(response) // 2
    first_half_hits = second_half_hits = 0
    for pattern, weight in _CRITIQUE_RES:
        positions = [m.start() for m in pattern.finditer(response)]
        if positions:
            score += weight + 0.5 * weight * (len(positions) - 1)
            first_half_hits += sum(1 for p in positions if p < half)
            second_half_hits += sum(1 for p in positions if p >= half)
    sentences = _sentences(response)
    sequences = 0
    for i, sentence in enumerate(sentences):
        if sequences >= 3:
            break
        if _REFLECTION_START.match(sentence) and any(_CORRECTION.search(s) for s in sentences[i + 1 : i + 4]):
            sequences += 1
    score += 0.25 * sequences
    if second_half_hits > first_half_hits:
        score += 0.1
    return min(1.0, max(0.0, score))


def image_revisit_reward(response: str) -> float:
    """Rewards grounding in the image: initial references (+0.2 each, at most 0.4), a phrase that
    goes back to the image (+0.3), and such a revisit followed by an insight sentence (+0.3)."""
    score = min(0.4, 0.2 * len(_IMAGE_REFERENCE.findall(response)))
    sentences = _sentences(response)
    revisit_indices = [i for i, s in enumerate(sentences) if _IMAGE_REVISIT.search(s)]
    if revisit_indices:
        score += 0.3
        if any(i + 1 < len(sentences) and _INSIGHT.search(sentences[i + 1]) for i in revisit_indices):
            score += 0.3
    return min(1.0, max(0.0, score))


def repetition_reward(response: str) -> float:
    """1 minus penalties for duplicated sentences (0.1 each, at most 0.5), repeated word 5-grams
    (0.05 each, at most 0.3) and circular reasoning (0.1 per sentence repeated 3+ times, 0.2 per
    "maybe ... but wait ... maybe" loop; at most 0.2)."""
    sentences = [s.lower() for s in _sentences(response) if len(s) > 10]
    sentence_counts = Counter(sentences)
    duplicates = sum(c - 1 for c in sentence_counts.values() if c > 1)
    circular = sum(1 for c in sentence_counts.values() if c >= 3)
    words = response.lower().split()
    grams = Counter(tuple(words[i : i + 5]) for i in range(max(0, len(words) - 4)))
    repeated_grams = sum(c - 1 for c in grams.values() if c > 1)
    loops = len(_MAYBE_LOOP.findall(response))
    penalty = min(0.5, 0.1 * duplicates) + min(0.3, 0.05 * repeated_grams) + min(0.2, 0.1 * circular + 0.2 * loops)
    return min(1.0, max(0.0, 1.0 - penalty))
