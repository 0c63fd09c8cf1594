"""Turn a stage's last verl checkpoint into a Hugging Face model folder the next stage can load.

verl writes FSDP shards per rank (``global_step_N/`` for the SFT trainer, ``global_step_N/actor/``
for the RL trainers); its model merger (``python -m verl.model_merger merge --backend fsdp``) gathers
them into safetensors. The merger does not always write the processor and chat-template files a VL
model needs, so those are copied from the checkpoint's ``huggingface/`` folder or the stage's input
model. The result is built in a temporary sibling, checked, and renamed into place: a crash never
leaves a folder that looks complete.

    python -m verl_ext.stages.merge --checkpoints outputs/stage2/checkpoints --out outputs/stage2/hf --source MODEL
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from verl_ext.tempdirs import built_in_place
from verl_ext.stages.outputs import SUPPORT_FILES, IncompleteStageOutput, missing_model_files

TRACKER_FILE = "latest_checkpointed_iteration.txt"
_STEP_DIR = re.compile(r"^global_step_(\d+)$")


def latest_checkpoint(checkpoint_root: str | os.PathLike) -> tuple[int, Path] | None:
    """``(step, folder)`` of the checkpoint verl would resume from, or None when there is none.

    verl writes its tracker file last, so the step it names is complete; without a tracker the
    highest ``global_step_N`` folder is taken.
    """
    root = Path(checkpoint_root)
    tracker = root / TRACKER_FILE
    if tracker.is_file():
        text = tracker.read_text().strip()
        if text.isdigit() and (root / f"global_step_{text}").is_dir():
            return int(text), root / f"global_step_{text}"
    steps = [(int(m.group(1)), p) for p in root.glob("global_step_*") if (m := _STEP_DIR.match(p.name)) and p.is_dir()]
    return max(steps) if steps else None


def model_shard_dir(step_dir: str | os.PathLike) -> Path:
    """The folder holding the model shards: ``actor/`` in RL checkpoints, the step folder itself in SFT ones."""
    step_dir = Path(step_dir)
    return step_dir / "actor" if (step_dir / "actor").is_dir() else step_dir


def copy_support_files(target: Path, sources: list[Path]) -> list[str]:
    """Copy tokenizer/processor/chat-template files the target lacks from the first source that has them."""
    copied = []
    for name in SUPPORT_FILES:
        if (target / name).exists():
            continue
        for source in sources:
            if (source / name).is_file():
                shutil.copy2(source / name, target / name)
                copied.append(name)
                break
    return copied


def run_verl_merger(shard_dir: Path, target_dir: Path) -> None:
    """Run verl's FSDP model merger in a child process (it loads every shard; its memory is freed on exit)."""
    cmd = [sys.executable, "-m", "verl.model_merger", "merge", "--backend", "fsdp",
           "--local_dir", str(shard_dir), "--target_dir", str(target_dir)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise RuntimeError(f"verl model merger failed on {shard_dir} (exit {result.returncode}):\n{tail}")


def merge_checkpoint(step_dir: str | os.PathLike, out_dir: str | os.PathLike, source_model: str | os.PathLike | None = None) -> Path:
    """Merge one checkpoint step into ``out_dir`` (replaced atomically); returns ``out_dir``."""
    shard_dir = model_shard_dir(step_dir)
    out = Path(out_dir).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    # A merge killed half-way left its folder here; the next merge (under the run's lock) removes it.
    with built_in_place(out, f".{out.name}.merging.") as tmp:
        run_verl_merger(shard_dir, tmp)
        sources = [shard_dir / "huggingface"] + ([Path(source_model)] if source_model else [])
        copy_support_files(tmp, [s for s in sources if s.is_dir()])
        missing = missing_model_files(tmp)
        if missing:
            raise IncompleteStageOutput(
                f"merging {shard_dir} produced an incomplete model folder; missing: {'; '.join(missing)}"
            )
    return out


def merge_latest_checkpoint(checkpoint_root: str | os.PathLike, out_dir: str | os.PathLike,
                            source_model: str | os.PathLike | None = None) -> Path:
    """Merge the checkpoint verl would resume from; raise naming the folder when there is none."""
    found = latest_checkpoint(checkpoint_root)
    if found is None:
        raise IncompleteStageOutput(
            f"no checkpoint to merge under {Path(checkpoint_root).resolve()} (no global_step_N folder); "
            "the stage must save at its last step (trainer.save_freq > 0)"
        )
    return merge_checkpoint(found[1], out_dir, source_model)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", required=True, help="a stage's trainer.default_local_dir")
    parser.add_argument("--out", required=True, help="the Hugging Face folder to write")
    parser.add_argument("--source", help="the stage's input model (tokenizer/processor files are copied from it)")
    args = parser.parse_args(argv)
    print(merge_latest_checkpoint(args.checkpoints, args.out, args.source))


if __name__ == "__main__":
    main()
