"""revisual's config blocks: the stage-2 defaults compose on verl's ppo_trainer, bad keys fail at start."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import verl_ext
from verl_ext.settings import validate_revisual_config

CONFIG_DIR = str(Path(verl_ext.__file__).parent / "config")


def _compose(overrides):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return compose(config_name="revisual_stage2", overrides=overrides)


def test_stage2_defaults_are_the_papers():
    cfg = _compose([])
    assert cfg.algorithm.adv_estimator == "revisual_grpo"
    assert cfg.trainer.v1.trainer_mode == "revisual_sync"
    assert cfg.data.train_batch_size == 512 and cfg.actor_rollout_ref.rollout.n == 8
    assert cfg.actor_rollout_ref.actor.optim.lr == pytest.approx(1e-6)
    assert (cfg.data.max_prompt_length, cfg.data.max_response_length) == (8192, 8192)
    assert cfg.actor_rollout_ref.rollout.temperature == 1.0 and cfg.actor_rollout_ref.rollout.top_p == 0.95
    actor = cfg.actor_rollout_ref.actor
    assert (actor.clip_ratio_low, actor.clip_ratio_high, actor.clip_ratio_c) == (0.2, 0.25, 3.0)
    assert actor.use_kl_loss is False and cfg.algorithm.use_kl_in_reward is False
    assert cfg.algorithm.entropy_anneal.init == 0.02 and cfg.algorithm.entropy_anneal.decay == 0.985
    assert cfg.reward.reward_manager.name == "revisual"
    parsed = validate_revisual_config(cfg)
    assert parsed.pad.enable and parsed.pad.tau_end == 0.3


def test_cpu_profile_switches_backends_only():
    cfg = _compose(["device_profile=cpu"])
    assert cfg.actor_rollout_ref.rollout.name == "hf" and cfg.trainer.device == "cpu"
    assert cfg.actor_rollout_ref.model.override_config.attn_implementation == "sdpa"
    assert cfg.algorithm.adv_estimator == "revisual_grpo"  # the algorithm is the same on CPU
    # command-line overrides win over the profile
    assert _compose(["device_profile=cpu", "data.train_batch_size=8"]).data.train_batch_size == 8


def test_unknown_pad_key_fails_on_the_command_line():
    with pytest.raises(Exception, match="tauu"):
        _compose(["algorithm.pad.tauu=0.5"])


def test_unknown_or_invalid_pad_key_fails_validation():
    with pytest.raises(ValueError, match="lowww"):
        validate_revisual_config(OmegaConf.create({"algorithm": {"pad": {"lowww": 0.1}}}))
    with pytest.raises(ValueError, match="filter_on"):
        validate_revisual_config(OmegaConf.create({"algorithm": {"pad": {"filter_on": "reward"}}}))
    with pytest.raises(ValueError, match="high"):
        validate_revisual_config(OmegaConf.create({"algorithm": {"pad": {"low": 0.5, "high": 0.1}}}))
