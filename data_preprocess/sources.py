"""Where each input set keeps its question, answer and images, registered by converter name.

Public release layouts (Hugging Face dataset cards):

- ``geometry3k`` (hiyouga/geometry3k): ``images`` (list of Image), ``problem`` (already holds
  ``<image>``), ``answer``.
- ``deepmath`` (zwhe99/DeepMath-103K): ``question``, ``final_answer``, ``difficulty``, ``topic``,
  ``r1_solution_1..3``.
- ``math`` (hendrycks MATH / DigitalLearningGmbH/MATH-lighteval: ``problem``, ``solution``, ``level``,
  ``type``; HuggingFaceH4/MATH-500 adds ``answer``): the ``answer`` column when present, else the
  last ``\\boxed{}`` of ``solution``.
- ``gsm8k`` (openai/gsm8k): ``question``, ``answer`` ending in ``#### <number>``.
- ``mmrl`` (csfufu/mmrl, EasyR1 style): ``problem``, ``answer``, ``images``.
- ``textrl`` (csfufu/textrl): EasyR1 ``problem``/``answer`` assumed; ``question``/``final_answer``
  and ``prompt``/``ground_truth`` are accepted too.
"""

from dataclasses import dataclass
from typing import Callable

from data_preprocess.answers import answer_from_solution, gsm8k_final_answer
from data_preprocess.validation import first_present, require_text


@dataclass(frozen=True)
class RLSourceSpec:
    """How to read one RL input set."""

    name: str
    data_source: str
    multimodal: bool
    question_fields: tuple[str, ...]
    extract_answer: Callable[[dict], str]
    description: str


RL_SOURCES: dict[str, RLSourceSpec] = {}


def register_rl_source(spec: RLSourceSpec) -> RLSourceSpec:
    """Add a source to :data:`RL_SOURCES` (names are unique)."""
    if spec.name in RL_SOURCES:
        raise ValueError(f"RL source {spec.name!r} is already registered")
    RL_SOURCES[spec.name] = spec
    return spec


def get_rl_source(name: str) -> RLSourceSpec:
    """Look a source up by converter name, listing the known names on a miss."""
    try:
        return RL_SOURCES[name]
    except KeyError:
        raise KeyError(f"unknown RL source {name!r}; known: {sorted(RL_SOURCES)}") from None


def answer_from_columns(*fields: str) -> Callable[[dict], str]:
    """Extractor reading the first present of ``fields`` as text."""

    def extract(record: dict) -> str:
        return require_text(record, first_present(record, fields))

    return extract


def math_answer(record: dict) -> str:
    """MATH-500 has an ``answer`` column; the original MATH releases only a boxed solution."""
    if record.get("answer") is not None:
        return require_text(record, "answer")
    return answer_from_solution(require_text(record, "solution"))


def gsm8k_answer(record: dict) -> str:
    return gsm8k_final_answer(require_text(record, "answer"))


QUESTION_ALIASES = ("problem", "question", "prompt")
ANSWER_ALIASES = ("answer", "final_answer", "ground_truth")

register_rl_source(
    RLSourceSpec("mmrl", "csfufu/mmrl", True, QUESTION_ALIASES, answer_from_columns(*ANSWER_ALIASES),
                 "ReVisual-R1 multimodal RL set (EasyR1 problem/answer/images)")
)
register_rl_source(
    RLSourceSpec("textrl", "csfufu/textrl", False, QUESTION_ALIASES, answer_from_columns(*ANSWER_ALIASES),
                 "ReVisual-R1 text RL set (problem/answer)")
)
register_rl_source(
    RLSourceSpec("geometry3k", "hiyouga/geometry3k", True, ("problem",), answer_from_columns("answer"),
                 "Geometry3K, hiyouga/geometry3k layout")
)
register_rl_source(
    RLSourceSpec("deepmath", "zwhe99/DeepMath-103K", False, ("question",), answer_from_columns("final_answer"),
                 "DeepMath-103K (question/final_answer)")
)
register_rl_source(
    RLSourceSpec("math", "DigitalLearningGmbH/MATH-lighteval", False, ("problem",), math_answer,
                 "MATH (hendrycks / lighteval / MATH-500)")
)
register_rl_source(
    RLSourceSpec("gsm8k", "openai/gsm8k", False, ("question",), gsm8k_answer,
                 "GSM8K main config (answer after ####)")
)
