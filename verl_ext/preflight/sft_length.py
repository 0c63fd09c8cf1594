"""Stage 1 must be able to reach ``trainer.total_training_steps`` within ``trainer.total_epochs``.

verl's SFT trainer loops over the epochs and stops after the last one. A ``total_training_steps`` larger
than the epochs hold is never reached: the "last step" checkpoint is never written, so the merge that
follows has nothing (or an older step) to merge. The data loader drops the last partial batch on every
data-parallel rank, so an epoch has at most ``rows // data.train_batch_size`` steps whatever the number
of ranks; a setting above ``total_epochs`` times that bound can only fail, and is refused up front.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional


class SFTRunTooLong(ValueError):
    """``trainer.total_training_steps`` is more than the epochs can hold."""


def max_sft_steps(num_rows: int, train_batch_size: int, total_epochs: int) -> int:
    """The most optimizer steps verl's SFT trainer can run: whole global batches per epoch, times the epochs."""
    if train_batch_size <= 0:
        raise ValueError(f"data.train_batch_size must be > 0, got {train_batch_size}")
    return (num_rows // train_batch_size) * max(total_epochs, 0)


def local_parquet_rows(files) -> Optional[int]:
    """Rows over ``data.train_files`` read from the parquet footers; None when any file is not a local parquet
    (a remote path, or a file verl's own loader will report), so the check is then left to verl."""
    import pyarrow.parquet as pq

    paths = [files] if isinstance(files, str) else list(files or [])
    total = 0
    for path in paths:
        path = Path(str(path))
        if not path.is_file() or path.suffix != ".parquet":
            return None
        try:
            total += pq.read_metadata(path).num_rows
        except Exception:  # an unreadable file is verl's loader's (and the converters') to report
            return None
    return total


def check_sft_steps_fit(config) -> None:
    """Refuse a stage-1 config whose ``total_training_steps`` cannot be reached (see the module docstring)."""
    wanted = config.trainer.get("total_training_steps")
    if wanted is None:
        return
    rows = local_parquet_rows(config.data.train_files)
    if rows is None:
        return
    batch, epochs = int(config.data.train_batch_size), int(config.trainer.total_epochs)
    most = max_sft_steps(rows, batch, epochs)
    if int(wanted) > most:
        per_epoch = rows // batch
        fix = (f"set trainer.total_epochs={-(-int(wanted) // per_epoch)} or trainer.total_training_steps<={most}"
               if per_epoch else f"lower data.train_batch_size to at most {rows}")
        raise SFTRunTooLong(
            f"trainer.total_training_steps={wanted} cannot be reached: data.train_files has {rows} rows, "
            f"data.train_batch_size={batch} gives at most {per_epoch} steps per epoch, x trainer.total_epochs="
            f"{epochs} = {most}. verl's SFT trainer would stop after the last epoch without the final checkpoint "
            f"and the merge would have nothing to merge; {fix}."
        )
