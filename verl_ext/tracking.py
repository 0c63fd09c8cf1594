"""Experiment tracking as verl users expect it, with the run folder as the one place it writes.

verl's ``Tracking`` reads ``trainer.logger`` and a few environment variables; the launchers
(``verl_ext.trainer.main``, ``verl_ext.stages.sft``) call :func:`configure_tracking` once the
stage's folder is known:

* ``file`` is added to ``trainer.logger`` when missing: the run summary and the dashboards read the
  metrics JSONL it writes, and without it they would be empty (the launcher prints the path).
* TensorBoard writes to ``<stage>/tensorboard`` (verl's default is ``./tensorboard_log`` in the
  current folder) and wandb to ``<stage>/wandb``, unless ``TENSORBOARD_DIR`` / ``WANDB_DIR`` are set.
* ``wandb`` is left to wandb: online with a login and a network, else ``WANDB_MODE=offline``
  (``wandb sync`` uploads it later). Nothing here disables it; the tests set ``WANDB_MODE=disabled``
  themselves, and a ``wandb`` request under ``WANDB_MODE=disabled`` is said out loud.
"""

from __future__ import annotations

import importlib.util
import netrc
import os
import socket
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

from verl_ext.progress import PREFIX



def _loggers(config) -> list[str]:
    value = config.trainer.get("logger", None)
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(name) for name in value]


def wandb_reachable(environ=os.environ, timeout_s: float = 3.0) -> bool:
    """Whether wandb's server answers a TCP connect (HTTPS port) within ``timeout_s``."""
    host = urlparse(environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def wandb_logged_in(environ=os.environ) -> bool:
    """An API key in the environment or in ``~/.netrc`` (where ``wandb login`` puts it)."""
    if environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def configure_tracking(config, stage_dir: Path, environ=os.environ, *, reachable: Callable[[], bool] | None = None,
                       log: Callable[[str], None] = lambda line: print(line, flush=True)) -> list[str]:
    """Adjust ``config.trainer.logger`` and ``environ`` as the module docstring says; returns the
    loggers verl will start."""
    from omegaconf import open_dict

    loggers = _loggers(config)
    if "file" not in loggers:
        loggers.append("file")
        log(f"{PREFIX} trainer.logger: 'file' added (the run summary and dashboards read its metrics JSONL)")
    with open_dict(config):
        config.trainer.logger = loggers
    stage_dir = Path(stage_dir).resolve()
    if "tensorboard" in loggers:
        environ.setdefault("TENSORBOARD_DIR", str(stage_dir / "tensorboard"))
        log(f"{PREFIX} tensorboard -> {environ['TENSORBOARD_DIR']}")
    if "wandb" in loggers:
        if importlib.util.find_spec("wandb") is None:
            raise SystemExit(f"{PREFIX} trainer.logger has 'wandb' but the wandb package is not installed: pip install wandb")
        environ.setdefault("WANDB_DIR", str(stage_dir))
        mode = environ.get("WANDB_MODE", "").strip().lower()
        if mode == "disabled":
            log(f"{PREFIX} trainer.logger has 'wandb' but WANDB_MODE=disabled is set in this environment: nothing goes to wandb")
        elif not mode:
            online = wandb_logged_in(environ) and (reachable or wandb_reachable)()
            if not online:
                environ["WANDB_MODE"] = "offline"
            where = "online" if online else f"offline (no login or no network; `wandb sync {stage_dir / 'wandb'}` uploads it later)"
            log(f"{PREFIX} wandb: {where}, files in {environ['WANDB_DIR']}/wandb")
    return loggers
