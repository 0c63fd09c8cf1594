"""Responses made by another evaluation tool, as a run file that ``score`` reads.

lmms-eval (and lm-evaluation-harness) with ``--log_samples`` writes, per task,
``<date>_samples_<task>.jsonl`` (one line per dataset row) and, once per run, ``<date>_results.json``
whose ``configs`` hold each task's config (dataset, split, target column). What a samples line holds
depends on the release, as ``EvaluationTracker.save_results_samples`` writes it:

* up to v0.3.5: ``doc`` (the row's fields without images), ``arguments``, ``resps``,
  ``filtered_resps``, ``doc_id``, ``target``;
* v0.4 to v0.6: ``doc`` and ``arguments`` are dropped, so only ``doc_id`` (the row's index in the
  task's split) says which row it was; ``resps`` (one list per request) is dropped when it equals
  ``filtered_resps``;
* v0.7 on: as v0.4, and a single request's wrapper list is removed (``resps`` becomes the list of
  generations, ``filtered_resps`` the one value), ``resps`` again dropped when equal.

Ids: with ``doc`` (v0.3.5) they come from a template over its fields (``{pid}`` for MathVista).
Without it the data root is read with the split of the task config, and ``doc_id`` picks the item;
the line's ``target`` must equal that item's answer, so a task that read another copy or order of
the data is refused instead of scored against the wrong references. Without a data root the rows
keep ``doc_id`` as the id and ``target`` as the reference answer.

Responses: the raw ``resps`` where written, else ``filtered_resps`` (then equal to them).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from revisual_eval.errors import EvalDataError
from revisual_eval.layouts import benchmark_dir, read_jsonl
from revisual_eval.paper import BENCHMARKS
from revisual_eval.runfiles import rewrite_rows, run_file

LMMS_EVAL_ID_TEMPLATES = {
    "mathverse": "{sample_index}",
    "mathvision": "{id}",
    "mathvista": "{pid}",
    "wemath": "{ID}/{key}",
    "math500": "{unique_id}",
    "mmmu": "{id}",
}
"""Where a v0.3.5 ``doc`` keeps our id. Later releases write no ``doc``: ids then come from ``doc_id``
and the data root."""

LMMS_EVAL_DATASETS = {
    "AI4Math/MathVista": "mathvista",
    "CaraJ/MathVerse-lmmseval": "mathverse",
    "MathLLMs/MathVision": "mathvision",
    "lmms-lab/MMMU": "mmmu",
    "lmms-lab-encoder/MMMU": "mmmu",
    "MMMU/MMMU": "mmmu",
}
"""The benchmark of a task, from the ``dataset_path`` of its config."""

LMMS_EVAL_TASK_PREFIXES = {"mathvista_": "mathvista", "mathverse_": "mathverse", "mathvision_": "mathvision", "mmmu_val": "mmmu"}
"""The benchmark of a task, from its name, when no task config is found."""

_SAMPLES_NAME = re.compile(r"^(?P<date>.+?)_samples_(?P<task>.+)\.jsonl$")


def task_of(samples: Path) -> tuple[str | None, str | None]:
    """(date id, task name) from ``<date>_samples_<task>.jsonl``; (None, None) for another name."""
    match = _SAMPLES_NAME.match(samples.name)
    return (match.group("date"), match.group("task")) if match else (None, None)


def find_task_config(samples: Path, results: Path | None = None) -> dict | None:
    """The task's config from ``<date>_results.json`` beside the samples (or ``results``); None if
    there is none. A results file that exists but does not hold the task is an error."""
    date, task = task_of(samples)
    if results is None:
        if task is None:
            return None
        beside = samples.with_name(f"{date}_results.json")
        if not beside.exists():
            return None
        results = beside
    try:
        document = json.loads(Path(results).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise EvalDataError(results, f"not readable as JSON ({exc})") from None
    configs = document.get("configs") if isinstance(document, dict) else None
    if not isinstance(configs, dict):
        raise EvalDataError(results, "missing (not an lmms-eval results file?)", field="configs")
    if task is None and len(configs) == 1:
        return next(iter(configs.values()))
    if task not in configs:
        raise EvalDataError(results, f"no config for task {task!r}; it has {', '.join(sorted(configs)) or 'none'}", field="configs")
    return configs[task]


def benchmark_of(samples: Path, config: dict | None) -> str | None:
    """The benchmark a samples file is for, from its task config's dataset or its task name."""
    if config and config.get("dataset_path") in LMMS_EVAL_DATASETS:
        return LMMS_EVAL_DATASETS[config["dataset_path"]]
    task = (config or {}).get("task") or task_of(samples)[1] or ""
    for prefix, benchmark in LMMS_EVAL_TASK_PREFIXES.items():
        if task.startswith(prefix):
            return benchmark
    return None


