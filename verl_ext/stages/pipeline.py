"""The ReVisual-R1 pipeline: cold start (SFT) -> multimodal RL -> text RL, each stage feeding the next.

    python -m verl_ext.stages.pipeline [--run-dir outputs/pipeline] [--stages 1,2,3]
    STAGE1_ARGS="optim.lr=1e-5" STAGE2_ARGS="..." STAGE3_ARGS="..." COMMON_ARGS="trainer.logger=[console,file]" \
        bash recipes/revisual_pipeline.sh

Each stage runs as a child process (its own Ray session for the RL stages) and writes into
``<run-dir>/<stage>/``: ``checkpoints/``, ``metrics/*.jsonl``, ``logs/*.log``, the merged Hugging Face
model ``hf/`` and, last and atomically, ``COMPLETE.json``. The driver

* skips a stage whose complete output exists (marker + a loadable model folder);
* resumes an interrupted stage from its last checkpoint (verl's ``trainer.resume_mode=auto`` and
  the entropy schedule's ``revisual_state.json``), because it reuses the same checkpoint folder;
* refuses to start a stage whose input (the previous stage's output) is missing or partial, with
  an error naming the folder and the missing files;
* writes ``<run-dir>/run_summary.json``: per stage the wall time, steps, final metrics and output path,
  merged into the summary of earlier launches (``--stages 2,3`` keeps stage 1's record);
* holds a lock on the run folder, so a second pipeline on it is refused naming the first;
* forwards SIGTERM, SIGINT and SIGHUP to the running stage's processes, waits for them within a
  bound, notes the stop in the stage log and exits 128 + the signal (:mod:`verl_ext.stages.stopping`).

With ``RAY_ADDRESS`` set (or under ``ray job submit``), the RL stages join that cluster; the SFT stage
and the merges run where the driver runs, so ``--run-dir`` must be on storage every node can read.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from verl_ext.stages.merge import latest_checkpoint, merge_latest_checkpoint
from verl_ext.stages.outputs import (
    MODEL_SUBDIR,
    IncompleteStageOutput,
    read_complete_marker,
    require_complete_stage_output,
    require_model_dir,
    stage_output_problems,
    write_complete_marker,
    write_json_atomic,
)
from verl_ext.preflight.run_lock import RunFolderLocked, RunLock
from verl_ext.stages.stopping import Stopped, Supervisor
from verl_ext.tempdirs import remove_stale_siblings
from verl_ext.progress import ANNOUNCE_ENV

SUMMARY_FILE = "run_summary.json"
PREFIX = "[pipeline]"


@dataclass(frozen=True)
class Stage:
    """One stage of the chain: how to launch it and which override names its model input."""

    number: int
    name: str
    title: str
    module: str
    config_args: tuple[str, ...]
    model_key: str
    merges_after: bool  # RL stages are merged by the driver; the SFT entry merges by itself

    @property
    def args_env(self) -> str:
        return f"STAGE{self.number}_ARGS"


STAGES = (
    Stage(1, "stage1_cold_start", "cold start SFT", "verl_ext.stages.sft", (), "model.path", False),
    Stage(2, "stage2_mrl", "multimodal RL", "verl_ext.trainer.main", ("--config-name", "revisual_stage2"),
          "actor_rollout_ref.model.path", True),
    Stage(3, "stage3_trl", "text RL", "verl_ext.stages.text_rl", (), "actor_rollout_ref.model.path", True),
)


# ----------------------------------------------------------------------------- pure helpers
def parse_stage_list(text: str) -> list[int]:
    """``"1,2,3"`` or ``"2-3"`` -> sorted stage numbers; rejects unknown numbers."""
    numbers: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        first, last = int(low), int(high or low)
        numbers.update(range(first, last + 1))
    unknown = sorted(numbers - {s.number for s in STAGES})
    if unknown or not numbers:
        raise ValueError(f"--stages must name stages among 1,2,3 (got {text!r})")
    return sorted(numbers)


def split_args(text: str | None) -> list[str]:
    """Shell-split an ``*_ARGS`` environment value."""
    return shlex.split(text or "")


def override_value(args: list[str], key: str) -> str | None:
    """The last value given for ``key`` among Hydra overrides (``key=v``, ``+key=v``, ``++key=v``)."""
    value = None
    for arg in args:
        name, sep, rest = arg.partition("=")
        if sep and name.lstrip("+") == key:
            value = rest
    return value


def hydra_quoted(value: str | os.PathLike) -> str:
    """A path as a Hydra override value: quoted, so commas, brackets, parentheses or quotes in it stay literal."""
    text = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", str(value))
    text = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, text)
    return f"'{text}'"


def read_summary(path: Path) -> dict:
    """The summary an earlier launch wrote (its stage records are kept), or an empty one."""
    try:
        previous = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        print(f"{PREFIX} warning: {path} is not valid JSON; starting a new summary", file=sys.stderr)
        return {}
    return previous if isinstance(previous, dict) and isinstance(previous.get("stages"), dict) else {}


def read_metrics(files: list[Path]) -> list[dict]:
    """Records of verl's file logger (``{"step": int, "data": {...}}`` per line), in file then line order."""
    records = []
    for path in files:
        if not path.is_file():
            continue
        for line_no, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                # A launch killed mid-write leaves a torn last line; everything before it is good.
                print(f"{PREFIX} ignoring unreadable line {line_no} of {path}", file=sys.stderr)
                continue
            if isinstance(record, dict) and "step" in record:
                records.append(record)
    return records


