"""Every shipped stage config, composed as a GPU cluster composes it, passes verl's own validation;
the CPU profile changes backends and sizes only, never the algorithm."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import verl_ext
from verl_ext.settings import validate_revisual_config
from verl_ext.stages.sft import validate_sft_config
from verl_ext.stages.text_rl import stage3_argv
from verl_ext.trainer.main import prepare_process_environment

CONFIG_DIR = str(Path(verl_ext.__file__).parent / "config")
GPU_CLUSTER = ["trainer.n_gpus_per_node=8", "trainer.nnodes=1"]
RL_PATHS = ["actor_rollout_ref.model.path=/models/stage1_hf", "data.train_files=/data/train.parquet",
            "data.val_files=/data/val.parquet"]


def compose_as_launched(config_name: str, argv: list[str], device: str, monkeypatch, profile_group="device_profile"):
    """What the stage's entry composes for ``argv`` with ``REVISUAL_DEVICE=device``."""
    monkeypatch.setenv("REVISUAL_DEVICE", device)
    monkeypatch.setenv("REVISUAL_CACHE", "/nonexistent/revisual-cache")
    argv = prepare_process_environment(list(argv), profile_group=profile_group)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return compose(config_name=config_name, overrides=argv)


def rl_stage(name: str, device: str, monkeypatch, extra=()):
    argv = [*RL_PATHS, *extra]
    if name == "revisual_stage3":
        argv = stage3_argv(argv, device)[2:]
    if device == "gpu":
        argv = [*GPU_CLUSTER, *argv]
    return compose_as_launched(name, argv, device, monkeypatch)


def verl_validate(cfg) -> None:
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    validate_config(cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))


@pytest.mark.parametrize("name", ["revisual_stage2", "revisual_stage3"])
def test_rl_stages_pass_verls_validation_on_a_gpu_cluster(name, monkeypatch):
    cfg = rl_stage(name, "gpu", monkeypatch)
    verl_validate(cfg)
    validate_revisual_config(cfg)
    assert cfg.trainer.device == "cuda" and cfg.actor_rollout_ref.rollout.name == "vllm"
    # Real data on GPUs: the image range of the authors' code, a parallel start-up filter, vLLM's
    # context fitted to the two lengths, chunked (and checkpointed) entropy on the remove-padding path.
    assert OmegaConf.to_container(cfg.data.mm_processor_kwargs) == {"max_pixels": 4194304, "min_pixels": 262144}
    assert cfg.data.filter_overlong_prompts_workers == 16
    assert cfg.actor_rollout_ref.rollout.max_model_len == cfg.data.max_prompt_length + cfg.data.max_response_length
    actor = cfg.actor_rollout_ref.actor
    assert actor.entropy_from_logits_with_chunking and actor.entropy_checkpointing
    assert actor.fsdp_config.entropy_from_logits_with_chunking and actor.fsdp_config.entropy_checkpointing  # the engine's copy
    assert cfg.actor_rollout_ref.model.use_remove_padding  # where verl applies the chunking


def test_a_vllm_context_shorter_than_prompt_plus_response_is_refused(monkeypatch):
    cfg = rl_stage("revisual_stage2", "gpu", monkeypatch, extra=["data.max_response_length=9000"])
    with pytest.raises(ValueError, match=r"max_model_len=16384 is below .* = 8192 \+ 9000 = 17192"):
        validate_revisual_config(cfg)


def test_the_cpu_profile_composes_and_passes_verls_validation(monkeypatch):
    cfg = rl_stage("revisual_stage2", "cpu", monkeypatch)
    verl_validate(cfg)
    validate_revisual_config(cfg)
    assert cfg.data.mm_processor_kwargs.max_pixels == 12544 and cfg.data.filter_overlong_prompts_workers == 1


def test_stage1_passes_the_sft_trainers_checks_on_a_gpu_cluster(monkeypatch, tmp_path):
    from verl_ext.tiny_model import build_tiny_model

    model = build_tiny_model(tmp_path / "model")  # HFModelConfig reads the model's config.json
    cfg = compose_as_launched(
        "revisual_stage1", [*GPU_CLUSTER, f"model.path={model}", "data.train_files=/data/sft.parquet"],
        "gpu", monkeypatch, profile_group="sft_profile",
    )
    validate_sft_config(cfg)
    assert cfg.trainer.device == "cuda" and cfg.engine.dtype == "bfloat16"


def test_sft_validation_can_fail(monkeypatch, tmp_path):
    from verl_ext.tiny_model import build_tiny_model

    model = build_tiny_model(tmp_path / "model")
    cfg = compose_as_launched(
        "revisual_stage1", [*GPU_CLUSTER, f"model.path={model}", "data.train_files=/d.parquet",
                            "data.train_batch_size=12"], "gpu", monkeypatch, profile_group="sft_profile",
    )
    with pytest.raises(ValueError, match="train_batch_size"):
        validate_sft_config(cfg)


