"""Ray workers start from a Python whose path holds a space (or another shell character).

With a runtime env (verl always passes one, for its environment variables), Ray starts each worker
through ``bash -c "exec <python> <args>"``; it quotes the arguments but not the Python path
(``ray/_private/runtime_env/context.py``, ``RuntimeEnvContext.exec_worker``). A checkout at
``/home/me/my work/revisual`` therefore makes every worker die with
``bash: line 1: /home/me/my: No such file or directory``, and Ray retries for minutes before it
gives up with ``ActorUnschedulableError``. Ray's own ``py_executable`` runtime-env field is the
command it puts there, so giving it the quoted path is enough.
"""

from __future__ import annotations

import os
import shlex
import sys


def quoted_python_for_ray(executable: str = sys.executable) -> str | None:
    """The ``py_executable`` to give Ray, or None when the path needs no quoting."""
    quoted = shlex.quote(executable)
    return None if quoted == executable else quoted


def quote_python_path_for_ray(config, executable: str = sys.executable) -> str | None:
    """Set ``ray_kwargs.ray_init.runtime_env.py_executable`` when this Python's path needs shell quoting.

    Only for a Ray instance this launch starts: on a running cluster (``RAY_ADDRESS``) each node
    starts workers with its own Python. A ``py_executable`` the user set is left alone. Returns the
    value set, or None.
    """
    from omegaconf import open_dict

    quoted = quoted_python_for_ray(executable)
    if quoted is None or os.environ.get("RAY_ADDRESS"):
        return None
    with open_dict(config):
        runtime_env = config.ray_kwargs.setdefault("ray_init", {}).setdefault("runtime_env", {})
        if runtime_env.get("py_executable"):
            return None
        runtime_env["py_executable"] = quoted
    return quoted
