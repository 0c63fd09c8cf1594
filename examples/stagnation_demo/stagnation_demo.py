"""A small CPU version of the paper's Table 4 / Fig. 3: stage-2 RL arms (GRPO, GRPO-Filter, random sampling,
PAD, the released code's PAD) from one cold start, over seeds, on a task mix where many groups stagnate.

    bash examples/stagnation_demo/run.sh [--quick] [--seeds N] [--arms grpo,filter,random,pad,official]
                                         [--steps S] [--out DIR] [extra stage-2 hydra overrides...]

Steps: build the demo's assets (``settings.DEMO_RECIPE``) once; stage 1 (cold-start SFT) once, merged;
per arm x seed a stage-2 launch through ``recipes/revisual_stage2.sh`` with identical settings except
``algorithm.pad.variant`` (and the seed), merged; validation accuracy (greedy and sampled) of the cold
start and of every final model with ``python -m verl_ext.stages.evaluate``; then ``fig3.png``,
``table.md`` and ``summary.json`` under ``--out``. A run whose result file exists is skipped on rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(HERE), str(REPO)]

from accounting import (  # noqa: E402
    STAGNATION_KEYS, arm_summary, cost_to_reach, format_table, mean_of, rollout_tokens, step_metrics,
    val_accuracy_curve,
)
from settings import (  # noqa: E402
    ARMS, DEFAULT_ARMS, DEFAULT_SEEDS, DEFAULT_STEPS, DEMO_RECIPE, PAPER_TABLE4, QUICK_STEPS,
    arm_settings, cold_start_settings, seed_settings, stage2_settings,
)

from verl_ext.stages.outputs import missing_model_files, write_json_atomic  # noqa: E402
from verl_ext.stages.pipeline import hydra_quoted, override_value  # noqa: E402

PREFIX = "[stagnation-demo]"
DEFAULT_ASSETS = REPO / ".cache" / "stagnation_demo"
BUDGET_MIN = 45.0
"""With the default arms, ``official`` is added only if its seeds fit into this many minutes of the whole run."""


# ----------------------------------------------------------------------------- small helpers
def run_logged(cmd: list[str], log_file: Path, env: dict) -> None:
    """Run ``cmd`` with all output to ``log_file``; a failure names the log and shows its tail."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "w") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    if code != 0:
        tail = "".join(log_file.read_text(errors="replace").splitlines(keepends=True)[-30:])
        raise SystemExit(f"{PREFIX} failed (exit {code}): {' '.join(cmd[:4])} ...; log: {log_file}\n{tail}")


def cpu_profile_rollouts_per_prompt() -> int:
    """``actor_rollout_ref.rollout.n`` of the CPU profile (what a launch uses unless the overrides set it)."""
    from omegaconf import OmegaConf

    profile = REPO / "verl_ext" / "config" / "device_profile" / "cpu.yaml"
    return int(OmegaConf.load(profile).actor_rollout_ref.rollout.n)


def load_rows(metrics_dir: Path) -> list[dict]:
    from verl_ext.plot import load_metrics

    return load_metrics(metrics_dir)


