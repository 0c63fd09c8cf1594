"""lmms-eval's own file writers, re-expressed for test fixtures (lmms-eval is not installed here).

Read from EvolvingLMMs-Lab/lmms-eval at its tags v0.3.5, v0.4, v0.5, v0.6, v0.7, v0.7.1, v0.7.2 and
main (75571cfe): ``lmms_eval/loggers/evaluation_tracker.py`` (``save_results_samples``,
``save_results_aggregated``) and ``lmms_eval/evaluator.py`` (the ``example`` dict each doc becomes
before the writer sees it, and ``results["configs"]``). v0.4 to v0.6 write samples identically,
as do v0.7 to main. Each function below does, step by step, what that release's writer does to
the record, so the fixtures are the files lmms-eval puts on disk, not the record it holds in memory.
"""

from __future__ import annotations

import json
from pathlib import Path

WRITERS = ("0.3.5", "0.4", "0.7")
"""One writer per distinct on-disk format: 0.3.5, 0.4 (v0.4-v0.6), 0.7 (v0.7-main)."""


def evaluator_record(doc_id: int, doc: dict, target: str, prompt: str, generations: list[str], filtered: str | None = None,
                     task: str = "task", split: str = "test") -> dict:
    """What ``evaluator.py`` hands the writer for a generate_until doc with one request.

    ``req.resps`` is the list of generations (``repeats`` of them); the task's default filter,
    take_first, makes ``filtered_resps`` the first (or ``filtered`` when the task has its own
    filter). ``arguments`` are the request args that serialise: the context, the generation
    kwargs, the doc id, the task and the split (the visual function is left out)."""
    return {
        "doc_id": doc_id,
        "doc": dict(doc),
        "target": target,
        "arguments": [prompt, {"max_new_tokens": 16, "until": ["\n\n"]}, doc_id, task, split],
        "resps": [list(generations)],
        "filtered_resps": [generations[0] if filtered is None else filtered],
        "doc_hash": f"hash-{doc_id}",
        "llm_as_judge_eval": 0,
    }


def _stringify(value):
    """``sanitize_list``: nested lists (and tuples) kept, every leaf turned into a string."""
    if isinstance(value, list):
        return [_stringify(entry) for entry in value]
    if isinstance(value, tuple):
        return tuple(_stringify(entry) for entry in value)
    return str(value)


def written_line(record: dict, writer: str) -> str:
    """The JSONL line ``save_results_samples`` of release ``writer`` appends for ``record``."""
    sample = json.loads(json.dumps(record))
    sample["input"] = sample["arguments"][0]
    sample["resps"] = _stringify(sample["resps"])
    sample["filtered_resps"] = _stringify(sample["filtered_resps"])
    if writer == "0.3.5":
        # The second request argument (the generation kwargs) is kept as a dict keyed 0, 1, ...
        sample["arguments"] = {key: value for key, value in enumerate(sample["arguments"][1])}
    elif writer == "0.4":
        if sample["filtered_resps"] == sample["resps"][0] or sample["filtered_resps"] == sample["resps"]:
            del sample["resps"]
        del sample["arguments"], sample["doc"]
    elif writer == "0.7":
        # One request per doc: its wrapper list goes, from resps and filtered_resps alike.
        if isinstance(sample["resps"], list) and len(sample["resps"]) == 1:
            sample["resps"] = sample["resps"][0]
        if isinstance(sample["filtered_resps"], list) and len(sample["filtered_resps"]) == 1:
            sample["filtered_resps"] = sample["filtered_resps"][0]
        raw, kept = sample["resps"], sample["filtered_resps"]
        if raw == kept or (isinstance(raw, list) and len(raw) == 1 and raw[0] == kept):
            del sample["resps"]
        del sample["arguments"], sample["doc"]
    else:
        raise ValueError(f"unknown writer {writer!r}; one of {WRITERS}")
    sample["target"] = str(sample["target"])
    return json.dumps(sample, ensure_ascii=False) + "\n"


def write_run(out: Path, task: str, records: list[dict], config: dict, writer: str, date_id: str = "20260101_120000") -> Path:
    """An lmms-eval output folder: ``<date>_results.json`` (with the task config under ``configs``)
    and ``<date>_samples_<task>.jsonl``, appended line by line as the writer does. Returns the
    samples file."""
    out.mkdir(parents=True, exist_ok=True)
    results = {"results": {task: {"alias": task}}, "configs": {task: {"task": task, **config}}, "versions": {task: 0.0},
               "n-samples": {task: {"original": len(records), "effective": len(records)}}, "task_hashes": {}}
    (out / f"{date_id}_results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    samples = out / f"{date_id}_samples_{task}.jsonl"
    for record in records:
        with open(samples, "a", encoding="utf-8") as handle:
            handle.write(written_line(record, writer))
    return samples


MATHVISTA_CONFIG = {"dataset_path": "AI4Math/MathVista", "test_split": "testmini", "output_type": "generate_until",
                    "doc_to_target": "answer", "doc_to_text": "<function mathvista_doc_to_text at 0x7f00>", "repeats": 1}
MATHVERSE_CONFIG = {"dataset_path": "CaraJ/MathVerse-lmmseval", "dataset_name": "testmini", "test_split": "testmini",
                    "output_type": "generate_until", "doc_to_target": "answer", "repeats": 1}
MMMU_CONFIG = {"dataset_path": "lmms-lab-encoder/MMMU", "test_split": "validation", "output_type": "generate_until",
               "doc_to_target": "answer", "repeats": 1}
