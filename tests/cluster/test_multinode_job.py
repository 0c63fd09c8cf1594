"""Stage 2 on a two-node Ray cluster, submitted with `ray job submit` as the README shows.

Both nodes run on this machine (a head and a worker, each `ray start`-ed with its own ports and
temp folder). They declare logical GPU units, because verl places one worker per GPU unit, and
the job says REVISUAL_DEVICE=cpu: that is how a cluster of CPU machines is declared (docs/cpu.md).
"""

import json
from pathlib import Path

import pytest
import torch

from verl_ext.devices import default_cache_dir

REPO = Path(__file__).resolve().parents[2]


def _rank_files(checkpoint: Path) -> list[str]:
    return sorted(p.name for p in (checkpoint / "actor").glob("model_world_size_*_rank_*.pt"))


@pytest.mark.e2e
def test_stage2_runs_across_two_nodes_through_ray_job_submit(ray_cluster, tmp_path):
    ray_cluster.start_head(num_cpus=16, num_gpus=1)
    worker = ray_cluster.add_node(num_cpus=16, num_gpus=1)
    run = tmp_path / "stage2"  # absolute: the job runs inside Ray's unpacked copy of the repo

    job = ray_cluster.submit(
        [
            "bash", "recipes/revisual_stage2.sh",
            "trainer.nnodes=2", "trainer.n_gpus_per_node=1",
            "trainer.total_training_steps=2", "trainer.save_freq=2",
            # the |A| band keeps rows whatever the tiny model's accuracy, so both steps update
            "algorithm.pad.filter_on=advantage",
            f"trainer.default_local_dir={run}/checkpoints",
        ],
        {"REVISUAL_DEVICE": "cpu", "REVISUAL_CACHE": str(default_cache_dir())},
        timeout_s=1200,  # only stops a hung job from blocking CI; nothing is asserted on time
    )  # fmt: skip
    log = job.stdout + job.stderr
    assert job.returncode == 0, log[-6000:] + ray_cluster.node_logs()
    assert "[revisual] device=cpu: REVISUAL_DEVICE=cpu is set" in log

    metrics = sorted((run / "metrics").glob("*.jsonl"))
    rows = [json.loads(line) for f in metrics for line in f.read_text().splitlines() if line.strip()]
    assert [r["step"] for r in rows] == [1, 2]
    assert all("pad/num_selected" in r["data"] for r in rows)

    checkpoint = run / "checkpoints" / "global_step_2"
    assert (run / "checkpoints" / "latest_checkpointed_iteration.txt").read_text().strip() == "2"
    assert _rank_files(checkpoint) == ["model_world_size_2_rank_0.pt", "model_world_size_2_rank_1.pt"]
    assert json.loads((checkpoint / "revisual_state.json").read_text())["optimizer_steps"] == 2
    shard = torch.load(checkpoint / "actor" / "model_world_size_2_rank_1.pt", weights_only=False)
    assert shard, "rank 1 wrote an empty shard"

    # A training worker on each node (each declares one GPU unit, so one FSDP rank each): Ray logs
    # an actor in the temp folder of the node that runs it.
    for node in ("head", worker):
        worker_logs = ray_cluster.node_dirs[node].glob("session_*/logs/worker-*.out")
        assert any(":actor_name:WorkerDict" in p.read_text(errors="replace").splitlines() for p in worker_logs), node
