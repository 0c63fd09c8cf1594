"""What a launch checks before it starts anything (before Ray, before verl loads a file).

Each check refuses with one message that names the file and what to do, and exit status 2:

* :mod:`.run_lock`: one run per checkpoint folder (and per pipeline run folder), naming the holder;
* :mod:`.checkpoints`: the checkpoint verl would resume from is intact, else the latest intact one
  is offered (``trainer.on_corrupt_checkpoint=use_intact`` resumes from it);
* :mod:`.images`: every image of the RL data decodes (``data.on_bad_image=skip|fail``);
* :mod:`.ray_paths`: a Python path with a space is quoted for Ray's worker start-up;
* :mod:`.sft_length`: stage 1's ``total_training_steps`` fits in its epochs;
* :mod:`.keys`: the numbers the launchers read have a number's type; every reward term imports and
  has a signature the scorer can call;
* :mod:`.data_rows`: the RL data files exist, their rows have the fields verl needs, and some prompt
  fits in ``data.max_prompt_length`` (the count verl would drop is reported).

The launchers call :func:`prepare_rl_run` (stages 2 and 3) or :func:`prepare_sft_run` (stage 1).
"""

from __future__ import annotations

import atexit
import sys
from pathlib import Path

from omegaconf import OmegaConf, open_dict

from verl_ext.preflight.checkpoints import CorruptCheckpoint, choose_resume_checkpoint
from verl_ext.preflight.data_rows import check_data
from verl_ext.preflight.images import BadImages, usable_file
from verl_ext.preflight.keys import check_number_keys, check_reward_terms
from verl_ext.preflight.ray_paths import quote_python_path_for_ray
from verl_ext.preflight.run_lock import RunFolderLocked, RunLock
from verl_ext.preflight.sft_length import check_sft_steps_fit
from verl_ext.progress import PREFIX

EXIT_REFUSED = 2
REFUSALS = (RunFolderLocked, CorruptCheckpoint, BadImages, ValueError)
_held: list[RunLock] = []


def say(message: str) -> None:
    print(f"{PREFIX} {message}", flush=True)


def refuse(error: Exception) -> None:
    print(f"{PREFIX} error: {error}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_REFUSED)


def hold_lock(folder: str | Path, what: str, hint: str) -> RunLock:
    """Lock ``folder`` until this process exits (released cleanly at exit, by the kernel if killed)."""
    lock = RunLock(folder, what, hint).acquire()
    _held.append(lock)
    atexit.register(lock.release)
    if warning := lock.stale_warning():
        say(f"warning: {warning}")
    return lock


def lock_checkpoint_folder(config) -> Path:
    """Hold ``trainer.default_local_dir`` for this run; returns the folder."""
    folder = Path(config.trainer.default_local_dir).resolve()
    hold_lock(folder, "checkpoint folder (trainer.default_local_dir)", "give this run another trainer.default_local_dir")
    return folder


def apply_resume_choice(config, announce: bool = True, needs_actor: bool = False) -> None:
    """Point verl at an intact checkpoint, or refuse naming the damaged files (see :mod:`.checkpoints`)."""
    trainer = config.trainer
    choice = choose_resume_checkpoint(
        trainer.default_local_dir, trainer.get("resume_mode", "auto"), trainer.get("resume_from_path"),
        OmegaConf.select(config, "trainer.on_corrupt_checkpoint", default="fail"), needs_actor=needs_actor,
    )
    if choice.switched:
        if announce:
            say(f"warning: {choice.note}")
        with open_dict(config):
            trainer.resume_mode = "resume_path"
            trainer.resume_from_path = str(choice.folder)


def check_images(config, check_dir: Path) -> None:
    """Scan the train and val parquet files; with ``skip``, point ``data.*_files`` at the cleaned copies."""
    data = config.data
    on_bad = OmegaConf.select(config, "data.on_bad_image", default="skip")
    image_key = data.get("image_key", "images")
    for key in ("train_files", "val_files"):
        value = data.get(key)
        files = list(value) if OmegaConf.is_list(value) or isinstance(value, list | tuple) else [value]
        used = []
        for file in files:
            if not (isinstance(file, str) and file.endswith(".parquet") and Path(file).is_file()):
                used.append(file)  # verl reads it (or reports it missing); only local parquet is scanned
                continue
            path, result = usable_file(file, image_key, on_bad, check_dir)
            if result.bad:
                first = result.bad[0].describe()
                say(f"skipped {len(result.bad)} of {result.rows} rows of {file} whose image does not decode "
                    f"(data.on_bad_image=skip; first: {first}); verl reads {path} instead")
            used.append(path)
        if used != files:
            with open_dict(config):
                data[key] = used if len(used) > 1 or not isinstance(value, str) else used[0]


def check_settings(config) -> None:
    """The launcher's own numbers, before anything reads them (the RL entry calls it first)."""
    try:
        check_number_keys(config)
    except REFUSALS as error:
        refuse(error)


def prepare_rl_run(config) -> None:
    """Stages 2 and 3, in the driver before Ray starts: reward terms, lock, checkpoint, images, data, Python path."""
    try:
        check_reward_terms(config)
        checkpoints = lock_checkpoint_folder(config)
        apply_resume_choice(config, needs_actor=True)
        check_images(config, checkpoints.parent / "data_checks")
        check_data(config, say)  # after the image check: it reads the files verl will read
    except REFUSALS as error:
        refuse(error)
    if quoted := quote_python_path_for_ray(config):
        say(f"this Python's path needs shell quoting; Ray starts workers with {quoted}")


def prepare_sft_run(config, rank: int) -> None:
    """Stage 1 (every rank checks the run length and the checkpoint the same way; rank 0 holds the lock)."""
    try:
        check_number_keys(config)
        check_sft_steps_fit(config)
        if rank == 0:
            lock_checkpoint_folder(config)
        apply_resume_choice(config, announce=rank == 0)
    except REFUSALS as error:
        refuse(error)
