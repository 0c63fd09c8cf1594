"""Run a callback right after a module is first imported (a post-import hook).

The plugin is loaded while ``import verl`` runs, in every verl process, including plain verl jobs
that never use revisual. Registering into a verl registry or patching a verl function means
importing that verl module, which is what made the plugin cost seconds and hundreds of MB per
process. Instead, :func:`when_imported` defers each registration until the module it touches is
imported by whoever needs it; if it is already imported, the callback runs at once.

A callback that raises makes the import of the watched module raise, naming the callback: a
half-applied plugin must never pass silently.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading
from typing import Callable

_callbacks: dict[str, list[Callable]] = {}
_lock = threading.RLock()
_finder: "_PostImportFinder | None" = None


class PostImportHookError(ImportError):
    """A revisual post-import callback failed; the message names the module and the callback."""


def _run_callbacks(module) -> None:
    with _lock:
        callbacks = _callbacks.pop(module.__name__, [])
    for callback in callbacks:
        try:
            callback(module)
        except Exception as err:
            raise PostImportHookError(
                f"revisual: {callback.__module__}.{callback.__qualname__} failed after importing "
                f"{module.__name__}: {type(err).__name__}: {err}"
            ) from err


class _HookedLoader(importlib.abc.Loader):
    """Delegates everything to the real loader and runs the callbacks once the module has executed."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        # Later readers (inspect, importlib.resources) see the real loader, not this wrapper.
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        _run_callbacks(module)


class _PostImportFinder(importlib.abc.MetaPathFinder):
    def __init__(self):
        self._busy = threading.local()

    def find_spec(self, fullname, path, target=None):
        with _lock:
            if fullname not in _callbacks:
                return None
        if getattr(self._busy, "name", None) == fullname:
            return None
        self._busy.name = fullname
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._busy.name = None
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _HookedLoader(spec.loader)
        return spec


def when_imported(module_name: str, callback: Callable) -> None:
    """Call ``callback(module)`` once ``module_name`` is imported (now, if it already is)."""
    global _finder
    module = sys.modules.get(module_name)
    if module is not None:
        callback(module)
        return
    with _lock:
        _callbacks.setdefault(module_name, []).append(callback)
        if _finder is None:
            _finder = _PostImportFinder()
            sys.meta_path.insert(0, _finder)


def pending() -> list[str]:
    """Modules with callbacks still waiting for their first import (for diagnostics and tests)."""
    with _lock:
        return sorted(_callbacks)


PATCHED_FLAG = "__revisual_patched__"


def wrap_once(owner, name: str, make_wrapper: Callable) -> None:
    """Replace ``owner.name`` with ``make_wrapper(original)`` unless an earlier call already did.

    The plugin can be loaded twice in one process (the entry point and VERL_USE_EXTERNAL_MODULES),
    and a second wrapper around the first would run the patch twice.
    """
    current = getattr(owner, name)
    if not getattr(current, PATCHED_FLAG, False):
        wrapper = make_wrapper(current)
        setattr(wrapper, PATCHED_FLAG, True)
        setattr(owner, name, wrapper)
