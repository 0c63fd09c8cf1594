"""Tracking as verl users expect it: the file logger the dashboards read, TensorBoard and wandb
inside the run folder, wandb offline without a network, never switched off by a launcher."""

import pytest
from omegaconf import OmegaConf

from verl_ext.tracking import configure_tracking


def config(loggers):
    return OmegaConf.create({"trainer": {"logger": loggers, "default_local_dir": "x"}})


def test_file_logger_is_added_and_tensorboard_goes_in_the_run_folder(tmp_path):
    lines, env = [], {}
    cfg = config(["console", "tensorboard"])
    assert configure_tracking(cfg, tmp_path / "stage2", env, log=lines.append) == ["console", "tensorboard", "file"]
    assert list(cfg.trainer.logger) == ["console", "tensorboard", "file"]
    assert env["TENSORBOARD_DIR"] == str(tmp_path / "stage2" / "tensorboard")  # not ./tensorboard_log
    assert any("'file' added" in line for line in lines)
    env = {"TENSORBOARD_DIR": "/elsewhere"}
    configure_tracking(config(["file", "tensorboard"]), tmp_path, env, log=lines.append)
    assert env["TENSORBOARD_DIR"] == "/elsewhere"  # the user's own choice wins


def test_wandb_runs_offline_without_a_network_and_is_never_disabled_by_the_launcher(tmp_path):
    lines = []
    env = {"WANDB_API_KEY": "k"}
    configure_tracking(config(["console", "wandb"]), tmp_path, env, reachable=lambda: False, log=lines.append)
    assert env["WANDB_MODE"] == "offline" and env["WANDB_DIR"] == str(tmp_path)
    assert any("wandb: offline" in line and "wandb sync" in line for line in lines)
    env = {"WANDB_API_KEY": "k"}
    configure_tracking(config(["console", "wandb"]), tmp_path, env, reachable=lambda: True, log=lines.append)
    assert "WANDB_MODE" not in env  # online: wandb's own default
    lines.clear()
    env = {"WANDB_MODE": "disabled"}
    configure_tracking(config(["wandb"]), tmp_path, env, log=lines.append)
    assert env["WANDB_MODE"] == "disabled" and any("WANDB_MODE=disabled" in line for line in lines)


def test_launcher_environment_leaves_wandb_alone(monkeypatch, tmp_path):
    from verl_ext.trainer.main import prepare_process_environment

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("REVISUAL_DEVICE", "cpu")
    monkeypatch.setenv("REVISUAL_CACHE", str(tmp_path))
    prepare_process_environment([])
    import os

    assert "WANDB_MODE" not in os.environ


def test_a_real_offline_wandb_run_writes_inside_the_run_folder(tmp_path, monkeypatch):
    """verl's own Tracking with wandb, as the trainer starts it, in the mode the launcher chose."""
    from verl.utils.tracking import Tracking

    env = {}
    cfg = config(["console", "wandb"])
    configure_tracking(cfg, tmp_path / "stage", env, reachable=lambda: False, log=lambda line: None)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("VERL_FILE_LOGGER_PATH", str(tmp_path / "stage" / "metrics.jsonl"))
    (tmp_path / "stage").mkdir()
    tracker = Tracking("revisual-test", "tracking", default_backend=list(cfg.trainer.logger), config={})
    tracker.log({"critic/score/mean": 0.5}, step=1)
    tracker.logger["wandb"].finish()
    tracker.logger["file"].finish()
    assert list((tmp_path / "stage" / "wandb").glob("offline-run-*"))
    assert (tmp_path / "stage" / "metrics.jsonl").read_text().count("critic/score/mean") == 1
