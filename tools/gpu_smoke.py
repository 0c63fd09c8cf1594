"""Smoke test of the GPU path on one GPU: each part prints PASS, FAIL or SKIP, and a failure never
stops the parts after it (a part that needs a failed one is skipped and says why).

    bash tools/gpu_smoke.sh [--out DIR] [--budget-s 470]

Parts, in order (every run goes through the user-facing recipe with the GPU profile):

  gpu            a GPU visible to torch, and vLLM + flash-attn importable (EXTRAS=gpu install)
  model          a random Qwen2.5-VL sized for vLLM and flash-attn (`tiny_model --size gpu`, head
                 dims 64, fitted to the answer format for a few seconds) + the synthetic tasks
  stage2         2 steps of stage 2 (GRPO + PAD) with vLLM rollouts, PAD in the released-code mode
  pad            from stage 2's metrics: 1.5 x N draws with replacement (repeats), padded up to whole
                 mini-batches (two optimizer steps per training step)
  stage3         2 steps of stage 3 (text RL, KL, frozen vision tower) with vLLM rollouts
  frozen_vision  stage 3's checkpoint: every vision weight bit-identical, language weights moved
  stage1         2 steps of the cold-start SFT (flash-attn, remove-padding) and the merge to HF
  eval           evaluation generation through vLLM, one process
  eval_dp        the same with --data-parallel 2 (two engine copies on the one GPU)

Without a GPU every part prints SKIP and the exit status is 0; with one, the exit status is 1 if
any part failed. Logs go to <out>/logs/<part>.log. The time budget (default 470 s, under 8
minutes) bounds every run; a part that finds it spent is skipped.
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
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMOKE_STEPS = 2
BATCH_PROMPTS = 8
ROLLOUTS = 4
PAD_RATIO = 1.5
EVAL_BENCHMARKS = ("mathvista", "math500")


class Skip(Exception):
    """The part cannot run here; not a failure."""


class Failure(Exception):
    """The part ran and something is wrong."""


# ---- overrides (checked against verl's validation on the CPU by tests/tools/test_gpu_smoke.py) ----


def rl_overrides(model: str, train: str, val: str, run_dir: Path, experiment: str) -> list[str]:
    """Stage 2/3 on one GPU for two steps: small batches, vLLM with little memory, few Ray actors."""
    return [
        f"actor_rollout_ref.model.path={model}",
        f"data.train_files={train}",
        f"data.val_files={val}",
        f"data.train_batch_size={BATCH_PROMPTS}",
        "data.max_prompt_length=512",
        "data.max_response_length=64",
        "data.dataloader_num_workers=0",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={BATCH_PROMPTS}",
        "actor_rollout_ref.actor.use_dynamic_bsz=false",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8",
        "actor_rollout_ref.ref.log_prob_use_dynamic_bsz=false",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=8",
        "actor_rollout_ref.rollout.log_prob_use_dynamic_bsz=false",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=8",
        f"actor_rollout_ref.rollout.n={ROLLOUTS}",
        "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
        "actor_rollout_ref.rollout.gpu_memory_utilization=0.3",
        "actor_rollout_ref.rollout.enforce_eager=true",
        "actor_rollout_ref.rollout.agent.num_workers=2",
        "reward.num_workers=2",
        "transfer_queue.backend.SimpleStorage.num_data_storage_units=2",
        "ray_kwargs.ray_init.num_cpus=64",
        "trainer.n_gpus_per_node=1",
        "trainer.nnodes=1",
        f"trainer.total_training_steps={SMOKE_STEPS}",
        f"trainer.save_freq={SMOKE_STEPS}",
        "trainer.test_freq=-1",
        "trainer.val_before_train=false",
        "trainer.resume_mode=disable",
        "trainer.logger=[console,file]",
        f"trainer.experiment_name={experiment}",
        f"trainer.default_local_dir={run_dir / 'checkpoints'}",
    ]


# The released code's PAD: a band on the filter, |A|^1.5 priorities, 1.5 x N draws with replacement.
PAD_RELEASED_CODE = ["algorithm.pad.variant=official"]


def sft_overrides(model: str, train: str, val: str, run_dir: Path) -> list[str]:
    return [
        f"model.path={model}",
        f"data.train_files={train}",
        f"data.val_files={val}",
        "data.train_batch_size=8",
        "data.micro_batch_size_per_gpu=4",
        "data.max_length=1024",
        "data.max_token_len_per_gpu=8192",
        "data.num_workers=0",
        "trainer.total_epochs=1",
        f"trainer.total_training_steps={SMOKE_STEPS}",
        f"trainer.save_freq={SMOKE_STEPS}",
        "trainer.test_freq=-1",
        "trainer.n_gpus_per_node=1",
        "trainer.nnodes=1",
        "trainer.resume_mode=disable",
        "trainer.experiment_name=stage1_smoke",
        f"trainer.default_local_dir={run_dir / 'checkpoints'}",
        f"revisual.output_dir={run_dir / 'hf'}",
    ]


# ---- checks on what a run left behind --------------------------------------------------------


def metrics_rows(run_dir: Path) -> list[dict]:
    rows = []
    for path in sorted((run_dir / "metrics").glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def check_rl_run(run_dir: Path, log: str) -> str:
    rows = metrics_rows(run_dir)
    steps = [row["step"] for row in rows]
    if steps != list(range(1, SMOKE_STEPS + 1)):
        raise Failure(f"metrics steps {steps}, expected 1..{SMOKE_STEPS}")
    if not (run_dir / "checkpoints" / f"global_step_{SMOKE_STEPS}" / "actor").is_dir():
        raise Failure(f"no checkpoint global_step_{SMOKE_STEPS}/actor in {run_dir / 'checkpoints'}")
    if "vLLMHttpServer" not in log:
        raise Failure("no vLLM server in the log: the rollout did not go through vLLM")
    last = rows[-1]["data"]
    return f"{SMOKE_STEPS} steps through vLLM, step {SMOKE_STEPS} took {last.get('timing_s/step', float('nan')):.1f} s"


def check_pad(rows: list[dict]) -> str:
    """Released-code PAD at work: N x ratio draws with repeats, cut into whole mini-batches."""
    from verl_ext.algos.pad import plan_update

    batch = BATCH_PROMPTS * ROLLOUTS  # one mini-batch: ppo_mini_batch_size prompts x n rollouts
    # dynamic batch sizes on GPUs: a step's rows need only split over the one rank
    plan = plan_update(math.ceil(batch * PAD_RATIO), batch, 1)
    drawn, optimizer_steps_per_update = plan.total, plan.steps
    previous = 0.0
    checked = []
    for row in rows:
        data = row["data"]
        steps_now = data.get("actor/optimizer_steps", previous)
        if data.get("pad/num_effective", 0) > 0:
            if data["pad/num_selected"] != drawn:
                raise Failure(f"step {row['step']}: {data['pad/num_selected']} drawn, expected {drawn} ({PAD_RATIO} x {batch})")
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


def check_frozen_vision(checkpoint_dir: Path, initial_model: Path) -> str:
    import torch
    from safetensors.torch import load_file

    before = {canonical_key(k): v for k, v in load_file(initial_model / "model.safetensors").items()}
    shard_path = checkpoint_dir / f"global_step_{SMOKE_STEPS}" / "actor" / "model_world_size_1_rank_0.pt"
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
        raise Failure(f"none of {len(language)} language weights changed in {SMOKE_STEPS} steps")
    return f"{len(vision)} vision tensors bit-identical, {len(moved_language)} of {len(language)} language tensors moved"


def check_sft(run_dir: Path) -> str:
    if not (run_dir / "checkpoints" / f"global_step_{SMOKE_STEPS}").is_dir():
        raise Failure(f"no checkpoint global_step_{SMOKE_STEPS} in {run_dir / 'checkpoints'}")
    merged = run_dir / "hf"
    weights = [p.name for p in merged.glob("model*.safetensors*")]
    if not (merged / "config.json").is_file() or not weights:
        raise Failure(f"merged model incomplete in {merged}: config.json and model*.safetensors expected")
    losses = [row["data"]["train/loss"] for row in metrics_rows(run_dir) if "train/loss" in row["data"]]
    if len(losses) < SMOKE_STEPS:
        raise Failure(f"{len(losses)} train/loss rows in the metrics, expected {SMOKE_STEPS}")
    return f"{SMOKE_STEPS} steps (loss {losses[0]:.3f} -> {losses[-1]:.3f}), merged to {merged}"


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
    python: str = sys.executable
    results: dict[str, str] = field(default_factory=dict)
    notes: dict = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "VERL_PLATFORM")}
        env.update(
            REVISUAL_DEVICE="gpu",
            PYTHONPATH=f"{ROOT}{os.pathsep}{env['PYTHONPATH']}" if env.get("PYTHONPATH") else str(ROOT),
            HF_HUB_OFFLINE="1",
            WANDB_MODE="disabled",
            REVISUAL_VERBOSE="1",  # each part's log gets the recipes' full output, not their short console
            TOKENIZERS_PARALLELISM="false",
            RAY_DEDUP_LOGS="0",
        )
        return env

    def run(self, part: str, cmd: list[str], limit_s: float, env: dict | None = None) -> str:
        """Run a command for a part, bounded by its limit and the budget; returns its output, raises on failure."""
        left = self.deadline - time.monotonic()
        if left < 20:
            raise Skip("the time budget is spent")
        log_path = self.out / "logs" / f"{part}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w") as log:
            log.write("$ " + " ".join(cmd) + "\n")
            log.flush()
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env or self.env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)  # fmt: skip
            try:
                rc = proc.wait(timeout=min(limit_s, left))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the run's own session: its local Ray goes with it
                proc.wait()
                raise Failure(f"stopped after {min(limit_s, left):.0f} s (log: {log_path})") from None
        text = log_path.read_text(errors="replace")
        if rc != 0:
            tail = " | ".join(line for line in text.splitlines()[-4:] if line.strip())
            raise Failure(f"exit status {rc} (log: {log_path}): {tail[-400:]}")
        return text


def part_gpu(smoke: Smoke) -> str:
    probe = (
        "import torch\n"
        "if not torch.cuda.is_available(): print('NO_GPU'); raise SystemExit(0)\n"
        "print(torch.cuda.get_device_name(0), torch.__version__)\n"
        "import vllm, flash_attn, transformers\n"
        "print('vllm', vllm.__version__, 'flash_attn', flash_attn.__version__, 'transformers', transformers.__version__)\n"
    )
    proc = subprocess.run([smoke.python, "-c", probe], env=smoke.env, capture_output=True, text=True, timeout=300)
    if proc.stdout.startswith("NO_GPU"):
        raise Skip("no GPU visible to torch")
    if proc.returncode != 0:
        raise Failure(f"GPU stack not importable (EXTRAS=gpu bash tools/install.sh): {proc.stderr.strip()[-300:]}")
    return " / ".join(proc.stdout.split("\n")[:2])


def part_model(smoke: Smoke) -> str:
    assets = smoke.out / "assets"
    data, model = assets / "data", assets / "tiny-qwen25vl-gpu"
    script = (
        "import sys\nfrom data_preprocess.synthetic import write_synthetic_datasets\n"
        "write_synthetic_datasets(sys.argv[1], seed=0)\n"
    )
    smoke.run("model", [smoke.python, "-c", script, str(data)], 120)
    smoke.run("model_build", [smoke.python, "-m", "verl_ext.tiny_model", "--out", str(model), "--size", "gpu",
                              "--warm-start", str(data / "sft" / "train.parquet")], 180)  # fmt: skip
    config = json.loads((model / "config.json").read_text())
    smoke.notes.update(model=model, data=data)
    text = config.get("text_config", config)
    return f"{model} (hidden {text['hidden_size']}, {text['num_attention_heads']} heads)"


def _rl_part(smoke: Smoke, part: str, recipe: str, data_dir: str, extra: list[str]) -> str:
    run_dir = smoke.out / part
    data = smoke.notes["data"] / data_dir
    overrides = rl_overrides(str(smoke.notes["model"]), str(data / "train.parquet"), str(data / "val.parquet"), run_dir, f"{part}_smoke")
    log = smoke.run(part, ["bash", str(ROOT / "recipes" / recipe), *overrides, *extra], 300)
    smoke.notes[part] = run_dir
    return check_rl_run(run_dir, log)


def part_stage2(smoke: Smoke) -> str:
    return _rl_part(smoke, "stage2", "revisual_stage2.sh", "mmrl", PAD_RELEASED_CODE)


def part_pad(smoke: Smoke) -> str:
    return check_pad(metrics_rows(smoke.notes["stage2"]))


def part_stage3(smoke: Smoke) -> str:
    return _rl_part(smoke, "stage3", "revisual_stage3.sh", "textrl", [])


def part_frozen_vision(smoke: Smoke) -> str:
    return check_frozen_vision(smoke.notes["stage3"] / "checkpoints", smoke.notes["model"])


def part_stage1(smoke: Smoke) -> str:
    run_dir = smoke.out / "stage1"
    sft = smoke.notes["data"] / "sft"
    overrides = sft_overrides(str(smoke.notes["model"]), str(sft / "train.parquet"), str(sft / "val.parquet"), run_dir)
    smoke.run("stage1", ["bash", str(ROOT / "recipes" / "revisual_stage1.sh"), *overrides], 240,
              env={**smoke.env, "NPROC_PER_NODE": "1"})  # fmt: skip
    return check_sft(run_dir)


def eval_module(smoke: Smoke) -> str:
    """The evaluation application: ``revisual_eval`` where it imports, else ``verl_ext.eval``."""
    probe = subprocess.run([smoke.python, "-c", "import revisual_eval.__main__"], env=smoke.env, capture_output=True, timeout=120)
    return "revisual_eval" if probe.returncode == 0 else "verl_ext.eval"


def _eval_part(smoke: Smoke, part: str, extra: list[str], env: dict | None = None) -> str:
    module = smoke.notes.get("eval_module") or eval_module(smoke)
    smoke.notes["eval_module"] = module
    fixtures = smoke.out / "eval_data"
    if not fixtures.is_dir():
        smoke.run(f"{part}_fixtures", [smoke.python, "-m", module, "fixtures", "--out", str(fixtures)], 120)
    out = smoke.out / part
    cmd = [
        smoke.python, "-m", module, "generate", "--model", str(smoke.notes["model"]), "--data-root", str(fixtures),
        "--out", str(out), "--benchmarks", ",".join(EVAL_BENCHMARKS), "--limit", "4", "--backend", "vllm",
        "--max-tokens", "32", "--min-pixels", "784", "--max-pixels", "12544", "--max-model-len", "2048", *extra,
    ]  # fmt: skip
    smoke.run(part, cmd, 240, env=env)
    return f"python -m {module}: " + check_eval(out)


def part_eval(smoke: Smoke) -> str:
    return _eval_part(smoke, "eval", ["--gpu-memory-utilization", "0.25"])


def part_eval_dp(smoke: Smoke) -> str:
    # One GPU named twice: each of the two worker processes gets it as its own device group.
    gpu = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0] or "0"
    env = {**smoke.env, "CUDA_VISIBLE_DEVICES": f"{gpu},{gpu}"}
    return _eval_part(smoke, "eval_dp", ["--data-parallel", "2", "--gpu-memory-utilization", "0.2"], env=env)


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


def run_parts(smoke: Smoke, parts=PARTS) -> dict[str, str]:
    for name, function, needs in parts:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="run folder (default: outputs/gpu_smoke/<time>)")
    parser.add_argument("--budget-s", type=float, default=470, help="wall-clock budget for all parts (default 470)")
    args = parser.parse_args(argv)
    out = (args.out or ROOT / "outputs" / "gpu_smoke" / time.strftime("%Y%m%d-%H%M%S")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    smoke = Smoke(out=out, deadline=started + args.budget_s)
    results = run_parts(smoke)
    counts = {s: list(results.values()).count(s) for s in ("PASS", "FAIL", "SKIP")}
    print(f"gpu_smoke: {counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['SKIP']} SKIP "
          f"in {time.monotonic() - started:.0f} s; logs in {out / 'logs'}")  # fmt: skip
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
