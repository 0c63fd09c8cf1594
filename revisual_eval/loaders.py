"""Loaders: one function per benchmark, from its release layout to :class:`EvalItem` s.

Every loader takes the benchmark's folder and :class:`LoadOptions` and either returns all items or
raises :class:`EvalDataError` naming the file, row and field. Which split each reads, and why, is
in ``docs/evaluation.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from revisual_eval import prompts
from revisual_eval.errors import EvalDataError, require
from revisual_eval.items import EvalItem
from revisual_eval.layouts import (
    find_one_layout,
    image_from_cell,
    read_csv,
    read_json,
    read_jsonl,
    read_parquet_files,
)
from revisual_eval.options import is_bare_letter_list, options_in_question, split_labelled_options


@dataclass
class LoadOptions:
    """Knobs that change which rows are read or how prompts are built."""

    splits: dict[str, str] = field(default_factory=dict)
    gpqa_seed: int = 0
    mathvision_empty_choices: bool = False


LOADERS: dict[str, Callable[[Path, LoadOptions], list[EvalItem]]] = {}


def register_loader(name: str):
    """Register a loader under a benchmark name (the names of issue 6)."""

    def decorator(fn):
        LOADERS[name] = fn
        return fn

    return decorator


def _text_id(row: dict, key: str, path: Path, index) -> str:
    value = require(row, key, path=path, index=index, types=(str, int))
    return str(value)


def _optional_list(row: dict, key: str, path: Path, index) -> list[str]:
    value = row.get(key)
    if value is None:
        return []
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise EvalDataError(path, f"expected a list of strings, got {value!r:.80}", row=index, field=key)
    return list(value)


def check_unique_ids(items: list[EvalItem], path: Path) -> list[EvalItem]:
    """Raise on a repeated id: resume and scoring key rows by (id, sample)."""
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise EvalDataError(path, f"duplicate id {item.id!r}", field="id")
        seen.add(item.id)
    return items


@register_loader("mathverse")
def load_mathverse(folder: Path, options: LoadOptions) -> list[EvalItem]:
    """MathVerse testmini (3,940 rows, 5 versions x 788), prompt ``query_cot``."""
    split = options.splits.get("mathverse", "testmini")
    layout, files = find_one_layout(
        folder,
        "mathverse",
        [("parquet", f"{split}.parquet"), ("parquet", f"{split}-*.parquet"), ("parquet", f"data/{split}-*.parquet"), ("json", f"{split}.json")],
    )
    rows = read_parquet_files(files) if layout == "parquet" else [(files[0], i, r) for i, r in enumerate(read_json(files[0]))]
    items = []
    for path, index, row in rows:
        question_type = require(row, "question_type", path=path, index=index)
        question = require(row, "question", path=path, index=index, allow_empty=True)
        reference = {
            "answer": require(row, "answer", path=path, index=index),
            "question_type": question_type,
            "problem_version": require(row, "problem_version", path=path, index=index),
            "choices": options_in_question(question) if question_type == "multi-choice" else [],
            # What the official judge is shown; the scoring rules do not read it.
            "question": row.get("question_for_eval") or question,
        }
        items.append(
            EvalItem(
                "mathverse",
                _text_id(row, "sample_index", path, index),
                require(row, "query_cot", path=path, index=index),
                reference,
                [image_from_cell(row.get("image"), base=folder, path=path, index=index, field="image")],
            )
        )
    return check_unique_ids(items, files[0])


@register_loader("mathvision")
def load_mathvision(folder: Path, options: LoadOptions) -> list[EvalItem]:
    """MathVision test (3,040; ``--split mathvision=testmini`` for 304) with ReVisual's choices prompt."""
    split = options.splits.get("mathvision", "test")
    layout, files = find_one_layout(
        folder,
        "mathvision",
        [("parquet", f"data/{split}-*.parquet"), ("parquet", f"{split}-*.parquet"), ("jsonl", f"data/{split}.jsonl"), ("jsonl", f"{split}.jsonl")],
    )
    if layout == "parquet":
        rows, image_key = read_parquet_files(files), "decoded_image"
    else:
        rows, image_key = [(files[0], i, r) for i, r in read_jsonl(files[0])], "image"
    items = []
    for path, index, row in rows:
        option_texts = _optional_list(row, "options", path, index)
        question = require(row, "question", path=path, index=index)
        reference = {
            "answer": require(row, "answer", path=path, index=index),
            "choices": [] if is_bare_letter_list(option_texts) else option_texts,
            "multiple_choice": bool(option_texts),
        }
        prompt = prompts.mathvision_prompt(question, option_texts, empty_choices_block=options.mathvision_empty_choices)
        image = image_from_cell(row.get(image_key) or row.get("image"), base=[folder, path.parent], path=path, index=index, field=image_key)
        items.append(EvalItem("mathvision", _text_id(row, "id", path, index), prompt, reference, [image]))
    return check_unique_ids(items, files[0])


