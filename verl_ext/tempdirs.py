"""Temporary sibling folders for a build that is renamed into place: named by their builder, cleared when stale.

A model folder (a merge, the tiny model) is written into a temporary sibling and renamed into place
when complete. A build killed half-way left that sibling behind for good: up to about 15 GB each for
a 7B merge. The sibling's name now carries its builder's pid (``<prefix><pid>.<random>``), so the
next build removes the siblings whose builder is gone and keeps those of a build still running;
siblings in the older name (no pid) were left by a build of an earlier version and are removed too.
The folder gets the permissions of a folder made with ``mkdir`` (``mkdtemp`` makes it 0700, which
left merged models unreadable by a team's other users).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_siblings(parent: Path, prefix: str) -> list[Path]:
    """Folders ``<prefix>*`` in ``parent`` whose builder (the pid in the name) is no longer running."""
    stale = []
    for path in Path(parent).glob(f"{prefix}*"):
        owner = path.name[len(prefix):].split(".", 1)[0]
        if path.is_dir() and not (owner.isdigit() and int(owner) != os.getpid() and pid_alive(int(owner))):
            stale.append(path)
    return stale


def remove_stale_siblings(parent: Path, prefix: str) -> list[Path]:
    removed = stale_siblings(parent, prefix)
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def normal_permissions(folder: Path) -> None:
    """What ``mkdir`` and ``open`` would have given: 0755 folders and 0644 files under the usual umask 022."""
    mask = current_umask()
    os.chmod(folder, 0o777 & ~mask)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o777 & ~mask)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, (os.stat(path).st_mode & 0o111 | 0o666) & ~mask)


def temp_sibling(out: Path, prefix: str) -> Path:
    """A new folder ``<prefix><pid>.<random>`` beside ``out``, after removing the stale ones."""
    remove_stale_siblings(out.parent, prefix)
    tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}.", dir=out.parent))
    os.chmod(tmp, 0o777 & ~current_umask())
    return tmp


@contextmanager
def built_in_place(out: Path, prefix: str):
    """Yield a temporary sibling to build ``out`` in; on success it replaces ``out`` with normal
    permissions, on any error (a kill's SIGTERM included) it is removed."""
    tmp = temp_sibling(out, prefix)
    try:
        yield tmp
        normal_permissions(tmp)
        if out.exists():
            # An earlier (interrupted or older) build: the new one replaces it.
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
