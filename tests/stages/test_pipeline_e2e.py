"""The whole pipeline on the CPU with the tiny model: after stage 2's step-2 checkpoint the driver's pid
alone gets ``kill -TERM`` (what Kubernetes, ``scancel`` and ``kill`` send); it must stop the stage and
every process the run started (Ray's included) within the bound, note the stop in the stage log and exit
143. The pipeline is rerun and must resume stage 2 (step count and entropy coefficient continuing, as
the actor worker itself records them), finish stage 3, measure every stage before and after, and a third
run must skip everything. One shared run (~5 min on 2 cores) feeds every test.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from verl_ext.algos.entropy import annealed_entropy_coef
from verl_ext.stages.outputs import missing_model_files, read_complete_marker

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
STAGE1_STEPS, STAGE2_STEPS, STAGE3_STEPS, KILL_AFTER_STEP = 4, 4, 3, 2
STOP_BOUND_S = 30


def pipeline_env(trace_dir):
    # Short stages (the CPU default trains longer), no entropy warm-up so the coefficient moves from the start,
    # a small evaluation, and the actor workers' own record of what they trained with.
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "REVISUAL_DEVICE": "cpu",
        "STAGE1_ARGS": f"trainer.total_training_steps={STAGE1_STEPS} trainer.save_freq={STAGE1_STEPS}",
        "STAGE2_ARGS": f"trainer.total_training_steps={STAGE2_STEPS} trainer.save_freq={KILL_AFTER_STEP} "
                       "algorithm.entropy_anneal.warmup_steps=0",
        # The text tasks are hard for the tiny model: under the accuracy-spread filter a 3-step stage 3 can
        # find no mixed group and train nothing. Opening the |A| band makes every row eligible, so the
        # frozen-tower and KL checks always see updates; stage 2 keeps the production filter.
        "STAGE3_ARGS": f"trainer.total_training_steps={STAGE3_STEPS} trainer.save_freq={STAGE3_STEPS} "
                       "algorithm.pad.filter_on=advantage algorithm.pad.low=0",
        "PIPELINE_EVAL_ITEMS": "12",
        "PIPELINE_EVAL_SAMPLES": "2",
        "REVISUAL_ACTOR_TRACE": str(trace_dir),
        "REVISUAL_STOP_GRACE_S": str(STOP_BOUND_S),
    }


def pipeline_cmd(run_dir):
    return [sys.executable, "-m", "verl_ext.stages.pipeline", "--run-dir", str(run_dir)]


def metrics_records(path):
    records = []
    for line in Path(path).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            pass  # the line a kill tore
    return {r["step"]: r["data"] for r in records}


def wait_for_stage2_checkpoint(run_dir, proc, timeout_s=600):
    """Until stage 2 has checkpointed KILL_AFTER_STEP and logged its metrics."""
    stage = run_dir / "stage2_mrl"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        assert proc.poll() is None, "the pipeline ended before stage 2 reached its checkpoint"
        tracker = stage / "checkpoints" / "latest_checkpointed_iteration.txt"
        metrics = list((stage / "metrics").glob("*.jsonl")) if (stage / "metrics").exists() else []
        if tracker.exists() and tracker.read_text().strip() == str(KILL_AFTER_STEP) and metrics:
            if KILL_AFTER_STEP in metrics_records(metrics[0]):
                return metrics[0]
        time.sleep(0.5)
    raise AssertionError("stage 2 never reached its checkpoint")


def process_table():
    """``{pid: (ppid, start time)}`` of every live, non-zombie process (Linux ``/proc``)."""
    table = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z":
            table[int(entry.name)] = (int(fields[1]), fields[19])
    return table


def descendants(root):
    """``{(pid, start time)}`` of every process below ``root``: the stage, its Ray head and workers."""
    table = process_table()
    found, frontier = set(), {root}
    while frontier:
        children = {pid for pid, (ppid, _) in table.items() if ppid in frontier}
        found |= {(pid, table[pid][1]) for pid in children}
        frontier = children
    return found


def still_alive(processes):
    table = process_table()
    return {(pid, start) for pid, start in processes if table.get(pid, (None, None))[1] == start}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("pipeline")
    run_dir = work / "run"
    first_log = open(work / "first.log", "w")
    proc = subprocess.Popen(pipeline_cmd(run_dir), cwd=work, env=pipeline_env(work / "trace-killed"),
                            stdout=first_log, stderr=subprocess.STDOUT)
    started = set()
    try:
        killed_metrics = wait_for_stage2_checkpoint(run_dir, proc)
        started = descendants(proc.pid)
        os.kill(proc.pid, signal.SIGTERM)  # the driver's pid only, as `kill -TERM <pid>` does
        # The timeout only stops a hung driver from blocking CI; the bound is checked by what survives it.
        stop_code = proc.wait(timeout=STOP_BOUND_S + 120)
        survivors = still_alive(started)
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid, _ in still_alive(started):
            os.kill(pid, signal.SIGKILL)
        proc.wait()
        first_log.close()
    killed = metrics_records(killed_metrics)
    second = subprocess.run(pipeline_cmd(run_dir), cwd=work, env=pipeline_env(work / "trace-resumed"),
                            capture_output=True, text=True)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    summary = json.loads((run_dir / "run_summary.json").read_text())
    third = subprocess.run(pipeline_cmd(run_dir), cwd=work, env=pipeline_env(work / "trace-third"),
                           capture_output=True, text=True)
    return {"run_dir": run_dir, "killed_metrics": killed_metrics, "killed": killed, "second": second,
            "stop_code": stop_code, "started": started, "survivors": survivors,
            "first_output": (work / "first.log").read_text(),
            "summary": summary, "third": third, "resumed_trace": work / "trace-resumed"}


def worker_loss_records(trace_dir):
    """What the actor workers' losses used, per micro-batch: ``(update, optimizer step, entropy coefficient)``.

    One list per worker process, oldest file first: in a launch that runs stage 2 and then stage 3, the
    stage-2 worker's file is finished before the stage-3 worker starts writing its own."""
    records = []
    for path in sorted(Path(trace_dir).glob("actor-*.jsonl"), key=lambda p: p.stat().st_mtime):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        steps = {r["optimizer_step"]: r["update"] for r in lines if r["kind"] == "step"}
        records.append([(steps[r["optimizer_step"]], r["optimizer_step"], r["entropy_coeff"])
                        for r in lines if r["kind"] == "loss"])
    return records


def test_all_three_stages_complete_and_hand_off(run):
    run_dir = run["run_dir"]
    stages = run["summary"]["stages"]
    assert list(stages) == ["stage1_cold_start", "stage2_mrl", "stage3_trl"]
    assert [stages[s]["status"] for s in stages] == ["skipped", "resumed", "ran"]
    assert [stages[s]["steps"] for s in stages] == [STAGE1_STEPS, STAGE2_STEPS, STAGE3_STEPS]
    for name, info in stages.items():
        assert missing_model_files(info["output_path"]) == []
        assert read_complete_marker(run_dir / name)["output_path"] == info["output_path"]
        assert info["wall_time_s"] > 0 and info["final_metrics"]
    # Each stage started from the previous stage's merged model.
    assert stages["stage2_mrl"]["input_model"] == stages["stage1_cold_start"]["output_path"]
    assert stages["stage3_trl"]["input_model"] == stages["stage2_mrl"]["output_path"]
    assert "train/loss" in stages["stage1_cold_start"]["final_metrics"]
    # Stage 3 trains with the KL loss.
    stage3_steps = [metrics_records(p) for p in sorted((run_dir / "stage3_trl" / "metrics").glob("*.jsonl"))]
    assert stage3_steps and all("actor/kl_loss" in data for records in stage3_steps for data in records.values())


def test_sigterm_to_the_driver_stops_every_process_of_the_run_and_is_logged(run):
    assert run["stop_code"] == 128 + signal.SIGTERM, run["first_output"][-3000:]
    # The stage, Ray's head processes and its workers were all below the driver when the signal came.
    assert len(run["started"]) >= 3
    assert run["survivors"] == set()
    stage_logs = sorted((run["run_dir"] / "stage2_mrl" / "logs").glob("stage2_mrl-*.log"))
    stopped = stage_logs[0].read_text()
    assert "SIGTERM received: forwarded to the stage's process group" in stopped
    assert "SIGTERM received" in run["first_output"]
    # Nothing was trained after the signal: the next checkpoint (step 4) never appeared before the rerun.
    assert run["killed"] and max(run["killed"]) < STAGE2_STEPS


def test_killed_stage2_resumes_step_count_and_entropy_coefficient(run):
    run_dir = run["run_dir"]
    stage = run_dir / "stage2_mrl"
    assert "resuming from checkpoint step 2" in run["second"].stdout
    state = json.loads((stage / "checkpoints" / f"global_step_{KILL_AFTER_STEP}" / "revisual_state.json").read_text())
    restored = state["optimizer_steps"]
    assert restored == run["killed"][KILL_AFTER_STEP].get("actor/optimizer_steps", 0)
    resumed_files = [p for p in sorted((stage / "metrics").glob("*.jsonl")) if p != run["killed_metrics"]]
    assert len(resumed_files) == 1
    resumed = metrics_records(resumed_files[0])
    assert sorted(resumed) == [3, 4]  # the global step continues, nothing is redone
    # What the resumed stage-2 worker's loss used, read from the worker: the first update after the resume
    # starts at the restored optimizer step with that step's coefficient (warm-up 0: 0.02 * 0.985**step),
    # and every later micro-batch uses the coefficient of its own optimizer step.
    workers = worker_loss_records(run["resumed_trace"])
    assert workers and workers[0], "the resumed stage 2 made no actor update"
    stage2_worker = workers[0]
    first_update = min(update for update, _, _ in stage2_worker)
    assert first_update > KILL_AFTER_STEP
    first = [r for r in stage2_worker if r[0] == first_update]
    assert min(step for _, step, _ in first) == restored
    for _, step, coeff in stage2_worker:
        assert coeff == pytest.approx(annealed_entropy_coef(step, warmup_steps=0))
    assert first[0][2] == pytest.approx(0.02 * 0.985**restored)
    assert max(step for _, step, _ in stage2_worker) == resumed[max(u for u, _, _ in stage2_worker)][
        "actor/optimizer_steps"] - 1


def test_every_stage_is_measured_before_and_after(run):
    stages = run["summary"]["stages"]
    for name, info in stages.items():
        acc = info["val_acc"]
        assert set(acc) == {"before", "after"}, name
        for when in ("before", "after"):
            assert set(acc[when]) == {"greedy", "sampled"}
            assert all(0.0 <= value <= 1.0 for value in acc[when].values())
        assert info["val_acc_settings"]["items"] == 12
    # Stage 1's "before" is the base model; the others start from the previous stage's output.
    assert stages["stage1_cold_start"]["val_acc_settings"]["before_model"] != stages["stage1_cold_start"]["output_path"]
    assert stages["stage2_mrl"]["val_acc_settings"]["before_model"] == stages["stage1_cold_start"]["output_path"]
    assert "validation accuracy before -> after" in run["second"].stdout
    dashboards = sorted((run["run_dir"] / "dashboards").glob("*.png"))
    assert [p.stem for p in dashboards] == ["stage1_cold_start", "stage2_mrl", "stage3_trl"]
    assert f"dashboards -> {dashboards[0].parent}: stage1_cold_start.png, stage2_mrl.png, stage3_trl.png" in run["second"].stdout


def canonical_key(name):
    """One name per tensor: the merger writes HF's saved names, the FSDP shard the in-memory module's."""
    return name.replace("model.language_model.", "model.").replace("model.visual.", "visual.")


def test_stage3_leaves_vision_weights_bit_identical_and_trains_language(run):
    stages = run["summary"]["stages"]
    before = load_file(Path(stages["stage2_mrl"]["output_path"]) / "model.safetensors")
    after = load_file(Path(stages["stage3_trl"]["output_path"]) / "model.safetensors")
    vision = [k for k in before if ".visual." in k or k.startswith("visual.")]
    language = [k for k in before if k not in vision]
    assert vision and language and set(before) == set(after)
    assert all(torch.equal(before[k], after[k]) for k in vision)
    assert any(not torch.equal(before[k], after[k]) for k in language)
    # The merged files are bf16; the fp32 training shard shows the tower untouched at full precision.
    ckpt = Path(stages["stage3_trl"]["checkpoint_dir"])
    step = (ckpt / "latest_checkpointed_iteration.txt").read_text().strip()
    shard = torch.load(ckpt / f"global_step_{step}" / "actor" / "model_world_size_1_rank_0.pt",
                       map_location="cpu", weights_only=False)
    shard = {canonical_key(k): v.to_local() if hasattr(v, "to_local") else v for k, v in shard.items()}
    for key in vision:
        value = shard[canonical_key(key)]
        assert torch.equal(value, before[key].to(value.dtype)), key


def test_rerun_skips_every_complete_stage(run):
    third = run["third"]
    assert third.returncode == 0
    assert third.stdout.count("; skipped") == 3
    summary = json.loads((run["run_dir"] / "run_summary.json").read_text())
    assert [s["status"] for s in summary["stages"].values()] == ["skipped"] * 3
