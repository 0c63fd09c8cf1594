"""What a complete stage output is, and the atomic marker that says a stage produced one.

A stage directory looks like::

    <stage_dir>/checkpoints/global_step_N/...   verl's checkpoints (resume)
    <stage_dir>/metrics/*.jsonl                  one metrics file per launch
    <stage_dir>/logs/*.log                       one log per launch (pipeline)
    <stage_dir>/hf/                              the merged Hugging Face model: the next stage's input
    <stage_dir>/COMPLETE.json                    written last, atomically, after the merge succeeded

The marker alone is not trusted: the next stage also checks that the model folder it names has every
file a Hugging Face VL model needs, so a deleted or truncated folder is refused with the missing names.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

MARKER_NAME = "COMPLETE.json"
MODEL_SUBDIR = "hf"
# Files without which transformers cannot rebuild the model, tokenizer and chat prompt.
REQUIRED_FILES = ("config.json", "tokenizer_config.json", "tokenizer.json")
# Needed only by vision-language models (their config has a vision_config).
REQUIRED_VL_FILES = ("preprocessor_config.json",)
# Files the merge copies from the input model when verl's merger does not write them.
SUPPORT_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
    "preprocessor_config.json",
    "processor_config.json",
    "video_preprocessor_config.json",
    "generation_config.json",
)


class IncompleteStageOutput(RuntimeError):
    """A stage's input (the previous stage's output) is missing or partial."""


def _weight_files_missing(model_dir: Path) -> list[str]:
    index = model_dir / "model.safetensors.index.json"
    if index.exists():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (ValueError, KeyError) as err:
            return [f"model.safetensors.index.json (unreadable: {err})"]
        return [name for name in shards if not (model_dir / name).is_file() or (model_dir / name).stat().st_size == 0]
    single = model_dir / "model.safetensors"
    if single.is_file() and single.stat().st_size > 0:
        return []
    if (model_dir / "pytorch_model.bin").is_file():
        return []
    return ["model.safetensors (or model.safetensors.index.json with its shards)"]


def missing_model_files(model_dir: str | os.PathLike) -> list[str]:
    """Names of the files a loadable Hugging Face (VL) model folder lacks; empty when it is complete."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return [f"the folder itself ({model_dir})"]
    missing = [name for name in REQUIRED_FILES if not (model_dir / name).is_file()]
    config_path = model_dir / "config.json"
    if config_path.is_file():
        try:
            is_vl = "vision_config" in json.loads(config_path.read_text())
        except ValueError as err:
            missing.append(f"config.json (unreadable: {err})")
            is_vl = False
        if is_vl:
            missing += [name for name in REQUIRED_VL_FILES if not (model_dir / name).is_file()]
    return missing + _weight_files_missing(model_dir)


def write_json_atomic(path: str | os.PathLike, payload: dict) -> Path:
    """Write JSON through a temporary file and ``os.replace``: readers see the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def write_complete_marker(stage_dir: str | os.PathLike, info: dict) -> Path:
    """Mark ``stage_dir`` complete. Call only after the merged model passed :func:`missing_model_files`."""
    return write_json_atomic(Path(stage_dir) / MARKER_NAME, info)


def read_complete_marker(stage_dir: str | os.PathLike) -> dict | None:
    """The marker's content, or None when there is none or it is not valid JSON (treated as incomplete)."""
    path = Path(stage_dir) / MARKER_NAME
    try:
        payload = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def stage_output_problems(stage_dir: str | os.PathLike) -> list[str]:
    """Why ``stage_dir`` is not a complete stage output (empty list: it is)."""
    stage_dir = Path(stage_dir)
    if not stage_dir.is_dir():
        return [f"the stage folder {stage_dir} does not exist"]
    marker = read_complete_marker(stage_dir)
    model_dir = Path(marker.get("output_path", stage_dir / MODEL_SUBDIR)) if marker else stage_dir / MODEL_SUBDIR
    problems = []
    if marker is None:
        problems.append(f"{MARKER_NAME} (the stage never finished its merge)")
    problems += [f"{model_dir}/{name}" if not name.startswith("the folder") else name for name in missing_model_files(model_dir)]
    return problems


def require_complete_stage_output(stage_name: str, stage_dir: str | os.PathLike, needed_by: str) -> Path:
    """Return the merged model folder of a finished stage, or raise naming the path and what is missing."""
    problems = stage_output_problems(stage_dir)
    if problems:
        raise IncompleteStageOutput(
            f"{needed_by} needs the complete output of {stage_name} at {Path(stage_dir).resolve()}, "
            f"but it is missing or partial; missing: {'; '.join(problems)}. "
            f"Rerun {stage_name} (the pipeline resumes it from its last checkpoint)."
        )
    marker = read_complete_marker(stage_dir) or {}
    return Path(marker.get("output_path", Path(stage_dir) / MODEL_SUBDIR)).resolve()


def require_model_dir(model_dir: str | os.PathLike, needed_by: str) -> Path:
    """Refuse a model folder (e.g. a user-given stage input) that lacks files, naming them."""
    missing = missing_model_files(model_dir)
    if missing:
        raise IncompleteStageOutput(
            f"{needed_by}: the model folder {Path(model_dir).resolve()} is missing or partial; missing: {'; '.join(missing)}"
        )
    return Path(model_dir).resolve()
