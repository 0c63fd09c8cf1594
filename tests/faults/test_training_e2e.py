"""Stage 2 through verl's real trainer (two Ray runs on the tiny CPU model), launched the way a user would
from a checkout and a run folder whose paths hold a space:

* run A: the checkpoint folder holds a lock left by a killed run, and the training parquet one truncated
  image. It must take the lock over with a warning, skip and count the bad row, and train 2 steps.
* then step 2's model shard is truncated: the next launch is refused before Ray, naming the file and
  the intact step 1; run B (``trainer.on_corrupt_checkpoint=use_intact``) resumes from step 1.
"""

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from verl_ext.preflight.checkpoints import checkpoint_problems
from verl_ext.preflight.run_lock import LOCK_NAME

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BROKEN_ROW = 3


def recipe(space, *overrides):
    """``bash revisual_stage2.sh`` of the checkout seen through the spaced path, with the spaced Python."""
    env = {**os.environ, "REVISUAL_DEVICE": "cpu", "RAY_DEDUP_LOGS": "0", "REVISUAL_VERBOSE": "1",  # full output
           "PYTHON": str(space["python"])}
    env.pop("PYTHONPATH", None)  # the recipe puts the (spaced) checkout on it
    env.pop("RAY_ADDRESS", None)
    # The timeout only stops a hung run from blocking CI; no assertion is made on time.
    return subprocess.run(["bash", str(space["checkout"] / "recipes" / "revisual_stage2.sh"),
                           f"data.train_files={space['train']}", f"data.val_files={space['val']}",
                           "trainer.save_freq=1", *overrides],
                          cwd=space["run"], env=env, capture_output=True, text=True, timeout=900)


def metrics_steps(path):
    return [json.loads(line)["step"] for line in path.read_text().splitlines() if line.strip()]


def digests(folder):
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    from data_preprocess.synthetic import write_synthetic_datasets

    root = tmp_path_factory.mktemp("faults") / "with space"
    root.mkdir()
    (root / "revisual").symlink_to(REPO)
    executable = Path(sys.executable)
    (root / "python env").symlink_to(executable.parent.parent)
    run = root / "run"
    data = write_synthetic_datasets(str(root / "data"), seed=3, num_train=16, num_val=4)["mmrl"]
    train = pq.read_table(data["train"])
    rows = train.to_pylist()
    image = rows[BROKEN_ROW]["images"][0]
    image["bytes"] = image["bytes"][: len(image["bytes"]) // 2]
    run.mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=train.schema), run / "train.parquet")
    checkpoints = run / "outputs" / "stage2_mrl_cpu" / "checkpoints"
    checkpoints.mkdir(parents=True)
    killed = {"host": socket.gethostname(), "pid": dead_pid(), "started": "2026-01-01T00:00:00", "command": "killed"}
    (checkpoints / LOCK_NAME).write_text(json.dumps(killed))
    return {"checkout": root / "revisual", "python": root / "python env" / "bin" / executable.name,
            "run": run, "train": run / "train.parquet", "val": data["val"], "checkpoints": checkpoints,
            "killed_pid": killed["pid"], "train_bytes": (run / "train.parquet").read_bytes()}


@pytest.fixture(scope="module")
def run_a(space):
    done = recipe(space, "trainer.total_training_steps=2")
    [metrics] = sorted((space["checkpoints"].parent / "metrics").glob("*.jsonl"))
    return {"done": done, "steps": metrics_steps(metrics), "lock_after": (space["checkpoints"] / LOCK_NAME).read_text(),
            "copies": sorted((space["checkpoints"].parent / "data_checks").glob("*.parquet"))}


def test_a_checkout_and_run_folder_with_spaces_train(space, run_a):
    done = run_a["done"]
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    assert " " in str(space["python"]) and " " in str(space["checkpoints"])
    assert f"Ray starts workers with '{space['python']}'" in done.stdout
    assert run_a["steps"] == [1, 2]
    assert checkpoint_problems(space["checkpoints"] / "global_step_2") == []


def test_a_lock_left_by_a_killed_run_is_taken_over_with_a_warning(space, run_a):
    assert f"[revisual] warning: took over the lock of {space['checkpoints']} from a run that is no longer " \
           f"running (host {socket.gethostname()}, pid {space['killed_pid']}," in run_a["done"].stdout
    assert run_a["lock_after"] == ""  # released when the run ended


def test_a_truncated_image_is_skipped_and_counted(space, run_a):
    assert f"[revisual] skipped 1 of 16 rows of {space['train']} whose image does not decode " \
           f"(data.on_bad_image=skip; first: {space['train']}: row {BROKEN_ROW}: field 'images[0]': corrupt_image" \
           in run_a["done"].stdout
    [copy] = run_a["copies"]
    assert pq.read_metadata(copy).num_rows == 15
    assert space["train"].read_bytes() == space["train_bytes"]  # the user's file is never changed


@pytest.fixture(scope="module")
def run_b(space, run_a):
    assert run_a["done"].returncode == 0
    checkpoints = space["checkpoints"]
    step1 = digests(checkpoints / "global_step_1")
    damaged = checkpoints / "global_step_2" / "actor" / "model_world_size_1_rank_0.pt"
    damaged.write_bytes(damaged.read_bytes()[:1000])
    refused = recipe(space, "trainer.total_training_steps=3")
    before = set((checkpoints.parent / "metrics").glob("*.jsonl"))
    resumed = recipe(space, "trainer.total_training_steps=3", "trainer.on_corrupt_checkpoint=use_intact")
    new_metrics = sorted(set((checkpoints.parent / "metrics").glob("*.jsonl")) - before)
    return {"damaged": damaged, "refused": refused, "resumed": resumed, "step1_before": step1,
            "step1_after": digests(checkpoints / "global_step_1"), "metrics": new_metrics}


def test_a_truncated_checkpoint_is_refused_naming_the_file_and_the_intact_one(space, run_b):
    refused = run_b["refused"]
    assert refused.returncode == 2
    assert f"[revisual] error: the checkpoint to resume from, {space['checkpoints'] / 'global_step_2'}, is damaged: " \
           f"{run_b['damaged']}: not a complete zip archive" in refused.stderr
    assert f"The latest intact checkpoint is {space['checkpoints'] / 'global_step_1'}: resume from it with " \
           "trainer.on_corrupt_checkpoint=use_intact" in refused.stderr
    assert "ray init" not in refused.stdout


def test_use_intact_resumes_from_the_intact_checkpoint_and_loses_none(space, run_b):
    resumed = run_b["resumed"]
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-6000:]
    assert f"Resuming from the latest intact checkpoint, {space['checkpoints'] / 'global_step_1'}" in resumed.stdout
    [metrics] = run_b["metrics"]
    assert metrics_steps(metrics) == [2, 3]  # step 1 is not redone, steps 2 and 3 are trained again
    assert run_b["step1_after"] == run_b["step1_before"]
    for step in (2, 3):
        assert checkpoint_problems(space["checkpoints"] / f"global_step_{step}") == []
    assert (space["checkpoints"] / "latest_checkpointed_iteration.txt").read_text().strip() == "3"