class Demo:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.out = Path(args.out).resolve()
        self.assets = Path(args.assets).resolve()
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(
            [str(REPO)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))}
        self.env.setdefault("REVISUAL_DEVICE", "cpu")
        self.env["REVISUAL_VERBOSE"] = "1"  # runs/<arm>-seed<k>/logs get the recipe's full output
        self.python = sys.executable
        self.started = time.time()
        self.run_times: list[float] = []
        self.recipe = DEMO_RECIPE
        if args.mmrl_tasks:
            # A factor scan: the same recipe with another image-task mix (keep it in its own --assets folder).
            self.recipe = replace(DEMO_RECIPE, tasks={**DEMO_RECIPE.tasks, "mmrl": args.mmrl_tasks.split(",")})

    # -- data paths of the demo's own assets (the CPU profile's defaults point at the CPU default's cache)
    def data_overrides(self) -> list[str]:
        data = self.assets / "data" / "mmrl"
        return [f"data.train_files={hydra_quoted(data / 'train.parquet')}",
                f"data.val_files={hydra_quoted(data / 'val.parquet')}"]

    def sequences_per_step(self) -> int:
        extra = self.args.overrides
        prompts = int(override_value(stage2_settings(1) + extra, "data.train_batch_size"))
        rollouts = int(override_value(extra, "actor_rollout_ref.rollout.n") or cpu_profile_rollouts_per_prompt())
        return prompts * rollouts

    # -- 1. assets and the cold start
    def build_assets(self) -> Path:
        from verl_ext.cpu_default import build_assets

        began = time.time()
        model = build_assets(self.assets, self.recipe)
        print(f"{PREFIX} assets ready in {time.time() - began:.0f} s: {self.assets}", flush=True)
        return model

    def cold_start(self, base_model: Path) -> Path:
        folder = self.out / "cold_start"
        hf = folder / "hf"
        if hf.is_dir() and not missing_model_files(hf):
            print(f"{PREFIX} cold start: merged model present, skipped ({hf})", flush=True)
            return hf
        if folder.exists():
            shutil.rmtree(folder)
        sft = self.assets / "data" / "sft"
        began = time.time()
        env = {**self.env, "VERL_FILE_LOGGER_PATH": str(folder / "metrics" / "stage1.jsonl")}
        run_logged([self.python, "-m", "verl_ext.stages.sft", f"model.path={hydra_quoted(base_model)}",
                    f"data.train_files={hydra_quoted(sft / 'train.parquet')}",
                    f"data.val_files={hydra_quoted(sft / 'val.parquet')}",
                    *cold_start_settings(),
                    f"trainer.default_local_dir={hydra_quoted(folder / 'checkpoints')}",
                    f"revisual.output_dir={hydra_quoted(hf)}"],
                   folder / "logs" / "stage1.log", env)
        print(f"{PREFIX} cold start (stage 1: {' '.join(cold_start_settings())}) done in {time.time() - began:.0f} s: "
              f"{hf}", flush=True)
        return hf

    # -- 2. evaluation
    def evaluate(self, model: Path, out_json: Path, log_file: Path) -> dict:
        if not out_json.is_file():
            run_logged([self.python, "-m", "verl_ext.stages.evaluate", "--stage", "2", "--model", str(model),
                        "--out", str(out_json), "--samples", str(self.args.eval_samples),
                        "--max-items", str(self.args.eval_items), "--",
                        *self.data_overrides(), *self.args.overrides], log_file, self.env)
        result = json.loads(out_json.read_text())["results"][0]
        return {"greedy": result["greedy"], "sampled": result["sampled"], "items": result["items"],
                "samples": result["samples"]}

    # -- 3. one arm x seed
    def run_dir(self, arm: str, seed: int) -> Path:
        return self.out / "runs" / f"{arm}-seed{seed}"

    def run_settings(self) -> dict:
        """What a run's result depends on besides its arm and seed; a result made with others is redone."""
        return {"steps": self.args.steps, "overrides": list(self.args.overrides), "eval_items": self.args.eval_items,
                "eval_samples": self.args.eval_samples, "recipe": self.recipe.to_json()}

    def finished(self, arm: str, seed: int) -> dict | None:
        """The run's result when it was made with the current settings."""
        try:
            result = json.loads((self.run_dir(arm, seed) / "result.json").read_text())
        except (FileNotFoundError, ValueError):
            return None
        if result.get("settings") != self.run_settings():
            print(f"{PREFIX} {arm} seed {seed}: result made with other settings; running it again", flush=True)
            return None
        return result

    def train_and_evaluate(self, arm: str, seed: int, cold: Path) -> dict:
        from verl_ext.stages.merge import latest_checkpoint, merge_latest_checkpoint

        folder = self.run_dir(arm, seed)
        began = time.time()
        ckpt = folder / "checkpoints"
        done = latest_checkpoint(ckpt)
        if not done or done[0] < self.args.steps:
            # An interrupted run restarts from scratch (its only checkpoint is the final one).
            if folder.exists():
                shutil.rmtree(folder)
            env = {**self.env, "VERL_FILE_LOGGER_PATH": str(folder / "metrics" / f"{arm}-seed{seed}.jsonl")}
            run_logged(["bash", str(REPO / "recipes" / "revisual_stage2.sh"), *self.data_overrides(),
                        f"actor_rollout_ref.model.path={hydra_quoted(cold)}", *stage2_settings(self.args.steps),
                        *seed_settings(seed), *arm_settings(arm),
                        f"trainer.default_local_dir={hydra_quoted(ckpt)}",
                        f"trainer.experiment_name=stagnation-{arm}-seed{seed}",
                        *self.args.overrides], folder / "logs" / "stage2.log", env)
        trained = time.time() - began
        hf = merge_latest_checkpoint(ckpt, folder / "hf", source_model=cold)
        val = self.evaluate(hf, folder / "val_acc.json", folder / "logs" / "evaluate.log")
        shutil.rmtree(ckpt)  # the merged model is what is kept (checkpoints also hold the optimizer state)
        rows = load_rows(folder / "metrics")
        result = {
            "arm": arm, "seed": seed, "steps": max((r["step"] for r in rows), default=0),
            "val": val, "rollout_tokens": rollout_tokens(rows, self.sequences_per_step()),
            # Share of steps whose draw was decided by the priority (|E| larger than the draw); None for grpo.
            "prioritised_step_frac": mean_of(rows, "pad/prioritised"),
            "trained_rows_mean": mean_of(rows, "pad/num_selected"),
            "step1": step_metrics(rows, 1, (*STAGNATION_KEYS, "reward/acc/mean", "response_length/mean")),
            # In-training validation (with trainer.test_freq) and the prompt scheduler's totals at the end.
            "val_curve": val_accuracy_curve(rows, self.val_weights()),
            "schedule": {k: v for k, v in (rows[-1] if rows else {}).items() if k.startswith("schedule/")},
            "wall_time_s": round(time.time() - began, 1), "train_time_s": round(trained, 1),
            "model": str(hf), "metrics_dir": str(folder / "metrics"), "settings": self.run_settings(),
        }
        write_json_atomic(folder / "result.json", result)
        return result

    def val_weights(self) -> dict:
        """Items per data source of the validation set, to weigh verl's per-source validation accuracies."""
        import pandas as pd

        counts = pd.read_parquet(self.assets / "data" / "mmrl" / "val.parquet")["data_source"].value_counts()
        return {str(source): float(count) for source, count in counts.items()}

    def reach_table(self, results: dict[str, list[dict]], reference: str = "pad") -> str:
        """Rollout tokens and training time each arm needed to reach the ``reference`` arm's final in-training
        validation accuracy (mean over its seeds); empty without in-training validation."""
        # From each run's metrics, so results written before these columns existed are counted too.
        rows_of = {id(r): load_rows(Path(r["metrics_dir"])) for runs in results.values() for r in runs}
        weights = self.val_weights()
        curve_of = {key: val_accuracy_curve(rows, weights) for key, rows in rows_of.items()}
        finals = [curve_of[id(r)][-1][1] for r in results.get(reference, []) if curve_of[id(r)]]
        if not finals:
            return ""
        target = sum(finals) / len(finals)
        lines = [f"\nTo reach `{reference}`'s final in-training validation accuracy ({100 * target:.1f} %, mean over "
                 "its seeds; verl's validation every `trainer.test_freq` steps):\n",
                 "| arm | seeds that reached it | rollout tokens to reach it | training seconds to reach it "
                 "| prompts skipped | scheduler precision | scheduler recall |", "|---|---|---|---|---|---|---|"]
        for arm, runs in results.items():
            costs = [cost_to_reach(rows_of[id(r)], curve_of[id(r)], target, self.sequences_per_step()) for r in runs]
            hit = [c for c in costs if c is not None]
            sched = [rows_of[id(r)][-1] if rows_of[id(r)] else {} for r in runs]

            def mean_text(values, fmt):
                values = [v for v in values if v is not None]
                return fmt.format(sum(values) / len(values)) if values else ""

            lines.append(
                f"| {arm} | {len(hit)}/{len(runs)} | {mean_text([c['rollout_tokens'] for c in hit], '{:,.0f}')} "
                f"| {mean_text([c['seconds'] for c in hit], '{:.0f}')} "
                f"| {mean_text([s.get('schedule/skipped_cum') for s in sched], '{:.0f}')} "
                f"| {mean_text([s.get('schedule/precision') for s in sched], '{:.2f}')} "
                f"| {mean_text([s.get('schedule/recall') for s in sched], '{:.2f}')} |")
        return "\n".join(lines) + "\n"

    # -- 4. outputs
    def write_outputs(self, results: dict[str, list[dict]], cold_val: dict) -> None:
        from verl_ext.plot import plot_arm_comparison

        runs = {arm: [load_rows(Path(r["metrics_dir"])) for r in rs] for arm, rs in results.items()}
        fig = plot_arm_comparison(runs, self.out / "fig3.png",
                                  metrics=("reward/acc/mean", "stagnation/zero_var_group_frac"), spread="minmax",
                                  title=f"stage-2 arms on the CPU tiny model ({self.args.steps} steps)")
        arms = {arm: arm_summary(rs, cold_val) for arm, rs in results.items()}
        step1 = [r["step1"] for rs in results.values() for r in rs]
        stagnation = {key: mean_of(step1, key) or 0.0 for key in STAGNATION_KEYS}
        header = (
            f"Stage-2 arms on the tiny CPU model, {self.args.steps} steps, {self.sequences_per_step()} rollouts per "
            f"step; validation: {cold_val['items']} items, greedy and {cold_val['samples']} samples per item. "
            f"Mean ± std over seeds. Paper: average over six multimodal benchmarks (a different model and data: "
            f"compare orderings, not values). At step 1 (mean over runs) "
            + ", ".join(f"`{k}` = {v:.2f}" for k, v in stagnation.items()) + ".\n\n"
        )
        (self.out / "table.md").write_text(header + format_table(arms, cold_val, PAPER_TABLE4)
                                           + self.reach_table(results))
        summary = {
            "settings": {
                "arms": list(results), "seeds": self.args.seeds, "steps": self.args.steps,
                "stage2_overrides": stage2_settings(self.args.steps), "seed_overrides": "data.seed, "
                "actor_rollout_ref.rollout.seed, algorithm.pad.seed = the seed",
                "extra_overrides": self.args.overrides, "sequences_per_step": self.sequences_per_step(),
                "cold_start_overrides": cold_start_settings(), "eval_items": self.args.eval_items,
                "eval_samples": self.args.eval_samples, "recipe": self.recipe.to_json(),
            },
            "machine": machine(),
            "cold_start": {"val": cold_val},
            "step1_stagnation_mean": stagnation,
            "arms": arms,
            "runs": results,
            "wall_time_s": round(time.time() - self.started, 1),
            "figure": str(fig), "table": str(self.out / "table.md"),
        }
        write_json_atomic(self.out / "summary.json", summary)
        print(f"{PREFIX} figure: {fig}\n{PREFIX} table:  {self.out / 'table.md'}\n"
              f"{PREFIX} summary: {self.out / 'summary.json'}", flush=True)
        print((self.out / "table.md").read_text(), flush=True)

    # -- the whole demo
    def progress(self, done: int, total: int, arm: str, seed: int, result: dict, skipped: bool) -> None:
        if not skipped:
            self.run_times.append(result["wall_time_s"])
        elapsed = time.time() - self.started
        per_run = sum(self.run_times) / len(self.run_times) if self.run_times else 0.0
        eta = per_run * (total - done)
        status = "skipped (result present)" if skipped else f"done in {result['wall_time_s']:.0f} s"
        print(f"{PREFIX} run {done}/{total} {arm} seed {seed}: {status}; sampled val acc "
              f"{result['val']['sampled']:.3f}; elapsed {elapsed / 60:.1f} min, ETA {eta / 60:.1f} min", flush=True)

    def official_fits(self, seeds: list[int]) -> bool:
        if not self.run_times:
            return True
        needed = len(seeds) * sum(self.run_times) / len(self.run_times)
        fits = time.time() - self.started + needed <= BUDGET_MIN * 60
        print(f"{PREFIX} official x {len(seeds)} needs ~{needed / 60:.1f} min: "
              + ("adding it" if fits else f"left out (the run would pass {BUDGET_MIN:.0f} min)"), flush=True)
        return fits

    def run(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        base = self.build_assets()
        cold = self.cold_start(base)
        eval_name = f"val_acc-{self.args.eval_items}x{self.args.eval_samples}.json"
        cold_dir = self.out / "cold_start"
        cold_val = self.evaluate(cold, cold_dir / eval_name, cold_dir / "logs" / "evaluate.log")
        print(f"{PREFIX} cold start val acc: greedy {cold_val['greedy']:.3f}, sampled {cold_val['sampled']:.3f}",
              flush=True)
        seeds = list(range(self.args.seeds))
        arms = list(self.args.arms)
        results: dict[str, list[dict]] = {}
        plan = [(arm, seed) for arm in arms for seed in seeds]
        index = 0
        while index < len(plan):
            arm, seed = plan[index]
            result = self.finished(arm, seed)
            skipped = result is not None
            if result is None:
                result = self.train_and_evaluate(arm, seed, cold)
            results.setdefault(arm, []).append(result)
            index += 1
            self.progress(index, len(plan), arm, seed, result, skipped)
            if index == len(plan) and self.args.add_official and self.official_fits(seeds):
                plan += [("official", seed) for seed in seeds]
                self.args.add_official = False
        self.write_outputs(results, cold_val)


def machine() -> dict:
    info = {"nproc": os.cpu_count()}
    try:
        info["nproc"] = len(os.sched_getaffinity(0))
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except (AttributeError, OSError):
        pass
    return info


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_STEPS} steps, 1 seed (a smoke run in a few minutes)")
    parser.add_argument("--seeds", type=int, help=f"seeds per arm (default {DEFAULT_SEEDS}; --quick: 1)")
    parser.add_argument("--arms", help=f"comma-separated arms from {','.join(ARMS)} (default "
                        f"{','.join(DEFAULT_ARMS)}, plus official when it fits into {BUDGET_MIN:.0f} min)")
    parser.add_argument("--steps", type=int, help=f"stage-2 steps per run (default {DEFAULT_STEPS}; --quick: "
                        f"{QUICK_STEPS})")
    parser.add_argument("--out", default="outputs/stagnation_demo")
    parser.add_argument("--assets", default=str(DEFAULT_ASSETS),
                        help="where the demo's tasks and tiny model are built (kept per recipe, shared by runs)")
    parser.add_argument("--eval-items", type=int, default=64, help="validation items per evaluation")
    parser.add_argument("--eval-samples", type=int, default=8, help="sampled answers per item")
    parser.add_argument("--mmrl-tasks", help="comma-separated image-task specs instead of the demo's mix (a factor "
                        "scan, e.g. fill_colour,majority_colour,count_squares; use its own --assets and --out)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every stage-2 launch")
    args = parser.parse_intermixed_args(argv)
    args.steps = args.steps or (QUICK_STEPS if args.quick else DEFAULT_STEPS)
    args.seeds = args.seeds or (1 if args.quick else DEFAULT_SEEDS)
    args.add_official = args.arms is None and not args.quick
    args.arms = tuple(args.arms.split(",")) if args.arms else DEFAULT_ARMS
    unknown = [a for a in args.arms if a not in ARMS]
    if unknown or not args.arms:
        parser.error(f"--arms: unknown {unknown}; choose from {','.join(ARMS)}")
    if args.steps < 1 or args.seeds < 1 or args.eval_items < 1 or args.eval_samples < 1:
        parser.error("--steps, --seeds, --eval-items and --eval-samples must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    Demo(parse_args(argv)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