def _responses(value, path: Path, index: int, field: str) -> list[str]:
    """The generations of one logged sample, in order, flattening the per-request lists."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        flat = []
        for entry in value:
            flat.extend(_responses(entry, path, index, field) if isinstance(entry, list) else [entry])
        if all(isinstance(text, str) for text in flat):
            return flat
    raise EvalDataError(path, f"expected strings (or lists of them), got {json.dumps(value)[:80]}", row=index, field=field)


def _same_answer(target, answer) -> bool:
    return " ".join(str(target).split()) == " ".join(str(answer).split())


def _data_items(benchmark: str, config: dict | None, data_root: Path, paths: dict | None):
    from revisual_eval.loaders import LOADERS, LoadOptions

    split = (config or {}).get("test_split")
    options = LoadOptions(splits={benchmark: split} if split else {})
    return LOADERS[benchmark](benchmark_dir(Path(data_root), benchmark, paths), options), split


def lmms_eval_rows(
    path: str | Path,
    benchmark: str | None = None,
    id_template: str | None = None,
    *,
    data_root: str | Path | None = None,
    paths: dict | None = None,
    results: str | Path | None = None,
) -> list[dict]:
    """Run rows (``benchmark``, ``id``, ``sample``, ``response``, and ``prompt`` or ``reference``
    where the file has them) from an lmms-eval samples JSONL; the k-th generation of a doc is
    sample k. ``benchmark`` defaults to the one the task config or file name names."""
    path = Path(path)
    if not path.is_file():
        raise EvalDataError(path, "no such file")
    config = find_task_config(path, Path(results) if results else None)
    benchmark = benchmark or benchmark_of(path, config)
    if benchmark is None:
        raise EvalDataError(path, "cannot tell which benchmark this task is; give --benchmark")
    if benchmark not in BENCHMARKS:
        raise EvalDataError(path, f"unknown benchmark {benchmark!r}; choose from {', '.join(BENCHMARKS)}")
    if config and config.get("output_type", "generate_until") != "generate_until":
        raise EvalDataError(path, f"task output_type {config['output_type']!r}: only generate_until tasks have responses to score")
    template = id_template or LMMS_EVAL_ID_TEMPLATES.get(benchmark)
    items = split = None
    rows, seen = [], {}
    for index, sample in read_jsonl(path):
        doc = sample.get("doc")
        if isinstance(doc, dict):  # v0.3.5 and earlier
            if template is None:
                raise EvalDataError(path, f"{benchmark}: no default id template for lmms-eval's copy; give --id-template, e.g. '{{id}}'")
            try:
                item_id = template.format_map(doc)
            except KeyError as exc:
                raise EvalDataError(path, f"no field {exc.args[0]!r} for the id template {template!r}", row=index, field="doc") from None
            reference = None
        else:
            doc_id = sample.get("doc_id")
            if not isinstance(doc_id, int) or isinstance(doc_id, bool) or doc_id < 0:
                raise EvalDataError(path, f"expected the row's index in the task's split, got {doc_id!r:.40}", row=index, field="doc_id")
            if "target" not in sample:
                raise EvalDataError(path, "missing", row=index, field="target")
            if config and config.get("process_docs") and data_root is not None:
                # doc_id counts the rows process_docs kept, which the data root's order does not say.
                raise EvalDataError(path, f"task {config.get('task')!r} filters its rows (process_docs), so doc_id is not a row of the data; "
                                    "convert without --data-root")
            if data_root is not None:
                if items is None:
                    items, split = _data_items(benchmark, config, Path(data_root), paths)
                if doc_id >= len(items):
                    raise EvalDataError(path, f"{doc_id} is past the {len(items)} items of the data root's {benchmark} {split or ''}".rstrip(),
                                        row=index, field="doc_id")
                item = items[doc_id]
                if not _same_answer(sample["target"], item.reference.get("answer")):
                    raise EvalDataError(path, f"{sample['target']!r:.60} is not the answer of the data root's item {doc_id} "
                                        f"({item.id}: {item.reference.get('answer')!r:.60}); the task read another copy or split",
                                        row=index, field="target")
                item_id, reference = item.id, None
            else:
                item_id, reference = str(doc_id), {"answer": str(sample["target"])}
        field = "resps" if "resps" in sample else "filtered_resps"
        if field not in sample:
            raise EvalDataError(path, "missing, and no resps either", row=index, field="filtered_resps")
        if item_id in seen:
            raise EvalDataError(path, f"id {item_id!r} also made from row {seen[item_id]}; check --id-template", row=index)
        seen[item_id] = index
        arguments = sample.get("arguments")
        prompt = sample.get("input") if isinstance(sample.get("input"), str) else None
        if prompt is None and isinstance(arguments, list) and arguments and isinstance(arguments[0], str):
            prompt = arguments[0]
        for number, response in enumerate(_responses(sample[field], path, index, field)):
            row = {"benchmark": benchmark, "id": item_id, "sample": number, "response": response}
            if prompt is not None:
                row["prompt"] = prompt
            if reference is not None:
                row["reference"] = reference
            rows.append(row)
    if not rows:
        raise EvalDataError(path, "no samples in the file")
    return rows


def convert_lmms_eval(samples: str | Path, benchmark: str | None, run_dir: str | Path, id_template: str | None = None,
                      overwrite: bool = False, *, data_root=None, paths=None, results=None) -> Path:
    """Write ``RUN_DIR/<benchmark>.jsonl`` from an lmms-eval samples file; returns its path.

    An existing run file is kept (an error) unless ``overwrite``: it may hold generations of ours.
    """
    rows = lmms_eval_rows(samples, benchmark, id_template, data_root=data_root, paths=paths, results=results)
    target = run_file(Path(run_dir), rows[0]["benchmark"])
    if target.exists() and not overwrite:
        raise EvalDataError(target, "exists already; pass --overwrite to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    rewrite_rows(target, rows)
    return target