def test_verl_validation_can_fail_on_a_bad_batch_setting(monkeypatch):
    # The check above must be able to fail: without dynamic batching verl needs a micro-batch size.
    cfg = rl_stage("revisual_stage2", "gpu", monkeypatch, extra=[
        "actor_rollout_ref.actor.use_dynamic_bsz=false", "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2",
    ])
    with pytest.raises(ValueError, match="log_prob_micro_batch_size"):
        verl_validate(cfg)


def _leaves(cfg: dict, prefix=""):
    out = {}
    for key, value in cfg.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_leaves(value, path + "."))
        else:
            out[path] = value
    return out


def _profile_keys(profile_file: str) -> set[str]:
    return set(_leaves(OmegaConf.to_container(OmegaConf.load(Path(CONFIG_DIR) / profile_file)) or {}))


def test_gpu_profiles_add_nothing():
    for name in ("device_profile/gpu.yaml", "text_rl_profile/gpu.yaml", "sft_profile/gpu.yaml"):
        assert _profile_keys(name) == set(), name


# The only keys a CPU profile may set: the device and its backends, batch and length sizes, the model
# and data paths, and Ray's resources. Everything else (the algorithm) must come from the stage config.
BACKEND_AND_SIZE_KEYS = {
    "data.train_files", "data.val_files", "data.train_batch_size", "data.max_prompt_length",
    "data.max_response_length", "data.dataloader_num_workers", "data.truncation", "data.custom_cls.path",
    "data.custom_cls.name", "data.micro_batch_size_per_gpu", "data.use_dynamic_bsz", "data.max_token_len_per_gpu",
    "data.max_length", "data.num_workers", "data.filter_overlong_prompts_workers",
    "data.mm_processor_kwargs.min_pixels", "data.mm_processor_kwargs.max_pixels",
    "model.path", "model.use_remove_padding", "model.enable_gradient_checkpointing",
    "model.override_config.attn_implementation", "engine.use_torch_compile",
    "actor_rollout_ref.model.path", "actor_rollout_ref.model.use_remove_padding",
    "actor_rollout_ref.model.enable_gradient_checkpointing",
    "actor_rollout_ref.model.override_config.attn_implementation",
    "actor_rollout_ref.actor.optim.lr", "optim.lr",
    "actor_rollout_ref.actor.ppo_mini_batch_size", "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu",
    "actor_rollout_ref.actor.use_dynamic_bsz", "actor_rollout_ref.actor.fsdp_config.use_torch_compile",
    "actor_rollout_ref.ref.fsdp_config.use_torch_compile", "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu",
    "actor_rollout_ref.ref.log_prob_use_dynamic_bsz",
    "actor_rollout_ref.rollout.name", "actor_rollout_ref.rollout.n", "actor_rollout_ref.rollout.tensor_model_parallel_size",
    "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu", "actor_rollout_ref.rollout.log_prob_use_dynamic_bsz",
    "actor_rollout_ref.rollout.free_cache_engine", "actor_rollout_ref.rollout.agent.num_workers",
    "actor_rollout_ref.rollout.max_model_len",
    "reward.num_workers", "reward.score_workers", "reward.length_budget",
    "algorithm.entropy_anneal.warmup_steps",
    "trainer.device", "trainer.n_gpus_per_node", "trainer.nnodes", "trainer.total_epochs",
    "trainer.total_training_steps", "trainer.val_before_train", "trainer.test_freq", "trainer.save_freq",
    "trainer.experiment_name", "ray_kwargs.ray_init.num_cpus", "ray_kwargs.ray_init.num_gpus",
    "transfer_queue.backend.SimpleStorage.num_data_storage_units",
    # cpu_rollout=vllm: vLLM's CPU backend (eager, no sleep mode, an explicit KV cache, a small bucket).
    "actor_rollout_ref.rollout.enable_sleep_mode", "actor_rollout_ref.rollout.enforce_eager",
    "actor_rollout_ref.rollout.engine_kwargs.vllm.kv_cache_memory_bytes",
    "actor_rollout_ref.rollout.checkpoint_engine.update_weights_bucket_megabytes",
}
"""The learning rate scales with the model (the tiny model needs larger steps than a 7B one).
``reward.length_budget`` and the entropy warm-up are lengths in tokens and steps: the CPU profile scales
them to its response length and run length (test below), it does not switch them off."""


@pytest.mark.parametrize("profile", ["device_profile/cpu.yaml", "text_rl_profile/cpu.yaml", "sft_profile/cpu.yaml",
                                     "cpu_rollout/vllm.yaml"])
def test_cpu_profiles_change_backends_and_sizes_only(profile):
    extra = _profile_keys(profile) - BACKEND_AND_SIZE_KEYS
    assert not extra, f"{profile} changes algorithm settings: {sorted(extra)}"


