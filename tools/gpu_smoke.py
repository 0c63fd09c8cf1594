"""Smoke test of the GPU path on one GPU: each part prints PASS, FAIL or SKIP, and a failure never
stops the parts after it (a part that needs a failed one is skipped and says why).

    bash tools/gpu_smoke.sh [--out DIR] [--budget-s 470]          # on a GPU node
    bash tools/gpu_smoke.sh --cpu-parity [--model DIR]           # the same commands on the CPU
    bash tools/gpu_smoke.sh --check-flags                        # every command's flags, nothing run

Parts, in order (every run goes through the user-facing recipe with the GPU profile):

  gpu            a GPU visible to torch, and vLLM + flash-attn importable (EXTRAS=gpu install)
  model          the synthetic tasks, the evaluation fixtures and a random Qwen2.5-VL sized for vLLM
                 and flash-attn (`tiny_model --size gpu`, head dims 64, warm-started for a few steps)
  stage2         2 steps of stage 2 (GRPO + PAD) with vLLM rollouts, PAD in the released-code mode
  pad            from stage 2's metrics: 1.5 x N draws with replacement (repeats), padded up to whole
                 mini-batches (two optimizer steps per training step)
  stage3         2 steps of stage 3 (text RL, KL, frozen vision tower) with vLLM rollouts
  frozen_vision  stage 3's checkpoint: every vision weight bit-identical, language weights moved
  stage1         2 steps of the cold-start SFT (flash-attn, remove-padding) and the merge to HF
  eval           evaluation generation through vLLM, one engine
  eval_dp        the same with --data-parallel 2: two engines on the one GPU, started one after the other

Every command of every part is built in one place, :func:`part_commands`. ``--cpu-parity`` runs
those same commands with only the device and the engines substituted (REVISUAL_DEVICE=cpu and its
profile, the `hf` rollout and evaluation engine instead of vLLM) and smaller sizes; the test suite
runs it, and checks every command's flags against the real entry points (``--check-flags``), so a
renamed flag fails CI rather than the next GPU run.

Exit status: 1 if a part failed, or if a part was skipped while a GPU (or --cpu-parity) was there
to run it (its share of the time budget was spent, or a part it needs failed); 0 otherwise. On a
machine without a GPU and without --cpu-parity every part prints SKIP and the exit status is 0.
Logs go to <out>/logs/<command>.log. The time budget (default 470 s, under 8 minutes) is shared out
between the parts (:data:`SHARES`): part k must end by the start plus the shares of parts 1..k, so
a slow part can use what the parts before it left over but never the time of the parts after it;
a part that finds its time spent is skipped.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAD_RATIO = 1.5
MICRO_BATCH = 8  # sequences per micro-batch in every pass of the RL stages (dynamic batch sizes off)
EVAL_BENCHMARKS = ("mathvista", "math500")
# The tiny models' own image range (28x28 to 112x112): the recipe's 0.26-4 MP is for real images.
TINY_PIXELS = (784, 12544)


class Skip(Exception):
    """The part cannot run here; not a failure."""


class Failure(Exception):
    """The part ran and something is wrong."""


@dataclass(frozen=True)
class Mode:
    """What may differ between the GPU run and its CPU parity run: the device, the engines and sizes."""

    name: str
    device: str
    """REVISUAL_DEVICE of every run (the launchers pick the matching profile)."""
    engine: str
    """Rollout and evaluation engine: vllm on the GPU, hf on the CPU."""
    engine_marker: str
    """A line the RL log holds when the rollout went through ``engine``."""
    model_size: str
    """``tiny_model --size``."""
    warm_start_steps: int
    steps: int
    """Training steps of every stage."""
    batch_prompts: int
    rollouts: int
    max_response_length: int
    workers: int
    """Agent-loop, reward and overlong-filter processes."""
    eval_limit: int
    eval_max_tokens: int
    budget_s: float


GPU = Mode("gpu", device="gpu", engine="vllm", engine_marker="vLLMHttpServer", model_size="gpu", warm_start_steps=20,
           steps=2, batch_prompts=8, rollouts=4, max_response_length=64, workers=2, eval_limit=4, eval_max_tokens=32,
           budget_s=470)  # fmt: skip
# Two CPU cores run what one GPU runs: one step per stage, half the batch; the same flags otherwise.
CPU_PARITY = Mode("cpu-parity", device="cpu", engine="hf", engine_marker="HFRolloutServer", model_size="cpu",
                  warm_start_steps=2, steps=1, batch_prompts=4, rollouts=4, max_response_length=32, workers=1,
                  eval_limit=1, eval_max_tokens=16, budget_s=1800)  # fmt: skip

# Each part's share of the time budget, from what its runs took on one GPU (stage starts dominate).
SHARES = {"gpu": 0.03, "model": 0.10, "stage2": 0.25, "pad": 0.0, "stage3": 0.22, "frozen_vision": 0.02,
          "stage1": 0.16, "eval": 0.10, "eval_dp": 0.12}  # fmt: skip


@dataclass(frozen=True)
class Command:
    """One process a part runs: its log name, its argv and what it adds to the smoke environment."""

    log: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Layout:
    """Where a smoke run keeps its assets and the outputs of each part."""

    out: Path
    model: Path

    @property
    def data(self) -> Path:
        return self.out / "assets" / "data"

    @property
    def fixtures(self) -> Path:
        return self.out / "assets" / "eval_data"

    def run_dir(self, part: str) -> Path:
        return self.out / part


def layout_for(out: Path, mode: Mode, model: Path | None = None) -> Layout:
    return Layout(out, model or out / "assets" / f"tiny-qwen25vl-{mode.model_size}")


# ---- every command of every part: the one place they are built ------------------------------


def rl_overrides(mode: Mode, layout: Layout, data_dir: str, part: str) -> list[str]:
    """Stage 2/3 on one GPU for a few steps: small batches, vLLM with little memory, few Ray actors."""
    data, run_dir = layout.data / data_dir, layout.run_dir(part)
    prompt = 512
    return [
        f"actor_rollout_ref.model.path={layout.model}",
        f"data.train_files={data / 'train.parquet'}",
        f"data.val_files={data / 'val.parquet'}",
        f"data.train_batch_size={mode.batch_prompts}",
        f"data.max_prompt_length={prompt}",
        f"data.max_response_length={mode.max_response_length}",
        "data.dataloader_num_workers=0",
        f"data.filter_overlong_prompts_workers={mode.workers}",
        f"data.mm_processor_kwargs.min_pixels={TINY_PIXELS[0]}",
        f"data.mm_processor_kwargs.max_pixels={TINY_PIXELS[1]}",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={mode.batch_prompts}",
        "actor_rollout_ref.actor.use_dynamic_bsz=false",
        f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={MICRO_BATCH}",
        "actor_rollout_ref.ref.log_prob_use_dynamic_bsz=false",
        f"actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu={MICRO_BATCH}",
        "actor_rollout_ref.rollout.log_prob_use_dynamic_bsz=false",
        f"actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu={MICRO_BATCH}",
        f"actor_rollout_ref.rollout.name={mode.engine}",
        f"actor_rollout_ref.rollout.n={mode.rollouts}",
        "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
        # the tiny model has 4096 positions, the recipe's context is 16384
        f"actor_rollout_ref.rollout.max_model_len={prompt + mode.max_response_length}",
        "actor_rollout_ref.rollout.gpu_memory_utilization=0.3",
        "actor_rollout_ref.rollout.enforce_eager=true",
        f"actor_rollout_ref.rollout.agent.num_workers={mode.workers}",
        f"reward.num_workers={mode.workers}",
        "transfer_queue.backend.SimpleStorage.num_data_storage_units=2",
        "ray_kwargs.ray_init.num_cpus=64",
        "trainer.n_gpus_per_node=1",
        "trainer.nnodes=1",
        f"trainer.total_training_steps={mode.steps}",
        f"trainer.save_freq={mode.steps}",
        "trainer.test_freq=-1",
        "trainer.val_before_train=false",
        "trainer.resume_mode=disable",
        "trainer.logger=[console,file]",
        f"trainer.experiment_name={part}_smoke",
        f"trainer.default_local_dir={run_dir / 'checkpoints'}",
    ]


# The released code's PAD: a band on the filter, |A|^1.5 priorities, 1.5 x N draws with replacement.
PAD_RELEASED_CODE = ["algorithm.pad.variant=official"]
# Stage 3 is there for the frozen tower, which needs an update: with the accuracy filter a toy model
# can give every rollout of every prompt the same accuracy and PAD then skips the step. Every row is
# eligible under |A| >= 0 (the length term of the reward still spreads the advantages).
EVERY_ROW_ELIGIBLE = ["algorithm.pad.filter_on=advantage", "algorithm.pad.low=0"]


def sft_overrides(mode: Mode, layout: Layout) -> list[str]:
    sft, run_dir = layout.data / "sft", layout.run_dir("stage1")
    return [
        f"model.path={layout.model}",
        f"data.train_files={sft / 'train.parquet'}",
        f"data.val_files={sft / 'val.parquet'}",
        f"data.train_batch_size={mode.batch_prompts}",
        "data.micro_batch_size_per_gpu=4",
        "data.max_length=1024",
        "data.max_token_len_per_gpu=8192",
        "data.num_workers=0",
        "trainer.total_epochs=1",
        f"trainer.total_training_steps={mode.steps}",
        f"trainer.save_freq={mode.steps}",
        "trainer.test_freq=-1",
        "trainer.n_gpus_per_node=1",
        "trainer.nnodes=1",
        "trainer.resume_mode=disable",
        "trainer.experiment_name=stage1_smoke",
        f"trainer.default_local_dir={run_dir / 'checkpoints'}",
        f"revisual.output_dir={run_dir / 'hf'}",
    ]


GPU_PROBE = (
    "import torch\n"
    "if not torch.cuda.is_available(): print('NO_GPU'); raise SystemExit(0)\n"
    "print(torch.cuda.get_device_name(0), torch.__version__)\n"
    "import vllm, flash_attn, transformers\n"
    "print('vllm', vllm.__version__, 'flash_attn', flash_attn.__version__, 'transformers', transformers.__version__)\n"
)
CPU_PROBE = "import torch, transformers\nprint('cpu: torch', torch.__version__, 'transformers', transformers.__version__)\n"


def eval_generate(mode: Mode, layout: Layout, part: str, extra: list[str]) -> tuple[str, ...]:
    return (
        "-m", "revisual_eval", "generate", "--model", str(layout.model), "--data-root", str(layout.fixtures),
        "--out", str(layout.run_dir(part)), "--benchmarks", ",".join(EVAL_BENCHMARKS), "--limit", str(mode.eval_limit),
        "--backend", mode.engine, "--max-tokens", str(mode.eval_max_tokens), "--min-pixels", str(TINY_PIXELS[0]),
        "--max-pixels", str(TINY_PIXELS[1]), "--max-model-len", "2048", *extra,
    )  # fmt: skip


def part_commands(mode: Mode, layout: Layout, python: str = sys.executable, build_model: bool = True) -> dict[str, list[Command]]:
    """Every command the smoke test runs, per part and in order (parts that only read outputs have none)."""
    recipe = ROOT / "recipes"
    model = [Command("model_data", (python, "-m", "data_preprocess.synthetic", "--out", str(layout.data), "--seed", "0")),
             Command("model_fixtures", (python, "-m", "revisual_eval", "fixtures", "--out", str(layout.fixtures)))]  # fmt: skip
    if build_model:
        model.append(Command("model_build", (python, "-m", "verl_ext.tiny_model", "--out", str(layout.model), "--size",
                                             mode.model_size, "--warm-start-steps", str(mode.warm_start_steps))))  # fmt: skip
    # One GPU named twice: each of the two worker processes gets it as its own device group.
    gpu = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0] or "0"
    dp_env = (("CUDA_VISIBLE_DEVICES", f"{gpu},{gpu}"),) if mode.device == "gpu" else ()
    return {
        "gpu": [Command("gpu", (python, "-c", GPU_PROBE if mode.device == "gpu" else CPU_PROBE))],
        "model": model,
        "stage2": [Command("stage2", ("bash", str(recipe / "revisual_stage2.sh"),
                                      *rl_overrides(mode, layout, "mmrl", "stage2"), *PAD_RELEASED_CODE))],
        "pad": [],
        "stage3": [Command("stage3", ("bash", str(recipe / "revisual_stage3.sh"), *rl_overrides(mode, layout, "textrl", "stage3"),
                                      *EVERY_ROW_ELIGIBLE))],
        "frozen_vision": [],
        "stage1": [Command("stage1", ("bash", str(recipe / "revisual_stage1.sh"), *sft_overrides(mode, layout)),
                           (("NPROC_PER_NODE", "1"),))],
        "eval": [Command("eval", (python, *eval_generate(mode, layout, "eval", ["--gpu-memory-utilization", "0.25"])))],
        "eval_dp": [Command("eval_dp", (python, *eval_generate(mode, layout, "eval_dp", ["--data-parallel", "2",
                                                                                        "--gpu-memory-utilization", "0.2"])),
                            dp_env)],
    }  # fmt: skip


# ---- the flags of every command, checked against the real entry points without running them ---

# recipe -> (config name, device profile group)
RECIPE_CONFIGS = {"revisual_stage1.sh": ("revisual_stage1", "sft_profile"),
                  "revisual_stage2.sh": ("revisual_stage2", "device_profile"),
                  "revisual_stage3.sh": ("revisual_stage3", "device_profile")}  # fmt: skip


class _Parsed(Exception):
    """Raised in place of running an entry point once its parser has accepted the command line."""


def _check_argparse(module_name: str, args: list[str]) -> None:
    """Run the module's ``main(args)`` until its argparse parser has parsed them (strictly), then stop."""
    import argparse as ap
    import importlib

    module = importlib.import_module(module_name)
    main_module = module if hasattr(module, "main") else importlib.import_module(module_name + ".__main__")
    original = ap.ArgumentParser.parse_args

    def exact_names(parser) -> None:
        # argparse takes a unique prefix of a flag: the smoke commands must name flags in full, or a
        # renamed flag would pass as long as it is a prefix of the new name.
        parser.allow_abbrev = False
        for action in parser._actions:
            if isinstance(action, ap._SubParsersAction):
                for sub in action.choices.values():
                    exact_names(sub)

    def parse_then_stop(parser, argv=None, namespace=None):
        exact_names(parser)
        original(parser, argv, namespace)  # exits with status 2 on an unknown flag or a bad value
        raise _Parsed

    ap.ArgumentParser.parse_args = parse_then_stop
    try:
        main_module.main(args)
    except _Parsed:
        return
    except SystemExit as stop:
        raise Failure(f"python -m {module_name} refused its flags (exit {stop.code}): {' '.join(args)}") from None
    finally:
        ap.ArgumentParser.parse_args = original
    raise Failure(f"python -m {module_name} returned without parsing its flags")