@register_loader("mathvista")
def load_mathvista(folder: Path, options: LoadOptions) -> list[EvalItem]:
    """MathVista testmini (1,000) with its ready-made ``query``; MC gold is the option text."""
    split = options.splits.get("mathvista", "testmini")
    layout, files = find_one_layout(
        folder, "mathvista", [("parquet", f"data/{split}-*.parquet"), ("parquet", f"{split}-*.parquet"), ("json", f"annot_{split}.json")]
    )
    if layout == "parquet":
        rows, image_key = read_parquet_files(files), "decoded_image"
    else:
        document = read_json(files[0])
        if not isinstance(document, dict):
            raise EvalDataError(files[0], "expected a JSON object keyed by pid")
        rows, image_key = [(files[0], key, value) for key, value in document.items()], "image"
    items = []
    for path, index, row in rows:
        if not isinstance(row, dict):
            raise EvalDataError(path, "expected an object", row=index)
        precision = row.get("precision")
        if precision is not None and not isinstance(precision, (int, float)):
            raise EvalDataError(path, f"expected a number or null, got {precision!r:.40}", row=index, field="precision")
        reference = {
            "answer": require(row, "answer", path=path, index=index),
            "question_type": require(row, "question_type", path=path, index=index),
            "answer_type": require(row, "answer_type", path=path, index=index),
            "choices": _optional_list(row, "choices", path, index),
            "precision": precision,
            "question": row.get("question") or "",
        }
        image = image_from_cell(row.get(image_key) or row.get("image"), base=folder, path=path, index=index, field=image_key)
        items.append(EvalItem("mathvista", _text_id(row, "pid", path, index), require(row, "query", path=path, index=index), reference, [image]))
    return check_unique_ids(items, files[0])


_DYNAMATH_FILE = re.compile(r"sample(\d+)-")


@register_loader("dynamath")
def load_dynamath(folder: Path, options: LoadOptions) -> list[EvalItem]:
    """DynaMath_Sample: 10 variant splits x 501 seed questions; ids are ``sample_variant<k>/<id>``."""
    _, files = find_one_layout(folder, "dynamath", [("parquet", "data/sample*-*.parquet"), ("parquet", "sample*-*.parquet")])
    items = []
    for path, index, row in read_parquet_files(files):
        match = _DYNAMATH_FILE.search(path.name)
        if match is None:
            raise EvalDataError(path, "file name does not say its variant (expected sample<k>-*.parquet)")
        split = f"sample_variant{int(match.group(1))}"
        seed_id = _text_id(row, "id", path, index)
        question = require(row, "question", path=path, index=index)
        answer_type = require(row, "answer_type", path=path, index=index)
        reference = {
            "answer": _text_id(row, "ground_truth", path, index),
            "answer_type": answer_type,
            "seed_id": seed_id,
            "variant": split,
            "choices": options_in_question(question) if answer_type == "multiple choice" else [],
        }
        image = image_from_cell(row.get("decoded_image") or row.get("image"), base=folder, path=path, index=index, field="decoded_image")
        items.append(EvalItem("dynamath", f"{split}/{seed_id}", question, reference, [image]))
    return check_unique_ids(items, files[0])