def test_cpu_profile_keeps_the_production_algorithm(monkeypatch):
    gpu = rl_stage("revisual_stage2", "gpu", monkeypatch)
    cpu = rl_stage("revisual_stage2", "cpu", monkeypatch)
    for key in ("algorithm", "reward.terms", "actor_rollout_ref.actor.clip_ratio_low",
                "actor_rollout_ref.actor.clip_ratio_high", "actor_rollout_ref.actor.clip_ratio_c",
                "actor_rollout_ref.actor.loss_agg_mode", "actor_rollout_ref.actor.use_kl_loss"):
        g, c = OmegaConf.select(gpu, key), OmegaConf.select(cpu, key)
        if key == "algorithm":
            g, c = OmegaConf.to_container(g), OmegaConf.to_container(c)
            g["entropy_anneal"].pop("warmup_steps"), c["entropy_anneal"].pop("warmup_steps")
        assert g == c, key
    assert validate_revisual_config(cpu).pad.filter_on == "reward_std"
    # Scaled, not switched off: the warm-up is the same share of the run as the paper's 140 of 200 steps allows.
    cpu_anneal = cpu.algorithm.entropy_anneal
    assert 0 < cpu_anneal.warmup_steps <= cpu.trainer.total_training_steps
    assert 0 < cpu.reward.length_budget < cpu.data.max_response_length


@pytest.mark.parametrize("name", ["revisual_stage2", "revisual_stage3"])
def test_the_cpu_vllm_option_composes_on_the_cpu_profile_and_passes_verls_validation(name, monkeypatch):
    cfg = rl_stage(name, "cpu", monkeypatch, extra=["+cpu_rollout=vllm"])
    verl_validate(cfg)
    rollout = cfg.actor_rollout_ref.rollout
    assert rollout.name == "vllm" and rollout.enforce_eager and not rollout.enable_sleep_mode
    assert not rollout.free_cache_engine and rollout.checkpoint_engine.update_weights_bucket_megabytes == 64
    assert rollout.engine_kwargs.vllm.kv_cache_memory_bytes == 256 * 2**20
    assert cfg.trainer.device == "cpu"  # still the CPU profile underneath


@pytest.mark.parametrize("name", ["revisual_stage2", "revisual_stage3"])
def test_the_rollout_returns_log_probs_of_the_actors_distribution(name, monkeypatch):
    # top_p < 1 with verl's processed_logprobs would renormalise the rollout's probabilities over the
    # nucleus; raw log-probs are the actor's only at temperature 1.
    rollout = rl_stage(name, "gpu", monkeypatch).actor_rollout_ref.rollout
    assert rollout.top_p < 1 and rollout.logprobs_mode == "raw_logprobs" and rollout.temperature == 1.0
    hot = rl_stage(name, "gpu", monkeypatch, extra=["actor_rollout_ref.rollout.temperature=0.7"])
    with pytest.raises(ValueError, match="before the sampling temperature"):
        validate_revisual_config(hot)


def test_cpu_main_job_changes_sizes_only_and_composes():
    from verl_ext.stages.pipeline import cpu_main_job_args

    per_stage = cpu_main_job_args()
    assert per_stage[2], "the main job must lengthen stage 2"
    for stage, overrides in per_stage.items():
        keys = {arg.split("=", 1)[0].lstrip("+") for arg in overrides}
        assert keys <= BACKEND_AND_SIZE_KEYS, f"stage {stage} main-job args change the algorithm: {keys - BACKEND_AND_SIZE_KEYS}"


def test_cpu_main_jobs_rl_stages_learn_without_the_entropy_bonus(monkeypatch):
    """Both RL stages of the CPU main job: the entropy warm-up covers the run. On the tiny model a bonus of
    0.02 drove responses to the length cap within five steps (stage 2, from the paper's share: step 29 of
    40) or blew the entropy up from 0.6 to 4.3 (stage 3), and undid what the stage had learnt. The recipe
    keeps the bonus, and the composed stage-2 config still passes verl's validation."""
    from verl_ext.cpu_default import CPU_DEFAULT
    from verl_ext.stages.pipeline import cpu_main_job_args, override_value

    args = cpu_main_job_args()
    for stage in (2, 3):
        warmup = override_value(args[stage], "algorithm.entropy_anneal.warmup_steps")
        assert warmup is not None and int(warmup) >= int(override_value(args[stage], "trainer.total_training_steps"))
    cpu = rl_stage("revisual_stage2", "cpu", monkeypatch, args[2])
    verl_validate(cpu)
    gpu = rl_stage("revisual_stage2", "gpu", monkeypatch)
    assert gpu.algorithm.entropy_anneal.warmup_steps == 140 and gpu.algorithm.entropy_anneal.init == 0.02
    # Stage 3's text task is one the warm start half teaches: without it the model never read a text question.
    assert CPU_DEFAULT.tasks["textrl"] == ["majority_word"] and "majority_word" in CPU_DEFAULT.warm.tasks
    # Stage 3 takes the recipe's group size of 8 (the CPU profile's is 4) at the same 32 rollouts per step.
    assert int(override_value(args[3], "actor_rollout_ref.rollout.n")) == 8