def summarize_metrics(records: list[dict]) -> dict:
    """Last step reached and the metrics logged at it (later launches override earlier ones)."""
    by_step: dict[int, dict] = {}
    for record in records:
        by_step.setdefault(int(record["step"]), {}).update(record.get("data", {}))
    if not by_step:
        return {"steps": 0, "final_metrics": {}}
    last = max(by_step)
    return {"steps": last, "final_metrics": by_step[last]}


# ----------------------------------------------------------------------------- the driver
class Pipeline:
    """Runs the chosen stages in order under one run folder."""

    def __init__(self, run_dir: Path, stages: list[int], common_args: list[str], stage_args: dict[int, list[str]],
                 python: str = sys.executable, sft_nproc: int = 1, verbose: bool = False, evaluate: bool = False,
                 eval_args: tuple[str, ...] = ()):
        self.run_dir = run_dir.resolve()
        self.evaluate = evaluate
        self.eval_args = list(eval_args)
        self.stages = [s for s in STAGES if s.number in stages]
        self.common_args = common_args
        self.stage_args = stage_args
        self.python = python
        self.sft_nproc = sft_nproc
        self.verbose = verbose
        self.summary: dict = {"run_dir": str(self.run_dir), "stages": {}}
        self.supervisor = Supervisor()
        self.shown: set[str] = set()  # the children's [revisual] lines already on the console

    def stage_dir(self, stage: Stage) -> Path:
        return self.run_dir / stage.name

    def previous(self, stage: Stage) -> Stage | None:
        return next((s for s in STAGES if s.number == stage.number - 1), None)

    # -- inputs
    def input_model(self, stage: Stage) -> Path | None:
        """The model a stage starts from; None lets stage 1 use its config's model."""
        explicit = override_value(self.common_args + self.stage_args.get(stage.number, []), stage.model_key)
        if explicit:
            if stage.number == 1:
                return None  # a hub name or a path: verl resolves it
            return require_model_dir(explicit, f"stage {stage.number} ({stage.title}), {stage.model_key}")
        before = self.previous(stage)
        if before is None:
            return None
        return require_complete_stage_output(
            f"stage {before.number} ({before.title})", self.stage_dir(before), f"stage {stage.number} ({stage.title})"
        )

    def command(self, stage: Stage, model: Path | None) -> list[str]:
        out = self.stage_dir(stage)
        paths = [f"trainer.default_local_dir={hydra_quoted(out / 'checkpoints')}"]
        if stage.number == 1:
            paths.append(f"revisual.output_dir={hydra_quoted(out / MODEL_SUBDIR)}")
        if model is not None:
            paths.append(f"{stage.model_key}={hydra_quoted(model)}")
        overrides = [*paths, *self.common_args, *self.stage_args.get(stage.number, [])]
        if stage.number == 1 and self.sft_nproc > 1:
            launcher = [self.python, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={self.sft_nproc}"]
        else:
            launcher = [self.python]
        return [*launcher, "-m", stage.module, *stage.config_args, *overrides]

    # -- running
    def run_child(self, cmd: list[str], log_file: Path, env: dict, label: str = "stage",
                  follow_steps: bool = True) -> int:
        """Run one stage process, all output to its log; the console gets revisual's own lines, a compact
        line per verl step and the warnings that matter (everything with ``--verbose``); see verl_ext.console.
        The stage runs in its own session: a stop signal reaches it and every process it started (Ray's too),
        and after one the copy goes on, so the stage's last lines still reach its log."""
        from verl_ext.console import PATH_LINES, run_logged

        # The driver prints each stage's start and end itself; the progress lines fill the gaps. The
        # stage's own path lines repeat the summary file's.
        code = run_logged(cmd, log_file, env, label, verbose=self.verbose, follow_steps=follow_steps, seen=self.shown,
                          announce=False, hide=PATH_LINES, start=self.supervisor.popen, finish=self.supervisor.finish)
        if self.supervisor.signum is not None:
            # A stop before the start raised Stopped inside run_logged, so this child is the stage's.
            note = self.supervisor.stop_note(self.supervisor.children[-1], code)
            with open(log_file, "a") as log:
                log.write(f"{PREFIX} {note}\n")
            raise Stopped(self.supervisor.signum, f"{note}; log: {log_file}")
        return code

    def run_stage(self, stage: Stage) -> dict:
        out = self.stage_dir(stage)
        marker = read_complete_marker(out)
        if marker is not None and not stage_output_problems(out):
            print(f"{PREFIX} stage {stage.number} ({stage.title}): complete output at {marker['output_path']}; skipped",
                  flush=True)
            return {**self.evaluated(stage, marker), "status": "skipped"}
        if marker is not None:
            # The marker names a model folder that has since lost files: redo the stage's tail.
            (out / "COMPLETE.json").unlink()
        model = self.input_model(stage)
        resume = latest_checkpoint(out / "checkpoints")
        status = "resumed" if resume else "ran"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        metrics_file = out / "metrics" / f"{stage.name}-{stamp}.jsonl"
        log_file = out / "logs" / f"{stage.name}-{stamp}.log"
        metrics_file.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "VERL_FILE_LOGGER_PATH": str(metrics_file), "PYTHONUNBUFFERED": "1", ANNOUNCE_ENV: "0"}
        cmd = self.command(stage, model)
        # One line: the stage itself prints its checkpoint and metrics paths, and run_summary.json keeps all.
        print(
            f"{PREFIX} stage {stage.number} ({stage.title}): "
            + (f"resuming from checkpoint step {resume[0]}" if resume else "starting")
            + f" from {model or 'the stage config model'}; full output: {log_file}",
            flush=True,
        )
        started = time.time()
        code = self.run_child(cmd, log_file, env, f"stage {stage.number}")
        if code != 0:
            raise StageFailed(stage, code, log_file, out / "checkpoints")
        if stage.merges_after:
            merged = merge_latest_checkpoint(out / "checkpoints", out / MODEL_SUBDIR, source_model=model)
        else:
            merged = require_model_dir(out / MODEL_SUBDIR, f"stage {stage.number} ({stage.title}) merge")
        wall = time.time() - started
        metrics = summarize_metrics(read_metrics(sorted((out / "metrics").glob("*.jsonl"))))
        info = {
            "stage": stage.number,
            "name": stage.name,
            "title": stage.title,
            "output_path": str(merged),
            "input_model": str(model) if model else None,
            "checkpoint_dir": str(out / "checkpoints"),
            "metrics_files": [str(p) for p in sorted((out / "metrics").glob("*.jsonl"))],
            "log_files": [str(p) for p in sorted((out / "logs").glob("*.log"))],
            "wall_time_s": round(wall, 1),
            "steps": metrics["steps"],
            "final_metrics": metrics["final_metrics"],
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        # Last: only a stage whose merged model passed the checks gets its marker.
        write_complete_marker(out, info)
        print(f"{PREFIX} stage {stage.number} ({stage.title}) done in {wall:.0f} s, {metrics['steps']} steps "
              f"-> {merged}", flush=True)
        return {**self.evaluated(stage, info), "status": status}

    # -- before/after evaluation
    def evaluated(self, stage: Stage, info: dict) -> dict:
        """``info`` with ``val_acc`` (the stage's input and output model on its validation set), measured once
        per complete stage and kept in its marker; a failed evaluation is reported and never fails the run."""
        if not self.evaluate or "val_acc" in info:
            return info
        out = self.stage_dir(stage)
        result_file = out / "val_acc.json"
        log_file = out / "logs" / f"evaluate-{time.strftime('%Y%m%d-%H%M%S')}.log"
        models = ["--model", info["input_model"]] if info.get("input_model") else ["--config-model"]
        cmd = [self.python, "-m", "verl_ext.stages.evaluate", "--stage", str(stage.number), *models,
               "--model", info["output_path"], "--out", str(result_file), *self.eval_args, "--",
               *self.common_args, *self.stage_args.get(stage.number, [])]
        print(f"{PREFIX} stage {stage.number} ({stage.title}): measuring validation accuracy before and after "
              f"training; full output: {log_file}", flush=True)
        started = time.time()
        code = self.run_child(cmd, log_file, {**os.environ, "PYTHONUNBUFFERED": "1", ANNOUNCE_ENV: "0"},
                              f"stage {stage.number} evaluation",
                              follow_steps=False)
        if code != 0 or not result_file.is_file():
            print(f"{PREFIX} warning: the evaluation of stage {stage.number} failed (exit {code}); see {log_file}",
                  file=sys.stderr, flush=True)
            return {**info, "val_acc_error": str(log_file)}
        evaluation = json.loads(result_file.read_text())
        before, after = evaluation["results"]
        info = {
            **{k: v for k, v in info.items() if k != "val_acc_error"},
            "val_acc": {"before": {k: before[k] for k in ("greedy", "sampled")},
                        "after": {k: after[k] for k in ("greedy", "sampled")}},
            "val_acc_settings": {"val_file": evaluation["val_file"], "items": after["items"],
                                 "before_model": before["model"], "wall_time_s": round(time.time() - started, 1),
                                 **evaluation["generation"]},
        }
        write_complete_marker(out, {k: v for k, v in info.items() if k != "status"})
        return info

    def run(self) -> dict:
        with self.supervisor, RunLock(self.run_dir, "pipeline run folder", hint="give this pipeline another --run-dir") as lock:
            if warning := lock.stale_warning():
                print(f"{PREFIX} warning: {warning}", flush=True)
            for stage in STAGES:
                # Merges killed half-way (each up to the model's size); this run holds the folder's lock.
                for path in remove_stale_siblings(self.stage_dir(stage), f".{MODEL_SUBDIR}.merging."):
                    print(f"{PREFIX} removed {path}, left by an interrupted merge", flush=True)
            self.summary["stages"] = read_summary(self.run_dir / SUMMARY_FILE).get("stages", {})
            started = time.time()
            for stage in self.stages:
                self.summary["stages"][stage.name] = self.run_stage(stage)
                self.write_summary(started)
            self.write_summary(started)
        self.print_locations()
        self.print_val_table()
        self.write_dashboards()
        return self.summary

    def write_summary(self, started: float) -> Path:
        """Write this launch's records over the earlier ones, in stage order; other stages' records stay."""
        order = {s.name: s.number for s in STAGES}
        stages = self.summary["stages"]
        self.summary["stages"] = {name: stages[name] for name in sorted(stages, key=lambda n: order.get(n, 99))}
        self.summary["pipeline_wall_time_s"] = round(time.time() - started, 1)
        return write_json_atomic(self.run_dir / SUMMARY_FILE, self.summary)

    def print_locations(self) -> None:
        """One line per stage; the checkpoint, metrics and log paths are in the summary file named first."""
        lines = [f"{PREFIX} summary (every stage's checkpoints, metrics and logs) -> {self.run_dir / SUMMARY_FILE}"]
        for name, info in self.summary["stages"].items():
            lines.append(f"{PREFIX}   {name}: {info['status']}, {info['wall_time_s']} s, {info['steps']} steps, "
                         f"model {info['output_path']}")
        print("\n".join(lines), flush=True)

    def print_val_table(self) -> None:
        rows = [(name, info) for name, info in self.summary["stages"].items() if "val_acc" in info]
        if rows:
            print(format_val_table(rows), flush=True)

    def write_dashboards(self) -> list[Path]:
        """One PNG per stage (``verl_ext.plot``); a plotting error is reported, never fails a finished run."""
        try:
            from verl_ext.plot import write_dashboards

            paths = write_dashboards(self.run_dir)
        except Exception as err:  # noqa: BLE001 - the run is done; a plot must not turn it into a failure
            print(f"{PREFIX} warning: could not draw the dashboards: {type(err).__name__}: {err}", file=sys.stderr,
                  flush=True)
            return []
        if paths:
            print(f"{PREFIX} dashboards -> {paths[0].parent}: {', '.join(p.name for p in paths)}", flush=True)
        return paths


def format_val_table(rows: list[tuple[str, dict]]) -> str:
    """The before/after validation accuracies of ``(stage name, stage record)`` pairs as a text table."""
    settings = rows[-1][1].get("val_acc_settings", {})
    header = (f"{PREFIX} validation accuracy before -> after each stage (greedy; sampled = mean of "
              f"{settings.get('samples', '?')} answers at temperature {settings.get('temperature', '?')}):")
    lines = [header, f"{PREFIX}   {'stage':<20} {'items':>5}  {'greedy':>16}  {'sampled':>16}"]
    for name, info in rows:
        acc = info["val_acc"]
        cells = [f"{acc['before'][k]:.3f} -> {acc['after'][k]:.3f}" for k in ("greedy", "sampled")]
        items = info.get("val_acc_settings", {}).get("items", "")
        lines.append(f"{PREFIX}   {name:<20} {items!s:>5}  {cells[0]:>16}  {cells[1]:>16}")
    return "\n".join(lines)


class StageFailed(RuntimeError):
    def __init__(self, stage: Stage, code: int, log_file: Path, checkpoints: Path | None = None):
        # The first real error, not the log's tail: a Ray job ends in shutdown noise and wrapped repeats.
        from verl_ext.console import failure_report

        # A full disk is reported deep inside a worker's traceback; the first line says it, with the file.
        full = no_space_line(log_file)
        space = f"no space left on the device: {full}\n{disk_state(checkpoints)}\n" if full else ""
        super().__init__(f"stage {stage.number} ({stage.title}) exited with {code}; {space}{failure_report(log_file)}\n"
                         f"{PREFIX} full output: {log_file}")
        self.code = code


def run_dir_problem(run_dir: Path) -> str | None:
    """Why ``--run-dir`` cannot hold a run, found by creating it and a file in it before anything starts; or None."""
    folder = run_dir.resolve()
    probe = folder / f".revisual-write-check-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        return f"--run-dir {folder}: cannot write there: {err.strerror or err} ({err.filename or folder})"
    return None


def describe_os_error(err: OSError) -> str:
    """``FILE: no space left on the device`` and the like, one line, the file first."""
    where = err.filename or "(no file named)"
    if err.errno == errno.ENOSPC:
        return f"{where}: no space left on the device while writing it ({err.strerror})"
    return f"{where}: {err.strerror or err}"


_NO_SPACE = re.compile(r"No space left on device|ENOSPC|\[Errno 28\]|file write failed", re.IGNORECASE)


def no_space_line(log_file: Path) -> str | None:
    """The first line of a stage log that reports a full disk (a save in a worker), or None."""
    if not log_file.exists():
        return None
    for line in log_file.read_text(errors="replace").splitlines():
        if _NO_SPACE.search(line):
            return line.strip()
    return None


def disk_state(folder: Path | None) -> str:
    """Free space where ``folder`` lives and its newest file (the save a full disk most likely cut off)."""
    if folder is None or not folder.exists():
        return ""
    free = shutil.disk_usage(folder).free / 2**20
    files = [p for p in folder.rglob("*") if p.is_file()]
    newest = max(files, key=lambda p: p.stat().st_mtime, default=None)
    return (f"  {free:.0f} MiB free on the disk of {folder}"
            + (f"; the newest file there, probably the one being written: {newest}" if newest else "") + "\n")


def default_sft_nproc() -> int:
    """One SFT process per visible GPU (torchrun), one on the CPU."""
    if os.environ.get("SFT_NPROC"):
        return int(os.environ["SFT_NPROC"])
    try:
        import torch

        return max(1, torch.cuda.device_count())
    except Exception:  # torch without CUDA support raises on some builds
        return 1


def runs_cpu_default(user_args: list[str] = ()) -> bool:
    """Whether the stages will run on the CPU default: ``REVISUAL_DEVICE=cpu``, or ``auto`` with no GPU here
    and no Ray cluster to join (the stages' launcher makes the same decision, see ``verl_ext.devices``).

    A CPU found only because no GPU was (``auto``) is refused, exit 2, when ``user_args`` (the user's
    ``COMMON_ARGS`` and ``STAGEn_ARGS``) name model or data paths of their own: a real job.
    """
    from verl_ext.devices import JOB_PATH_KEYS, decide_device, job_paths, refuse_cpu_fallback_for_a_real_job

    choice = decide_device(os.environ)
    keys = tuple(key for group in JOB_PATH_KEYS.values() for key in group)
    refuse_cpu_fallback_for_a_real_job(choice, job_paths(list(user_args), keys, os.environ))
    return choice.device == "cpu"


def evaluation_enabled(choice: str, cpu_default: bool) -> bool:
    """``on``/``off``, or ``auto``: on where the run uses the CPU default (``cpu_default``)."""
    if choice != "auto":
        return choice == "on"
    return cpu_default


CPU_MAIN_JOB_FILE = Path(__file__).resolve().parents[1] / "config" / "cpu_main_job.yaml"


def cpu_main_job_args(path: Path = CPU_MAIN_JOB_FILE) -> dict[int, list[str]]:
    """Per stage, the overrides that turn the CPU profile's smoke runs into the main job (see the file)."""
    from omegaconf import OmegaConf

    table = OmegaConf.to_container(OmegaConf.load(path))
    return {s.number: [str(arg) for arg in table.get(f"stage{s.number}") or []] for s in STAGES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", default=os.environ.get("RUN_DIR", "outputs/pipeline"),
                        help="folder for every stage's outputs (default: $RUN_DIR or outputs/pipeline)")
    parser.add_argument("--stages", default=os.environ.get("STAGES", "1,2,3"), help="which stages to run, e.g. 2,3")
    parser.add_argument("--verbose", action="store_true", default=os.environ.get("PIPELINE_VERBOSE") == "1",
                        help="echo every line of the stages' output, not only revisual's")
    parser.add_argument("--eval", choices=("auto", "on", "off"), default=os.environ.get("PIPELINE_EVAL", "auto"),
                        help="measure each stage's model before and after training on its validation set "
                             "(auto: on the CPU default only; the in-process generator suits tiny models)")
    parser.add_argument("--eval-items", type=int, default=int(os.environ.get("PIPELINE_EVAL_ITEMS", "64")),
                        help="validation items per evaluation (default 64)")
    parser.add_argument("--eval-samples", type=int, default=int(os.environ.get("PIPELINE_EVAL_SAMPLES", "8")),
                        help="answers per item for the sampled accuracy (default 8)")
    args = parser.parse_args(argv)
    try:
        stages = parse_stage_list(args.stages)
    except ValueError as err:
        print(f"{PREFIX} error: {err}", file=sys.stderr, flush=True)
        return 2
    stage_args = {s.number: split_args(os.environ.get(s.args_env)) for s in STAGES}
    common_args = split_args(os.environ.get("COMMON_ARGS"))
    # One decision for the run: with RAY_ADDRESS set it asks the cluster for its resources. A refused real
    # job stops here, before the run folder is made.
    cpu_default = runs_cpu_default([*common_args, *(arg for args_ in stage_args.values() for arg in args_)])
    if problem := run_dir_problem(Path(args.run_dir)):
        print(f"{PREFIX} error: {problem}", file=sys.stderr, flush=True)
        return 2
    if cpu_default:
        # The stages take the same decision: they get the models of the stages before them (paths of
        # this run, not the CPU default's own), which they would otherwise refuse as a real job.
        os.environ["REVISUAL_DEVICE"] = "cpu"
        # The user's STAGEn_ARGS come after the main job's, so they win.
        stage_args = {n: [*args_, *stage_args[n]] for n, args_ in cpu_main_job_args().items()}
    pipeline = Pipeline(
        Path(args.run_dir), stages, common_args, stage_args,
        sft_nproc=default_sft_nproc(), verbose=args.verbose, evaluate=evaluation_enabled(args.eval, cpu_default),
        eval_args=("--max-items", str(args.eval_items), "--samples", str(args.eval_samples)),
    )
    try:
        pipeline.run()
    except (IncompleteStageOutput, RunFolderLocked) as err:
        print(f"{PREFIX} error: {err}", file=sys.stderr, flush=True)
        return 2
    except StageFailed as err:
        print(f"{PREFIX} error: {err}", file=sys.stderr, flush=True)
        return 1
    except Stopped as stop:
        print(f"{PREFIX} {stop}", file=sys.stderr, flush=True)
        return stop.exit_code
    except OSError as err:
        # The driver's own writes (logs, summary, markers, merges): say which file and why, e.g. a full disk.
        print(f"{PREFIX} error: {describe_os_error(err)}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
