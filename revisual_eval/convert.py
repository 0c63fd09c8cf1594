"""Responses made by another evaluation tool, as a run file that ``score`` reads.

lmms-eval (and lm-evaluation-harness, which writes the same format) with ``--log_samples`` writes
one JSONL per task, ``<date>_samples_<task>.jsonl``. Each line is one dataset row:

* ``doc``: the row's fields, without its images (for example MathVista's ``pid``);
* ``resps``: the raw generations, one entry per request, each a string or a list of strings (a
  task with ``repeats: 8`` has eight); ``filtered_resps`` is the same after the task's answer
  filters, so the raw ``resps`` are what we score;
* ``arguments``: the request arguments, the first being the prompt text;
* ``doc_id``, ``target`` and the task's own metrics.

Our id is built from ``doc`` with a template (``{pid}`` for MathVista). The converted rows carry no
reference, so they are scored with ``--data-root``.
"""

from __future__ import annotations

import json
from pathlib import Path

from revisual_eval.errors import EvalDataError
from revisual_eval.layouts import read_jsonl
from revisual_eval.paper import BENCHMARKS
from revisual_eval.runfiles import rewrite_rows, run_file

LMMS_EVAL_ID_TEMPLATES = {
    "mathverse": "{sample_index}",
    "mathvision": "{id}",
    "mathvista": "{pid}",
    "wemath": "{ID}/{key}",
    "math500": "{unique_id}",
}
"""Where lmms-eval's copy of a benchmark keeps our id. The others (DynaMath, LogicVista, AIME, GPQA)
come from other copies of the data in lmms-eval; give ``--id-template`` for them."""


def _responses(value, path: Path, index: int) -> list[str]:
    """The generations of one logged sample, in order, flattening one level of repeats."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        flat = []
        for entry in value:
            flat.extend(_responses(entry, path, index) if isinstance(entry, list) else [entry])
        if all(isinstance(text, str) for text in flat):
            return flat
    raise EvalDataError(path, f"expected strings (or lists of them), got {json.dumps(value)[:80]}", row=index, field="resps")


def lmms_eval_rows(path: str | Path, benchmark: str, id_template: str | None = None) -> list[dict]:
    """Run rows (``benchmark``, ``id``, ``sample``, ``response``, ``prompt``) from an lmms-eval
    samples JSONL; the k-th generation of a doc is sample k."""
    path = Path(path)
    if benchmark not in BENCHMARKS:
        raise EvalDataError(path, f"unknown benchmark {benchmark!r}; choose from {', '.join(BENCHMARKS)}")
    template = id_template or LMMS_EVAL_ID_TEMPLATES.get(benchmark)
    if template is None:
        raise EvalDataError(path, f"{benchmark}: no default id template for lmms-eval's copy; give --id-template, e.g. '{{id}}'")
    rows, seen = [], {}
    for index, sample in read_jsonl(path):
        doc = sample.get("doc")
        if not isinstance(doc, dict):
            raise EvalDataError(path, "missing (run lmms-eval with --log_samples)", row=index, field="doc")
        try:
            item_id = template.format_map(doc)
        except KeyError as exc:
            raise EvalDataError(path, f"no field {exc.args[0]!r} for the id template {template!r}", row=index, field="doc") from None
        if "resps" not in sample:
            raise EvalDataError(path, "missing", row=index, field="resps")
        if item_id in seen:
            raise EvalDataError(path, f"id {item_id!r} also made from row {seen[item_id]}; check --id-template", row=index, field="doc")
        seen[item_id] = index
        arguments = sample.get("arguments")
        prompt = arguments[0] if isinstance(arguments, list) and arguments and isinstance(arguments[0], str) else None
        for number, response in enumerate(_responses(sample["resps"], path, index)):
            row = {"benchmark": benchmark, "id": item_id, "sample": number, "response": response}
            if prompt is not None:
                row["prompt"] = prompt
            rows.append(row)
    if not rows:
        raise EvalDataError(path, "no samples in the file")
    return rows


def convert_lmms_eval(samples: str | Path, benchmark: str, run_dir: str | Path, id_template: str | None = None, overwrite: bool = False) -> Path:
    """Write ``RUN_DIR/<benchmark>.jsonl`` from an lmms-eval samples file; returns its path.

    An existing run file is kept (an error) unless ``overwrite``: it may hold generations of ours.
    """
    rows = lmms_eval_rows(samples, benchmark, id_template)
    target = run_file(Path(run_dir), benchmark)
    if target.exists() and not overwrite:
        raise EvalDataError(target, "exists already; pass --overwrite to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    rewrite_rows(target, rows)
    return target
