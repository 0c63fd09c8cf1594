"""Progress bars with an ETA (tqdm, on stderr): one per benchmark while generating and judging.

They are drawn on a terminal and in a cluster job's log alike (tqdm then writes a line at most
every ``mininterval`` seconds); ``--no-progress`` turns them off.
"""

from __future__ import annotations

import sys


def progress_bar(total: int, description: str, *, initial: int = 0, enabled: bool = True, position: int | None = None):
    """A tqdm bar counting to ``total`` (a silent stand-in when disabled or empty); both are
    context managers with ``update`` and ``close``."""
    from tqdm import tqdm

    if not enabled or total <= 0:
        return _NoBar()
    interactive = sys.stderr.isatty()
    return tqdm(
        total=total,
        initial=initial,
        desc=description,
        unit="row",
        # Stacked bars need cursor movement, which a log file would show as escape codes.
        position=position if interactive else None,
        leave=True,
        dynamic_ncols=interactive,
        mininterval=0.5 if interactive else 30.0,
        file=sys.stderr,
    )


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass
