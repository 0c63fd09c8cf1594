"""Tiny copies of the eleven benchmarks in their release layouts, for the CPU demo and the tests.

A few rows each, with real PNG images, in the same files, columns and types as the public copies
(see ``docs/evaluation.md``); the questions are toy ones with known answers.

    python -m revisual_eval fixtures --out DIR
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path


def png_bytes(seed: int, size: int = 56) -> bytes:
    """A small PNG with a seed-dependent colour and box, so images differ between rows."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), ((seed * 53) % 256, (seed * 97) % 256, (seed * 31) % 256))
    ImageDraw.Draw(image).rectangle([size // 4, size // 4, size // 2 + seed % (size // 4), size * 3 // 4], fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def hf_image(seed: int, name: str) -> dict:
    """An HF ``Image`` cell as parquet stores it."""
    return {"bytes": png_bytes(seed), "path": name}


def write_parquet(path: Path, rows: list[dict]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def mathverse_rows() -> list[dict]:
    question_mc = "As shown in the figure, what is the angle?\nChoices:\nA:40°\nB:60°\nC:80°"
    rows = []
    for index, (version, question, answer, kind) in enumerate(
        [
            ("Text Dominant", question_mc, "B", "multi-choice"),
            ("Vision Only", "", "B", "multi-choice"),
            ("Text Lite", "How long is the side AB?", "4.4 m", "free-form"),
        ],
        start=1,
    ):
        rows.append(
            {
                "sample_index": str(index),
                "problem_index": str((index + 1) // 2),
                "problem_version": version,
                "question": question,
                "image": hf_image(index, f"images/{index}.png"),
                "answer": answer,
                "question_type": kind,
                "metadata": {"split": "testmini", "source": "toy", "subject": "plane geometry", "subfield": "angle"},
                "query_wo": question,
                "query_cot": f"Please first conduct reasoning, and then answer the question.\nQuestion: {question}",
                "question_for_eval": question,
            }
        )
    return rows


def write_fixture_data(root: str | Path) -> Path:
    """Write every benchmark's fixture under ``root``; returns ``root``."""
    root = Path(root)
    write_parquet(root / "mathverse" / "testmini.parquet", mathverse_rows())
    write_parquet(
        root / "mathvision" / "data" / "test-00000-of-00001.parquet",
        [
            {"id": "1", "question": "<image1>\nWhich shape is white?", "options": ["circle", "box", "star"], "image": "images/1.jpg",
             "decoded_image": hf_image(11, "images/1.jpg"), "answer": "B", "solution": None, "level": 1, "subject": "counting"},
            {"id": "2", "question": "<image1>\nHow many boxes?", "options": [], "image": "images/2.jpg",
             "decoded_image": hf_image(12, "images/2.jpg"), "answer": "1", "solution": None, "level": 2, "subject": "counting"},
            {"id": "3", "question": "<image1>\nWhich one?", "options": ["A", "B", "C", "D", "E"], "image": "images/3.jpg",
             "decoded_image": hf_image(13, "images/3.jpg"), "answer": "D", "solution": None, "level": 3, "subject": "logic"},
        ],
    )
    vista_common = {"unit": None, "metadata": {"category": "math", "context": "toy", "grade": "elementary", "img_height": 56,
                    "img_width": 56, "language": "english", "skills": ["arithmetic"], "source": "toy", "split": "testmini", "task": "toy"}}
    write_parquet(
        root / "mathvista" / "data" / "testmini-00000-of-00001.parquet",
        [
            {"pid": "1", "question": "What colour is the box?", "image": "images/1.png", "decoded_image": hf_image(21, "images/1.png"),
             "choices": ["red", "white"], "precision": None, "answer": "white", "question_type": "multi_choice", "answer_type": "text",
             "query": "Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.\n"
                      "Question: What colour is the box?\nChoices:\n(A) red\n(B) white", **vista_common},
            {"pid": "2", "question": "What is the ratio?", "image": "images/2.png", "decoded_image": hf_image(22, "images/2.png"),
             "choices": None, "precision": 1.0, "answer": "0.3", "question_type": "free_form", "answer_type": "float",
             "query": "Hint: Please answer the question requiring a floating-point number with one decimal place.\nQuestion: What is the ratio?",
             **vista_common},
        ],
    )
    for variant in (1, 2):
        write_parquet(
            root / "dynamath" / "data" / f"sample{variant}-00000-of-00001.parquet",
            [
                {"id": "1", "question": f"What is {variant} + 0.5?", "image": "image/image1.png", "decoded_image": hf_image(30 + variant, "image1.png"),
                 "ground_truth": str(variant + 0.5), "answer_type": "float", "subject": "arithmetic", "knowledge_level": "elementary school"},
                {"id": "2", "question": "Is the box white? Choices: (A) yes (B) no", "image": "image/image2.png",
                 "decoded_image": hf_image(40 + variant, "image2.png"), "ground_truth": "A", "answer_type": "multiple choice",
                 "subject": "graph theory", "knowledge_level": "high school"},
            ],
        )
    wemath = []
    for problem, keys, answers in (("2steps_1", ["2steps_1", "2steps_2", "2steps_multi"], "ABC"),
                                   ("3steps_1", ["3steps_1", "3steps_2", "3steps_3", "3steps_multi"], "ABCD")):
        for number, (key, answer) in enumerate(zip(keys, answers), start=1):
            wemath.append({"ID": problem, "split": "testmini", "knowledge concept": "area", "question": f"Step {key}: which value?",
                           "option": "A. 1;B. 2;C. 3;D. 4;E. No correct answer", "answer": answer,
                           "image_path": hf_image(50 + len(wemath), f"{key}.png"), "key": key, "question number": number,
                           "knowledge concept description": "toy"})
    write_parquet(root / "wemath" / "data" / "testmini-00000-of-00001.parquet", wemath)
    logic_dir = root / "logicvista" / "data"
    (logic_dir / "images").mkdir(parents=True, exist_ok=True)
    logic = {}
    for index, answer in enumerate(["A", "B, D", "", "C"]):
        name = f"{index}.png"
        (logic_dir / "images" / name).write_bytes(png_bytes(60 + index))
        question = "" if not answer else "Which figure comes next? Select from A, B, C, D. (A) x (B) y (C) z (D) w"
        logic[f"v1_{index}"] = {"imagename": name, "question": question, "answer": answer, "reasoning": "toy",
                                "skill": ["inductive"], "broad_capability": ["diagram"], "specific_capability": ["patterns"],
                                "imagesource": "toy", "sourcelink": "", "liscenced": True}
    (logic_dir / "dataset.json").write_text(json.dumps(logic, indent=1))
    write_parquet(
        root / "aime24" / "data" / "train-00000-of-00001.parquet",
        [{"id": 60 + i, "problem": f"Compute {i} + {i}.", "solution": "toy", "answer": str(2 * i), "url": "", "year": "2024"} for i in (1, 2)],
    )
    write_jsonl(root / "aime25" / "aime2025-I.jsonl", [{"question": "Compute 3 * 3.", "answer": "9"}])
    write_jsonl(root / "aime25" / "aime2025-II.jsonl", [{"question": "Compute 5 * 5.", "answer": "25"}])
    gpqa_path = root / "gpqa_diamond" / "gpqa_diamond.csv"
    gpqa_path.parent.mkdir(parents=True, exist_ok=True)
    header = ["Pre-Revision Question", "Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3",
              "Explanation", "Record ID", "High-level domain", "Subdomain"]
    with open(gpqa_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        for i, (question, correct, wrong) in enumerate([("Which gas is inert?", "argon", ["oxygen", "chlorine", "fluorine"]),
                                                         ("What is the charge of an electron?", "negative", ["positive", "zero", "two"])]):
            writer.writerow({"Pre-Revision Question": question, "Question": question, "Correct Answer": correct,
                             "Incorrect Answer 1": wrong[0], "Incorrect Answer 2": wrong[1], "Incorrect Answer 3": wrong[2],
                             "Explanation": "toy", "Record ID": f"rec{i}", "High-level domain": "Chemistry", "Subdomain": "toy"})
    write_jsonl(
        root / "math500" / "test.jsonl",
        [
            {"problem": "Simplify 2/4.", "solution": "toy", "answer": "\\frac{1}{2}", "subject": "Algebra", "level": 1, "unique_id": "test/algebra/1.json"},
            {"problem": "Give the point (5, pi/2).", "solution": "toy", "answer": "\\left( 5, \\frac{\\pi}{2} \\right)", "subject": "Precalculus",
             "level": 2, "unique_id": "test/precalculus/807.json"},
        ],
    )
    mmmu_common = {"explanation": "", "img_type": "['Diagrams']", "topic_difficulty": "Easy", "subfield": "toy"}
    for subject, rows in (
        ("Accounting", [
            {"id": "validation_Accounting_1", "question": "<image 1> Which colour is the box?", "options": "['red', 'white', 'blue']",
             "answer": "B", "question_type": "multiple-choice"},
            {"id": "validation_Accounting_2", "question": "What is 1.5 + 2? <image 1>", "options": "[]", "answer": "3.5",
             "question_type": "open"},
        ]),
        ("Math", [
            {"id": "validation_Math_1", "question": "Which is the larger one, <image 1> or <image 2>?", "options": "['left', 'right']",
             "answer": "A", "question_type": "multiple-choice"},
        ]),
    ):
        cells = []
        for number, row in enumerate(rows):
            images = {f"image_{k}": (hf_image(70 + 3 * number + k, f"{k}.png") if f"<image {k}>" in row["question"] else None) for k in range(1, 8)}
            cells.append({**row, **images, **mmmu_common})
        write_parquet(root / "mmmu" / subject / "validation-00000-of-00001.parquet", cells)
    return root
