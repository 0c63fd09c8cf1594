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
    assert parsed.pad.variant == "pad" and parsed.pad.enabled and parsed.pad.tau_end == 0.3
    assert parsed.pad.filter_on == "reward_std" and parsed.pad.ratio == 0.5 and parsed.abort_failed_frac == 0.5


def test_cpu_profile_switches_backends_and_command_line_wins():
    cfg = _compose(["device_profile=cpu"])
    assert cfg.actor_rollout_ref.rollout.name == "hf" and cfg.trainer.device == "cpu"
    assert cfg.actor_rollout_ref.model.override_config.attn_implementation == "sdpa"
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
    bad_band = {"filter_on": "advantage", "low": 0.5, "high": 0.1}
    with pytest.raises(ValueError, match="high"):
        validate_revisual_config(OmegaConf.create({"algorithm": {"pad": bad_band}}))


@pytest.mark.parametrize(
    "pad, message",
    [
        ({"variant": "pad", "low": 0.1}, "band is read only with algorithm.pad.filter_on=advantage"),
        ({"variant": "filter", "ratio": 0.5}, "variant=filter does not read it"),
        ({"variant": "pad", "alpha": 2.0}, "alpha is read only with algorithm.pad.priority=power"),
        ({"variant": "official", "tau_end": 0.1}, "temperature is read only with algorithm.pad.priority=softmax"),
        ({"variant": "grpo", "ratio": 0.5}, "variant=grpo does not read it"),
        ({"variant": "pad_sampling"}, "variant must be one of"),
    ],
)
def test_a_setting_the_variant_would_ignore_is_refused(pad, message):
    with pytest.raises(ValueError, match=message):
        validate_revisual_config(OmegaConf.create({"algorithm": {"pad": pad}}))


def test_each_variant_reads_its_own_defaults():
    def resolved(variant, **extra):
        return validate_revisual_config(OmegaConf.create({"algorithm": {"pad": {"variant": variant, **extra}}})).pad

    assert not resolved("grpo").enabled and resolved("grpo").ratio is None
    assert (resolved("filter").filter_on, resolved("filter").ratio) == ("reward_std", None)
    assert (resolved("random").ratio, resolved("random").priority) == (0.5, None)
    pad = resolved("pad")
    assert (pad.priority, pad.tau_start, pad.tau_end, pad.replacement) == ("softmax", 1.0, 0.3, False)
    official = resolved("official")
    assert (official.filter_on, official.low, official.high, official.strict_band) == ("advantage", 0.03, 0.97, True)
    assert (official.priority, official.alpha, official.ratio, official.replacement) == ("power", 1.5, 1.5, True)
    # switching the priority switches on the keys it reads
    assert resolved("pad", priority="power").alpha == 1.0 and resolved("pad", priority="power").tau_start is None


def test_an_entropy_schedule_verl_would_not_compute_is_refused():
    cfg = OmegaConf.create({"actor_rollout_ref": {"actor": {"entropy_coeff": 0.0, "calculate_entropy": False}}})
    with pytest.raises(ValueError, match="compute no entropy"):
        validate_revisual_config(cfg)
    cfg.actor_rollout_ref.actor.calculate_entropy = True
    assert validate_revisual_config(cfg).entropy_anneal.enable
    off = OmegaConf.merge(cfg, {"actor_rollout_ref": {"actor": {"calculate_entropy": False}},
                                "algorithm": {"entropy_anneal": {"enable": False}}})
    assert not validate_revisual_config(off).entropy_anneal.enable


def test_abort_share_must_be_a_fraction():
    with pytest.raises(ValueError, match="abort_failed_frac"):
        validate_revisual_config(OmegaConf.create({"reward": {"abort_failed_frac": 0.0}}))


def test_verl_options_that_reorder_rows_in_the_advantage_step_are_refused():
    cfg = _compose(["algorithm.adv_estimator=gae", "algorithm.use_pf_ppo=true"])
    with pytest.raises(ValueError, match=r"algorithm.use_pf_ppo=true is not supported.*7956"):
        validate_revisual_config(cfg)
    validate_revisual_config(_compose(["algorithm.adv_estimator=gae", "algorithm.use_pf_ppo=false"]))


@pytest.mark.parametrize("dynamic, micro, dp, multiple", [(False, 4, 2, 8), (False, 1, 8, 8), (True, 4, 2, 2)])
def test_the_update_plan_respects_the_micro_batch(dynamic, micro, dp, multiple):
    # verl asserts that every rank's share of an optimizer step is whole micro-batches; with dynamic batch
    # sizes it packs by tokens and needs only equal shares per rank.
    from types import SimpleNamespace

    from verl_ext.trainer.pad_trainer import RevisualPPOTrainer

    actor = OmegaConf.create({"use_dynamic_bsz": dynamic, "ppo_micro_batch_size_per_gpu": micro})
    fake = SimpleNamespace(config=SimpleNamespace(actor_rollout_ref=SimpleNamespace(actor=actor)),
                           _actor_dp_size=lambda: dp)
    assert RevisualPPOTrainer._update_row_multiple(fake) == multiple


def test_the_prompt_scheduler_is_checked_and_refuses_a_subset_that_changes_at_every_launch():
    assert validate_revisual_config(_compose([])).schedule.enable is False
    cfg = _compose(["algorithm.schedule.enable=true", "data.train_max_samples=8"])
    with pytest.raises(ValueError, match="needs data.seed"):
        validate_revisual_config(cfg)
    assert validate_revisual_config(_compose(["algorithm.schedule.enable=true", "data.train_max_samples=8",
                                              "data.seed=1"])).schedule.enable
    with pytest.raises(ValueError, match="explore_min"):
        validate_revisual_config(_compose(["algorithm.schedule.explore_min=0.9"]))
