"""A stop signal stops every process a launch started; nothing is left behind by an interrupted build, a
second generation or duplicate rows; the pipeline refuses bad arguments in one line; a full disk is named.
Every process and signal here is real."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from revisual_eval.__main__ import main as eval_main
from revisual_eval.fixtures import write_fixture_data
from revisual_eval.score import score_run
from verl_ext.stages.pipeline import STAGES, Pipeline, StageFailed
from verl_ext.stages.stopping import session_members

REPO = Path(__file__).resolve().parents[2]

# A stage in miniature: it ignores SIGTERM (as a busy trainer may), and starts a grandchild in a process
# group of its own (as Ray's reaper does) that ignores SIGTERM too. It prints their pids, then waits.
STUBBORN_STAGE = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
grandchild = subprocess.Popen([sys.executable, "-c",
    "import os, signal, time; os.setpgrp(); signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
print(os.getpid(), grandchild.pid, flush=True)
time.sleep(600)
"""


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_the_launcher_forwards_a_stop_and_clears_the_stage_session_within_the_bound(signum):
    env = {**os.environ, "PYTHONPATH": str(REPO), "REVISUAL_STOP_GRACE_S": "2"}
    launcher = subprocess.Popen([sys.executable, "-m", "verl_ext.stages.stopping", "--", sys.executable, "-c",
                                 STUBBORN_STAGE], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stage, grandchild = map(int, launcher.stdout.readline().split())
    try:
        launcher.send_signal(signum)  # the launcher's pid only, as `kill` does
        # The timeout only stops a hang; what is checked is that nothing of the stage outlives the launcher.
        code = launcher.wait(timeout=60)
        assert code == 128 + signum
        assert not alive(stage) and not alive(grandchild) and session_members(stage) == []
        note = launcher.stderr.read()
        assert f"{signal.Signals(signum).name} received: forwarded to the stage's process group {stage}" in note
    finally:
        for pid in (stage, grandchild):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def run_pipeline(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": str(REPO), "REVISUAL_DEVICE": "cpu"}
    return subprocess.run([sys.executable, "-m", "verl_ext.stages.pipeline", *map(str, args)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_pipeline_refuses_stage_4_and_a_run_dir_it_cannot_write_in_one_line(tmp_path):
    done = run_pipeline(tmp_path, "--run-dir", tmp_path / "run", "--stages", "4")
    assert (done.returncode, done.stderr) == (2, "[pipeline] error: --stages must name stages among 1,2,3 (got '4')\n")
    (tmp_path / "a-file").write_text("")
    done = run_pipeline(tmp_path, "--run-dir", tmp_path / "a-file" / "run")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"[pipeline] error: --run-dir {tmp_path / 'a-file' / 'run'}: cannot write there")


def test_a_full_disk_in_a_stage_is_named_with_the_file(tmp_path):
    """The kernel's ENOSPC (``/dev/full``), met by a real stage process as a save would meet it."""
    checkpoints = tmp_path / "stage2_mrl" / "checkpoints"
    (checkpoints / "global_step_2").mkdir(parents=True)
    (checkpoints / "global_step_2" / "model_world_size_1_rank_0.pt").write_bytes(b"partial")
    pipeline = Pipeline(tmp_path, [2], [], {})
    log = tmp_path / "stage.log"
    with pipeline.supervisor:
        code = pipeline.run_child([sys.executable, "-c", "open('/dev/full', 'w').write('x' * 100000)"], log, dict(os.environ))
    message = str(StageFailed(STAGES[1], code, log, checkpoints))
    assert code == 1
    assert "no space left on the device: OSError: [Errno 28] No space left on device" in message
    assert f"the newest file there, probably the one being written: {checkpoints}/global_step_2/" in message


def test_an_interrupted_model_build_leaves_nothing_and_the_next_start_clears_old_leftovers(tmp_path):
    from verl_ext.tiny_model import build_tiny_model

    left_by_an_old_build = tmp_path / "tiny-qwen25vl.k2j3h4g5"  # mkdtemp's name, from before this change
    left_by_a_dead_build = tmp_path / f"tiny-qwen25vl.{dead_pid()}.x1y2"
    for folder in (left_by_an_old_build, left_by_a_dead_build):
        (folder / "sub").mkdir(parents=True)
    with pytest.raises(Exception):
        build_tiny_model(tmp_path / "tiny-qwen25vl", size="no-such-size")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # its own folder and the stale ones are gone
    model = build_tiny_model(tmp_path / "tiny-qwen25vl")
    assert [p.name for p in tmp_path.iterdir()] == ["tiny-qwen25vl"]
    # The permissions of a folder made with mkdir (mkdtemp's 0700 hid the model from a team's other users).
    umask = os.umask(0)
    os.umask(umask)
    assert model.stat().st_mode & 0o777 == 0o777 & ~umask
    assert (model / "config.json").stat().st_mode & 0o777 == 0o666 & ~umask


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def eval_generate(data, out):
    return eval_main(["generate", "--model", "m", "--data-root", str(data), "--out", str(out), "--backend", "echo",
                      "--benchmarks", "mathvista", "--limit", "2", "--no-progress"])


def test_a_second_generate_on_one_out_is_refused_in_one_line(tmp_path, capsys):
    data, out = write_fixture_data(tmp_path / "data"), tmp_path / "run"
    # The first generation: a real process holding the folder as generate does, for as long as it runs.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; from pathlib import Path; from revisual_eval.runfiles import generating_into\n"
         f"with generating_into(Path({str(out)!r})):\n    print('held', flush=True); time.sleep(600)"],
        env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert eval_generate(data, out) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {out}: another generate is writing to this --out (pid {holder.pid} on ")
        assert err.count("\n") == 1 and not (out / "mathvista.jsonl").exists()
    finally:
        holder.kill()
        holder.wait()
    assert eval_generate(data, out) == 0  # the lock went with its holder
    assert len((out / "mathvista.jsonl").read_text().splitlines()) == 2


def test_score_drops_identical_duplicates_and_refuses_conflicting_ones(tmp_path):
    data, run = write_fixture_data(tmp_path / "data"), tmp_path / "run"
    run.mkdir()
    row = {"benchmark": "mathvista", "id": "1", "sample": 0, "response": "\\boxed{whitish}"}
    other = {**row, "id": "2"}
    (run / "mathvista.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (row, other, row)))
    results = score_run(run, data, log=lambda m: None, progress=False)
    assert results["benchmarks"]["mathvista"]["rows"] == 2
    assert "dropped 1 duplicate row (same item, sample and response)" in results["benchmarks"]["mathvista"]["notes"]
    (run / "mathvista.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (row, other, {**row, "response": "B"})))
    results = score_run(run, data, log=lambda m: None, progress=False)
    assert "item '1' sample 0 appears twice with different responses (rows 0 and 2" in results["errors"]["mathvista"]


def test_an_aborted_conversion_reports_nothing_written_and_names_the_first_bad_row(tmp_path, convert, read_json):
    from data_preprocess import textrl

    good = {"problem": "1+1?", "answer": "2"}
    (tmp_path / "late.json").write_text("[" + json.dumps(good) + ", " + json.dumps(good) + ', {"problem": ')
    code, err = convert(textrl, "--input", tmp_path / "late.json", "--output", tmp_path / "o.parquet",
                        "--report", tmp_path / "r.json")
    report = read_json(tmp_path / "r.json")
    assert code == 2 and "invalid JSON at row 2 (after row 1)" in err
    assert report["rows_written"] == {"train": 0} and not (tmp_path / "o.parquet").exists()
    (tmp_path / "first.json").write_text('[{"problem": ')
    code, err = convert(textrl, "--input", tmp_path / "first.json", "--output", tmp_path / "o.parquet")
    assert code == 2 and "invalid JSON at row 0 (the first)" in err and "row -1" not in err
