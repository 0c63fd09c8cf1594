"""Registry of reward terms, and loading of user terms by ``module:function`` or ``file.py:function``.

A reward term is a plain function.  It declares, by parameter name, which inputs it needs;
the composite scorer passes only those (see :data:`TERM_INPUTS`).  It returns a float.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import threading
from typing import Callable

TERM_INPUTS = (
    "response",  # decoded response text
    "ground_truth",  # gold answer string
    "acc",  # 0/1 accuracy of this response, computed once by the composite scorer
    "answer",  # extracted final answer or None
    "response_length",  # number of response tokens
    "length_budget",
    "length_alpha",
    "length_delta",
    "data_source",
    "extra_info",  # the dataset row's extra_info dict
)
"""Names a reward term may take as parameters."""

_REGISTRY: dict[str, Callable[..., float]] = {}
_FILE_MODULES: dict[str, object] = {}
_lock = threading.Lock()


def register_reward(name: str) -> Callable[[Callable[..., float]], Callable[..., float]]:
    """Decorator: make a reward term available under ``name`` in ``reward.terms``.

    Registering the same function again (e.g. its module imported twice) is a no-op; a different
    function under a taken name is an error.
    """

    def decorator(fn: Callable[..., float]) -> Callable[..., float]:
        if not callable(fn):
            raise TypeError(f"register_reward({name!r}) expects a function, got {fn!r}")
        with _lock:
            existing = _REGISTRY.get(name)
            if existing is not None and not _same_function(existing, fn):
                raise ValueError(
                    f"reward {name!r} is already registered to {existing.__module__}.{existing.__qualname__}; "
                    f"cannot register {fn.__module__}.{fn.__qualname__}"
                )
            _REGISTRY[name] = fn
        return fn

    return decorator


def _same_function(a: Callable, b: Callable) -> bool:
    return a is b or (
        getattr(a, "__module__", None) == getattr(b, "__module__", None)
        and getattr(a, "__qualname__", None) == getattr(b, "__qualname__", None)
    )


def registered_rewards() -> dict[str, Callable[..., float]]:
    """A copy of the registry (name -> function)."""
    with _lock:
        return dict(_REGISTRY)


def _load_file(path: str) -> object:
    """Import a Python file once per absolute path under a stable private module name."""
    abs_path = os.path.abspath(path)
    with _lock:
        if abs_path in _FILE_MODULES:
            return _FILE_MODULES[abs_path]
    if not os.path.isfile(abs_path):
        raise FileNotFoundError(f"reward file not found: {path} (resolved to {abs_path})")
    digest = hashlib.sha1(abs_path.encode()).hexdigest()[:12]
    module_name = f"_revisual_user_reward_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, abs_path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import reward file {abs_path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    with _lock:
        _FILE_MODULES[abs_path] = module
    return module


def get_reward(spec: str) -> Callable[..., float]:
    """Resolve a reward term.

    ``spec`` is a registered name (``accuracy``), ``package.module:function``, or
    ``path/to/file.py:function`` (relative paths are relative to the working directory).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"reward term spec must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    with _lock:
        if spec in _REGISTRY:
            return _REGISTRY[spec]
    if ":" not in spec:
        known = ", ".join(sorted(registered_rewards()))
        raise KeyError(f"unknown reward {spec!r}; registered: {known}; or use module:function / file.py:function")
    target, _, attr = spec.rpartition(":")
    if target.endswith(".py") or os.sep in target or "/" in target:
        module = _load_file(target)
    else:
        module = importlib.import_module(target)
    fn = getattr(module, attr, None)
    if fn is None or not callable(fn):
        raise AttributeError(f"reward spec {spec!r}: {target} has no function {attr!r}")
    return fn


def portable_spec(spec: str) -> str:
    """A spec that resolves to the same function in a fresh scoring process.

    Built-in names stay names; a name registered by a user module becomes ``module:qualname`` so
    the worker imports (and thereby registers) it.
    """
    fn = get_reward(spec)
    target, _, attr = spec.rpartition(":")
    if target.endswith(".py") or "/" in target or os.sep in target:
        return f"{os.path.abspath(target)}:{attr}"  # workers may run from another directory
    if ":" in spec or fn.__module__.startswith("reward_fns"):
        return spec
    if fn.__module__ == "__main__" or fn.__module__.startswith("_revisual_user_reward_"):
        raise ValueError(
            f"reward {spec!r} is defined in {fn.__module__}, which scoring processes cannot import; "
            "reference it as path/to/file.py:function or package.module:function"
        )
    return f"{fn.__module__}:{fn.__qualname__}"
