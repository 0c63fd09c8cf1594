"""Is the checkpoint verl is about to resume from intact? A cheap look before verl loads it.

verl loads ``global_step_N`` (the step its tracker file names) with ``torch.load`` in every worker;
a truncated shard then fails deep in a worker with ``PytorchStreamReader failed reading zip
archive``, naming no file. ``torch.save`` writes zip archives, so each ``*.pt`` file is checked by
reading its zip central directory (at the end of the file: a truncated file has none) and checking
that every member lies inside the file. JSON files must parse, and every rank of each
``*_world_size_W_rank_R.pt`` family must be there. No tensor is read.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from verl_ext.stages.merge import TRACKER_FILE

_STEP_DIR = re.compile(r"^global_step_(\d+)$")
_SHARD = re.compile(r"^(?P<family>.+)_world_size_(?P<world>\d+)_rank_(?P<rank>\d+)\.pt$")


class CorruptCheckpoint(RuntimeError):
    """The checkpoint to resume from is damaged (and no intact one was asked for or found)."""


def zip_problem(path: Path) -> str | None:
    """Why ``path`` is not a complete zip archive (``torch.save`` format), or None when it is."""
    size = path.stat().st_size
    if size == 0:
        return "empty file"
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                if member.header_offset + member.compress_size > size:
                    return f"member {member.filename} runs past the end of the file"
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        return f"not a complete zip archive ({error}); the file was probably truncated"
    return None


def missing_ranks(folder: Path) -> list[str]:
    """``family_world_size_W_rank_R.pt`` files absent for some R < W."""
    present: dict[tuple[str, int], set[int]] = {}
    for path in folder.glob("*.pt"):
        if match := _SHARD.match(path.name):
            present.setdefault((match["family"], int(match["world"])), set()).add(int(match["rank"]))
    return [
        str(folder / f"{family}_world_size_{world}_rank_{rank}.pt")
        for (family, world), ranks in sorted(present.items())
        for rank in range(world)
        if rank not in ranks
    ]


def checkpoint_problems(step_dir: str | os.PathLike) -> list[str]:
    """``"FILE: problem"`` for each damaged or missing file of one ``global_step_N`` folder; empty when intact."""
    step_dir = Path(step_dir)
    if not step_dir.is_dir():
        return [f"{step_dir}: the folder does not exist"]
    problems = []
    folders = [step_dir, *(p for p in sorted(step_dir.rglob("*")) if p.is_dir())]
    if not any(_SHARD.match(p.name) and p.name.startswith("model_") for d in folders for p in d.glob("*.pt")):
        problems.append(f"{step_dir}: no model_world_size_*_rank_*.pt shard")
    for folder in folders:
        problems += [f"{name}: missing" for name in missing_ranks(folder)]
        for path in sorted(folder.iterdir()):
            if path.suffix == ".pt" and path.is_file() and (problem := zip_problem(path)):
                problems.append(f"{path}: {problem}")
            elif path.suffix == ".json" and path.is_file():
                try:
                    json.loads(path.read_text())
                except (ValueError, UnicodeDecodeError) as error:
                    problems.append(f"{path}: unreadable JSON ({error})")
    return problems


def step_dirs(root: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(step, folder)`` of every ``global_step_N`` under ``root``, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_DIR.match(p.name)) and p.is_dir()]
    return sorted(found, reverse=True)


def read_tracker(root: str | os.PathLike) -> tuple[int | None, str | None]:
    """``(step, None)`` for the step verl's tracker file names (verl's ``auto`` resume loads exactly that one),
    ``(None, None)`` without a tracker, ``(None, "FILE: problem")`` for one verl would crash on.

    verl writes the tracker by opening it for writing and then writing: a full disk or a kill between
    the two leaves it empty, and verl's ``int()`` then fails after Ray started, naming no file."""
    tracker = Path(root) / TRACKER_FILE
    if not tracker.exists():
        return None, None
    try:
        text = tracker.read_text().strip()
    except (OSError, UnicodeDecodeError) as error:
        return None, f"{tracker}: unreadable tracker ({error})"
    if not text:
        return None, f"{tracker}: empty tracker file (a save was cut off between opening and writing it)"
    if not text.isdigit():
        return None, f"{tracker}: the tracker holds {text[:40]!r}, not a step number"
    return int(text), None


def tracked_step(root: str | os.PathLike) -> int | None:
    """The step verl's tracker file names, or None (no tracker, or one that names no step)."""
    return read_tracker(root)[0]