def _check_recipe(recipe: str, overrides: list[str], mode: Mode) -> None:
    """Compose the recipe's config as its launcher does (device profile included) and validate it as verl does."""
    from hydra import compose, initialize_config_dir

    import verl_ext.plugin  # noqa: F401  (registers revisual's keys and engines, as the launchers do)
    from verl_ext.stages.text_rl import stage3_argv
    from verl_ext.trainer.main import prepare_process_environment

    name, group = RECIPE_CONFIGS[recipe]
    os.environ["REVISUAL_DEVICE"] = mode.device
    os.environ.pop("RAY_ADDRESS", None)
    if name == "revisual_stage3":
        overrides = stage3_argv(overrides, mode.device)[2:]
    argv = prepare_process_environment(list(overrides), profile_group=group)
    with initialize_config_dir(config_dir=str(ROOT / "verl_ext" / "config"), version_base=None):
        try:
            cfg = compose(config_name=name, overrides=argv)
        except Exception as err:  # hydra's errors for an unknown key or a bad value differ by case
            raise Failure(f"{recipe}: {type(err).__name__}: {err}") from None
    if group == "sft_profile":
        if (Path(cfg.model.path) / "config.json").is_file():  # verl's SFT checks read the model's config
            from verl_ext.stages.sft import validate_sft_config

            validate_sft_config(cfg)
        return
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    from verl_ext.settings import validate_revisual_config

    try:
        validate_config(cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
        validate_revisual_config(cfg)
    except (ValueError, AssertionError) as err:
        raise Failure(f"{recipe}: {err}") from None
    if cfg.actor_rollout_ref.rollout.name != mode.engine:
        raise Failure(f"{recipe}: rollout {cfg.actor_rollout_ref.rollout.name}, expected {mode.engine}")


def check_command(command: Command, mode: Mode) -> None:
    """Raise :class:`Failure` unless the command's entry point accepts every flag it is given."""
    saved = dict(os.environ)
    try:
        os.environ.update(dict(command.env))
        argv = list(command.argv)
        if argv[0] == "bash":
            _check_recipe(Path(argv[1]).name, argv[2:], mode)
        elif argv[1] == "-m":
            _check_argparse(argv[2], argv[3:])
        elif argv[1] != "-c":  # an inline probe has no flags
            raise Failure(f"no flag check for {argv[:3]}")
    finally:
        os.environ.clear()
        os.environ.update(saved)


def check_flags(out: Path) -> int:
    """Check every command of both modes; prints one line per command, returns the exit status."""
    bad = 0
    for mode in (GPU, CPU_PARITY):
        for part, commands in part_commands(mode, layout_for(out, mode)).items():
            for command in commands:
                try:
                    check_command(command, mode)
                    print(f"OK {mode.name} {command.log}", flush=True)
                except Failure as problem:
                    bad += 1
                    print(f"BAD {mode.name} {command.log}: {problem}", flush=True)
    return 1 if bad else 0


# ---- checks on what a run left behind --------------------------------------------------------


def metrics_rows(run_dir: Path) -> list[dict]:
    rows = []
    for path in sorted((run_dir / "metrics").glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def check_rl_run(run_dir: Path, log: str, mode: Mode = GPU) -> str:
    rows = metrics_rows(run_dir)
    steps = [row["step"] for row in rows]
    if steps != list(range(1, mode.steps + 1)):
        raise Failure(f"metrics steps {steps}, expected 1..{mode.steps}")
    if not (run_dir / "checkpoints" / f"global_step_{mode.steps}" / "actor").is_dir():
        raise Failure(f"no checkpoint global_step_{mode.steps}/actor in {run_dir / 'checkpoints'}")
    if mode.engine_marker not in log:
        raise Failure(f"no {mode.engine_marker} in the log: the rollout did not go through {mode.engine}")
    last = rows[-1]["data"]
    return f"{mode.steps} steps through {mode.engine}, step {mode.steps} took {last.get('timing_s/step', float('nan')):.1f} s"


def check_pad(rows: list[dict], mode: Mode = GPU) -> str:
    """Released-code PAD at work: N x ratio draws with repeats, cut into whole mini-batches."""
    from verl_ext.algos.pad import plan_update

    batch = mode.batch_prompts * mode.rollouts  # one mini-batch: ppo_mini_batch_size prompts x n rollouts
    # fixed micro-batches on the one rank: every optimizer step is a whole number of them
    plan = plan_update(math.ceil(batch * PAD_RATIO), batch, MICRO_BATCH)
    drawn, optimizer_steps_per_update = plan.total, plan.steps
    previous = 0.0
    checked = []
    for row in rows:
        data = row["data"]
        steps_now = data.get("actor/optimizer_steps", previous)
        if data.get("pad/num_effective", 0) > 0:
            if data["pad/num_selected"] != drawn:
                raise Failure(f"step {row['step']}: {data['pad/num_selected']} drawn, expected {drawn} ({PAD_RATIO} x {batch} "
                              f"in whole micro-batches of {MICRO_BATCH})")
            if not data["pad/num_unique_selected"] < drawn:
                raise Failure(f"step {row['step']}: no repeated draw ({data['pad/num_unique_selected']} unique of {drawn})")
            if steps_now - previous != optimizer_steps_per_update:
                raise Failure(
                    f"step {row['step']}: {steps_now - previous:g} optimizer steps, expected {optimizer_steps_per_update} "
                    f"({drawn} draws in whole mini-batches of {plan.step_size})"
                )
            checked.append(f"step {row['step']}: {drawn} drawn, {data['pad/num_unique_selected']:g} unique")
        previous = steps_now
    if not checked:
        raise Failure("no step had a group with reward spread, so PAD had nothing to draw from")
    return "; ".join(checked) + f"; {optimizer_steps_per_update} optimizer steps each"


def canonical_key(name: str) -> str:
    """One name per tensor: HF's saved names and the in-memory module's names differ by a prefix."""
    return name.replace("model.language_model.", "model.").replace("model.visual.", "visual.")


def check_frozen_vision(checkpoint_dir: Path, initial_model: Path, steps: int = GPU.steps) -> str:
    import torch
    from safetensors.torch import load_file

    before = {canonical_key(k): v for k, v in load_file(initial_model / "model.safetensors").items()}
    shard_path = checkpoint_dir / f"global_step_{steps}" / "actor" / "model_world_size_1_rank_0.pt"
    shard = torch.load(shard_path, map_location="cpu", weights_only=False)
    after = {canonical_key(k): (v.to_local() if hasattr(v, "to_local") else v) for k, v in shard.items()}
    vision = [k for k in before if k.startswith("visual.")]
    language = [k for k in before if k not in vision]
    if not vision or not language:
        raise Failure(f"expected vision and language weights, got {len(vision)} and {len(language)}")
    missing = [k for k in before if k not in after]
    if missing:
        raise Failure(f"{len(missing)} weights missing from the checkpoint, e.g. {missing[:3]}")
    moved_vision = [k for k in vision if not torch.equal(after[k], before[k].to(after[k].dtype))]
    moved_language = [k for k in language if not torch.equal(after[k], before[k].to(after[k].dtype))]
    if moved_vision:
        raise Failure(f"{len(moved_vision)} of {len(vision)} vision weights changed, e.g. {moved_vision[:3]}")
    if not moved_language:
        raise Failure(f"none of {len(language)} language weights changed in {steps} steps")
    return f"{len(vision)} vision tensors bit-identical, {len(moved_language)} of {len(language)} language tensors moved"


def check_sft(run_dir: Path, steps: int = GPU.steps) -> str:
    if not (run_dir / "checkpoints" / f"global_step_{steps}").is_dir():
        raise Failure(f"no checkpoint global_step_{steps} in {run_dir / 'checkpoints'}")
    merged = run_dir / "hf"
    weights = [p.name for p in merged.glob("model*.safetensors*")]
    if not (merged / "config.json").is_file() or not weights:
        raise Failure(f"merged model incomplete in {merged}: config.json and model*.safetensors expected")
    losses = [row["data"]["train/loss"] for row in metrics_rows(run_dir) if "train/loss" in row["data"]]
    if len(losses) < steps:
        raise Failure(f"{len(losses)} train/loss rows in the metrics, expected {steps}")
    return f"{steps} steps (loss {losses[0]:.3f} -> {losses[-1]:.3f}), merged to {merged}"


def check_eval(out_dir: Path) -> str:
    counts = {}
    for name in EVAL_BENCHMARKS:
        path = out_dir / f"{name}.jsonl"
        counts[name] = len([line for line in path.read_text().splitlines() if line.strip()]) if path.exists() else 0
    if not all(counts.values()):
        raise Failure(f"generations per benchmark: {counts}")
    return ", ".join(f"{name}: {n} generations" for name, n in counts.items())


# ---- running parts ---------------------------------------------------------------------------


@dataclass
class Smoke:
    out: Path
    deadline: float
    mode: Mode = GPU
    model: Path | None = None
    """A model to use instead of building one (the CPU parity test passes the CPU default's)."""
    python: str = sys.executable
    results: dict[str, str] = field(default_factory=dict)
    part_deadline: float = float("inf")
    """When the running part's share of the budget ends (set by :func:`run_parts`)."""

    @property
    def layout(self) -> Layout:
        return layout_for(self.out, self.mode, self.model)

    @property
    def commands(self) -> dict[str, list[Command]]:
        return part_commands(self.mode, self.layout, self.python, build_model=self.model is None)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "VERL_PLATFORM")}
        if self.mode.device == "cpu" and env.get("CUDA_VISIBLE_DEVICES") == "":
            # "no GPU" said this way makes Ray refuse the logical GPU units the CPU profile declares
            del env["CUDA_VISIBLE_DEVICES"]
        env.update(
            REVISUAL_DEVICE=self.mode.device,
            PYTHON=self.python,  # the recipes' interpreter: this one, also where the checkout has no .venv
            PYTHONPATH=f"{ROOT}{os.pathsep}{env['PYTHONPATH']}" if env.get("PYTHONPATH") else str(ROOT),
            HF_HUB_OFFLINE="1",
            WANDB_MODE="disabled",
            REVISUAL_VERBOSE="1",  # each part's log gets the recipes' full output, not their short console
            TOKENIZERS_PARALLELISM="false",
            RAY_DEDUP_LOGS="0",
        )
        return env

    def run(self, command: Command) -> str:
        """Run one command, bounded by its part's share of the budget; returns its output, raises on failure."""
        left = min(self.deadline, self.part_deadline) - time.monotonic()
        if left < 20:
            raise Skip("its share of the time budget is spent")
        log_path = self.out / "logs" / f"{command.log}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w") as log:
            log.write("$ " + " ".join(command.argv) + "\n")
            log.flush()
            proc = subprocess.Popen(list(command.argv), cwd=ROOT, env={**self.env, **dict(command.env)}, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
            try:
                rc = proc.wait(timeout=left)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the run's own session: its local Ray goes with it
                proc.wait()
                raise Failure(f"stopped after {left:.0f} s, the end of its share of the budget (log: {log_path})") from None
        text = log_path.read_text(errors="replace")
        if rc != 0:
            tail = " | ".join(line for line in text.splitlines()[-4:] if line.strip())
            raise Failure(f"exit status {rc} (log: {log_path}): {tail[-400:]}")
        return text

    def run_part(self, part: str) -> str:
        """Run every command of a part in order; returns the last one's output."""
        text = ""
        for command in self.commands[part]:
            text = self.run(command)
        return text


def part_gpu(smoke: Smoke) -> str:
    (command,) = smoke.commands["gpu"]
    proc = subprocess.run(list(command.argv), env=smoke.env, capture_output=True, text=True, timeout=300)
    if proc.stdout.startswith("NO_GPU"):
        raise Skip("no GPU visible to torch")
    if proc.returncode != 0:
        install = "EXTRAS=gpu bash tools/install.sh" if smoke.mode.device == "gpu" else "bash tools/install.sh"
        raise Failure(f"{smoke.mode.device} stack not importable ({install}): {proc.stderr.strip()[-300:]}")
    return " / ".join(proc.stdout.split("\n")[:2])


def part_model(smoke: Smoke) -> str:
    smoke.run_part("model")
    model = smoke.layout.model
    config = json.loads((model / "config.json").read_text())
    text = config.get("text_config", config)
    origin = "given" if smoke.model is not None else f"--size {smoke.mode.model_size}"
    return f"{model} ({origin}, hidden {text['hidden_size']}, {text['num_attention_heads']} heads)"


def _rl_part(smoke: Smoke, part: str) -> str:
    return check_rl_run(smoke.layout.run_dir(part), smoke.run_part(part), smoke.mode)


def part_stage2(smoke: Smoke) -> str:
    return _rl_part(smoke, "stage2")


def part_pad(smoke: Smoke) -> str:
    return check_pad(metrics_rows(smoke.layout.run_dir("stage2")), smoke.mode)


def part_stage3(smoke: Smoke) -> str:
    return _rl_part(smoke, "stage3")


def part_frozen_vision(smoke: Smoke) -> str:
    return check_frozen_vision(smoke.layout.run_dir("stage3") / "checkpoints", smoke.layout.model, smoke.mode.steps)


def part_stage1(smoke: Smoke) -> str:
    smoke.run_part("stage1")
    return check_sft(smoke.layout.run_dir("stage1"), smoke.mode.steps)


def _eval_part(smoke: Smoke, part: str) -> str:
    smoke.run_part(part)
    return f"python -m revisual_eval ({smoke.mode.engine}): " + check_eval(smoke.layout.run_dir(part))


def part_eval(smoke: Smoke) -> str:
    return _eval_part(smoke, "eval")


def part_eval_dp(smoke: Smoke) -> str:
    return _eval_part(smoke, "eval_dp")


# (name, function, parts it needs)
PARTS = [
    ("gpu", part_gpu, []),
    ("model", part_model, ["gpu"]),
    ("stage2", part_stage2, ["model"]),
    ("pad", part_pad, ["stage2"]),
    ("stage3", part_stage3, ["model"]),
    ("frozen_vision", part_frozen_vision, ["stage3"]),
    ("stage1", part_stage1, ["model"]),
    ("eval", part_eval, ["model"]),
    ("eval_dp", part_eval_dp, ["model"]),
]


def run_parts(smoke: Smoke, parts=PARTS, shares: dict[str, float] | None = None) -> dict[str, str]:
    """Run the parts in order, each until the end of its cumulative share of the budget."""
    shares = SHARES if shares is None else shares
    started_all = time.monotonic()
    budget = smoke.deadline - started_all
    cumulative = 0.0
    for name, function, needs in parts:
        cumulative += shares.get(name, 0.0)
        smoke.part_deadline = started_all + budget * cumulative if math.isfinite(budget) else float("inf")
        blocked = [need for need in needs if smoke.results.get(need) != "PASS"]
        if blocked:
            why = "no GPU" if smoke.results.get("gpu") == "SKIP" else f"needs {', '.join(blocked)}"
            status, detail = "SKIP", why
        else:
            started = time.monotonic()
            try:
                status, detail = "PASS", function(smoke)
            except Skip as reason:
                status, detail = "SKIP", str(reason)
            except Failure as problem:
                status, detail = "FAIL", str(problem)
            except Exception as error:  # noqa: BLE001  (a broken check is a failure of its part, not of the smoke test)
                status, detail = "FAIL", f"{type(error).__name__}: {error}"
            detail = f"{detail} [{time.monotonic() - started:.0f} s]"
        smoke.results[name] = status
        print(f"{status} {name}: {detail}", flush=True)
    return smoke.results


def exit_status(results: dict[str, str]) -> int:
    """1 on a failure, or on a skip where the device was there (time ran out, or a part it needs failed)."""
    if "FAIL" in results.values():
        return 1
    device_found = results.get("gpu") == "PASS"
    return 1 if device_found and "SKIP" in results.values() else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="run folder (default: outputs/gpu_smoke/<time>)")
    parser.add_argument("--budget-s", type=float, help=f"wall-clock budget for all parts (default {GPU.budget_s:g}; "
                                                        f"{CPU_PARITY.budget_s:g} with --cpu-parity)")  # fmt: skip
    parser.add_argument("--cpu-parity", action="store_true",
                        help="run the same commands on the CPU: REVISUAL_DEVICE=cpu, the hf engines, small sizes")
    parser.add_argument("--model", type=Path, help="use this tiny model instead of building one")
    parser.add_argument("--check-flags", action="store_true",
                        help="check every command's flags (both modes) against the real entry points; run nothing")
    args = parser.parse_args(argv)
    out = (args.out or ROOT / "outputs" / "gpu_smoke" / time.strftime("%Y%m%d-%H%M%S")).resolve()
    if args.check_flags:
        return check_flags(out)
    mode = CPU_PARITY if args.cpu_parity else GPU
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    budget = args.budget_s if args.budget_s is not None else mode.budget_s
    smoke = Smoke(out=out, deadline=started + budget, mode=mode, model=args.model.resolve() if args.model else None)
    results = run_parts(smoke)
    counts = {s: list(results.values()).count(s) for s in ("PASS", "FAIL", "SKIP")}
    print(f"gpu_smoke ({mode.name}): {counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['SKIP']} SKIP "
          f"in {time.monotonic() - started:.0f} s; logs in {out / 'logs'}")  # fmt: skip
    return exit_status(results)


if __name__ == "__main__":
    sys.exit(main())