@register_loader("wemath")
def load_wemath(folder: Path, options: LoadOptions) -> list[EvalItem]:
    """WeMath testmini: 1,740 rows forming 525 composite problems (joined on ``ID``)."""
    layout, files = find_one_layout(
        folder, "wemath", [("parquet", "data/testmini-*.parquet"), ("parquet", "testmini-*.parquet"), ("json", "testmini.json"), ("json", "data/testmini.json")]
    )
    if layout == "parquet":
        rows = read_parquet_files(files)
    else:
        document = read_json(files[0])
        if not isinstance(document, list):
            raise EvalDataError(files[0], "expected a JSON list of rows")
        rows = [(files[0], i, r) for i, r in enumerate(document)]
    image_base = files[0].parent
    items = []
    for path, index, row in rows:
        problem = require(row, "ID", path=path, index=index)
        key = require(row, "key", path=path, index=index)
        option = require(row, "option", path=path, index=index)
        reference = {
            "answer": require(row, "answer", path=path, index=index),
            "problem": problem,
            "key": key,
            "choices": split_labelled_options(option),
        }
        prompt = prompts.wemath_prompt(require(row, "question", path=path, index=index), option)
        image = image_from_cell(row.get("image_path"), base=[image_base, folder], path=path, index=index, field="image_path")
        items.append(EvalItem("wemath", f"{problem}/{key}", prompt, reference, [image]))
    return check_unique_ids(items, files[0])


@register_loader("logicvista")
def load_logicvista(folder: Path, options: LoadOptions) -> list[EvalItem]:
    """LogicVista ``dataset.json`` (448 entries; the one with empty question and answer is dropped)."""
    _, files = find_one_layout(folder, "logicvista", [("json", "data/dataset.json"), ("json", "dataset.json")])
    path = files[0]
    document = read_json(path)
    if not isinstance(document, dict):
        raise EvalDataError(path, "expected a JSON object keyed v1_0, v1_1, ...")
    items = []
    for key, row in document.items():
        if not isinstance(row, dict):
            raise EvalDataError(path, "expected an object", row=key)
        question, answer = row.get("question", ""), row.get("answer", "")
        if isinstance(question, str) and isinstance(answer, str) and not question.strip() and not answer.strip():
            continue  # v1_382: released empty; the paper's 52.3 fits 447 items
        reference = {"answer": require(row, "answer", path=path, index=key), "skill": row.get("skill") or [], "question": question}
        imagename = require(row, "imagename", path=path, index=key)
        image = image_from_cell(imagename, base=path.parent / "images", path=path, index=key, field="imagename")
        prompt = prompts.logicvista_prompt(require(row, "question", path=path, index=key))
        items.append(EvalItem("logicvista", key, prompt, reference, [image]))
    return items


@register_loader("aime24")
def load_aime24(folder: Path, options: LoadOptions) -> list[EvalItem]:
    """HuggingFaceH4/aime_2024: 30 problems."""
    _, files = find_one_layout(folder, "aime24", [("parquet", "data/train-*.parquet"), ("parquet", "train-*.parquet")])
    items = [
        EvalItem(
            "aime24",
            _text_id(row, "id", path, index),
            require(row, "problem", path=path, index=index),
            {"answer": _text_id(row, "answer", path, index)},
        )
        for path, index, row in read_parquet_files(files)
    ]
    return check_unique_ids(items, files[0])


@register_loader("aime25")
def load_aime25(folder: Path, options: LoadOptions) -> list[EvalItem]:
    """opencompass/AIME2025: ``aime2025-I.jsonl`` + ``aime2025-II.jsonl``, ids ``<stem>/<line>``."""
    _, files = find_one_layout(folder, "aime25", [("jsonl", "aime2025-*.jsonl"), ("jsonl", "*/aime2025-*.jsonl")])
    items = []
    for path in files:
        for index, row in read_jsonl(path):
            items.append(
                EvalItem(
                    "aime25",
                    f"{path.stem}/{index}",
                    require(row, "question", path=path, index=index),
                    {"answer": _text_id(row, "answer", path, index)},
                )
            )
    return check_unique_ids(items, files[0])