def latest_intact(root: str | os.PathLike, below: int | None = None) -> Path | None:
    """The newest ``global_step_N`` folder (N < ``below`` when given) that passes :func:`checkpoint_problems`."""
    for step, folder in step_dirs(root):
        if (below is None or step < below) and not checkpoint_problems(folder):
            return folder
    return None


@dataclass(frozen=True)
class ResumeChoice:
    """What a launch will resume from: ``folder`` None means from scratch; ``switched`` when we changed verl's choice."""

    folder: Path | None
    switched: bool = False
    note: str = ""


RESUME_MODES = ("auto", "disable", "resume_path")


def explicit_resume_target(resume_from_path: str, needs_actor: bool) -> Path:
    """``trainer.resume_from_path`` as a folder that exists and, for an RL stage, is an RL checkpoint."""
    target = Path(resume_from_path).resolve()
    if not target.exists():
        raise ValueError(f"trainer.resume_from_path={resume_from_path}: {target} does not exist; give a "
                         "global_step_N folder of this stage's checkpoints, or trainer.resume_mode=auto")
    if needs_actor and target.is_dir() and not (target / "actor").is_dir():
        raise ValueError(
            f"trainer.resume_from_path={target} is not an RL checkpoint: it has no actor/ folder (a stage-1 SFT "
            "step folder keeps its shards at the top). Give a global_step_N folder of a stage-2 or stage-3 run; "
            "to start RL from an SFT result, set actor_rollout_ref.model.path to its merged hf/ folder instead"
        )
    return target


def choose_resume_checkpoint(root: str | os.PathLike, resume_mode: str, resume_from_path: str | None,
                             on_corrupt: str, needs_actor: bool = False) -> ResumeChoice:
    """Check the checkpoint verl would load; with ``on_corrupt="use_intact"`` fall back to the newest intact one.

    ``needs_actor``: an RL stage, whose checkpoints hold ``actor/``. Raises :class:`CorruptCheckpoint`
    naming each damaged file (or the damaged tracker) and the intact checkpoint to use instead, and
    ``ValueError`` for settings that name no usable checkpoint.
    """
    if on_corrupt not in ("fail", "use_intact"):
        raise ValueError(f"trainer.on_corrupt_checkpoint must be 'fail' or 'use_intact', got {on_corrupt!r}")
    if resume_mode not in RESUME_MODES:
        raise ValueError(f"trainer.resume_mode must be one of {', '.join(RESUME_MODES)}, got {resume_mode!r}")
    root = Path(root).resolve()
    if resume_mode == "disable":
        return ResumeChoice(None)
    if resume_mode == "resume_path" and not resume_from_path:
        raise ValueError("trainer.resume_mode=resume_path needs trainer.resume_from_path=<a global_step_N folder>; "
                         "give it, or use trainer.resume_mode=auto to resume from the latest checkpoint under "
                         "trainer.default_local_dir")
    if resume_from_path:
        target = explicit_resume_target(resume_from_path, needs_actor)
    else:
        step, tracker_problem = read_tracker(root)
        if tracker_problem:
            return _damaged(f"the tracker of {root}", [tracker_problem], latest_intact(root), on_corrupt, root)
        if step is None:
            return ResumeChoice(None)
        target = root / f"global_step_{step}"
    problems = checkpoint_problems(target)
    if not problems:
        return ResumeChoice(target)
    step_match = _STEP_DIR.match(target.name)
    intact = latest_intact(target.parent, below=int(step_match.group(1)) if step_match else None)
    return _damaged(f"the checkpoint to resume from, {target},", problems, intact, on_corrupt, target.parent)


def _damaged(what: str, problems: list[str], intact: Path | None, on_corrupt: str, folder: Path) -> ResumeChoice:
    """Refuse naming the damage and the intact checkpoint, or (``use_intact``) resume from that one."""
    damage = f"{what} is damaged: " + "; ".join(problems[:8]) + (
        f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
    if intact is None:
        raise CorruptCheckpoint(
            f"{damage}. No intact earlier checkpoint is left under {folder}; start over with "
            "trainer.resume_mode=disable (the damaged folder is kept)."
        )
    if on_corrupt == "fail":
        raise CorruptCheckpoint(
            f"{damage}. The latest intact checkpoint is {intact}: resume from it with "
            "trainer.on_corrupt_checkpoint=use_intact, or start over with trainer.resume_mode=disable."
        )
    return ResumeChoice(intact, switched=True,
                        note=f"{damage}. Resuming from the latest intact checkpoint, {intact} "
                             "(trainer.on_corrupt_checkpoint=use_intact); the damaged folder is left as it is.")