@register_loader("gpqa_diamond")
def load_gpqa_diamond(folder: Path, options: LoadOptions) -> list[EvalItem]:
    """GPQA diamond CSV (198); options shuffled with a seed per ``Record ID``, order kept in the row."""
    _, files = find_one_layout(folder, "gpqa_diamond", [("csv", "gpqa_diamond.csv"), ("csv", "*/gpqa_diamond.csv")])
    path = files[0]
    items = []
    for index, row in enumerate(read_csv(path)):
        record_id = require(row, "Record ID", path=path, index=index)
        correct = require(row, "Correct Answer", path=path, index=index).strip()
        incorrect = [require(row, f"Incorrect Answer {k}", path=path, index=index).strip() for k in (1, 2, 3)]
        option_texts, gold = prompts.gpqa_options(record_id, correct, incorrect, seed=options.gpqa_seed)
        prompt = prompts.gpqa_prompt(require(row, "Question", path=path, index=index).strip(), option_texts)
        items.append(EvalItem("gpqa_diamond", record_id, prompt, {"answer": gold, "choices": option_texts}))
    return check_unique_ids(items, path)


@register_loader("math500")
def load_math500(folder: Path, options: LoadOptions) -> list[EvalItem]:
    """HuggingFaceH4/MATH-500 ``test.jsonl`` (500)."""
    _, files = find_one_layout(folder, "math500", [("jsonl", "test.jsonl"), ("jsonl", "*/test.jsonl")])
    path = files[0]
    items = [
        EvalItem(
            "math500",
            require(row, "unique_id", path=path, index=index),
            require(row, "problem", path=path, index=index),
            {"answer": require(row, "answer", path=path, index=index)},
        )
        for index, row in read_jsonl(path)
    ]
    return check_unique_ids(items, path)


_MMMU_ID = re.compile(r"^[a-z]+_(.+)_(\d+)$")


def _mmmu_order(item: EvalItem) -> tuple:
    """(subject, number) from ``validation_Art_Theory_12``: MMMU/MMMU keeps one file per subject,
    lmms-lab's copy (what lmms-eval reads) one file in this order, so both load alike."""
    match = _MMMU_ID.match(item.id)
    return (match.group(1), int(match.group(2))) if match else (item.id, 0)


@register_loader("mmmu")
def load_mmmu(folder: Path, options: LoadOptions) -> list[EvalItem]:
    """MMMU validation (900; 30 subjects), multiple choice and open questions, up to 7 images each."""
    from revisual_eval import mmmu

    split = options.splits.get("mmmu", "validation")
    _, files = find_one_layout(
        folder, "mmmu", [("parquet", f"*/{split}-*.parquet"), ("parquet", f"data/{split}-*.parquet"), ("parquet", f"{split}-*.parquet")]
    )
    items = []
    for path, index, row in read_parquet_files(files):
        question_type = require(row, "question_type", path=path, index=index)
        try:
            choices = mmmu.parse_options(row.get("options"))
        except (ValueError, SyntaxError) as exc:
            raise EvalDataError(path, f"not a list ({exc})", row=index, field="options") from None
        question = require(row, "question", path=path, index=index)
        reference = {"answer": require(row, "answer", path=path, index=index), "question_type": question_type, "choices": choices}
        # Images in the order of their first <image k> mention, as MMMU's own code passes them.
        numbers = sorted({int(k) for k in re.findall(r"<image (\d)>", question + "".join(choices))})
        images = [image_from_cell(row.get(f"image_{k}"), base=folder, path=path, index=index, field=f"image_{k}") for k in numbers]
        items.append(EvalItem("mmmu", _text_id(row, "id", path, index), prompts.mmmu_prompt(question, choices, question_type), reference, images))
    return check_unique_ids(sorted(items, key=_mmmu_order), files[0])


def limit_items(items: list[EvalItem], limit: int | None) -> list[EvalItem]:
    """The items of the first ``limit`` problems; DynaMath seeds and WeMath composites stay whole."""
    if limit is None:
        return items
    def unit(item: EvalItem) -> str:
        return item.reference.get("seed_id") or item.reference.get("problem") or item.id

    units = list(dict.fromkeys(unit(item) for item in items))
    keep = set(units[:limit])
    return [item for item in items if unit(item) in keep]
