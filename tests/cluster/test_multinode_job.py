"""Stage 2 on a two-node Ray cluster, submitted with `ray job submit` as the README shows, running
PAD (the production variant) on two FSDP ranks, one per node.

Both nodes run on this machine (a head and a worker, each `ray start`-ed with its own ports and
temp folder). They declare logical GPU units, because verl places one worker per GPU unit, and
the job says REVISUAL_DEVICE=cpu: that is how a cluster of CPU machines is declared (docs/cpu.md).
What the actor workers trained on is read from the workers themselves (REVISUAL_ACTOR_TRACE).
"""

import json
from collections import Counter
from pathlib import Path

import pytest
import torch

from verl_ext.devices import default_cache_dir
from verl_ext.actor_trace import read_actor_trace, rows_trained_in

REPO = Path(__file__).resolve().parents[2]


def _rank_files(checkpoint: Path) -> list[str]:
    return sorted(p.name for p in (checkpoint / "actor").glob("model_world_size_*_rank_*.pt"))


def _initial_weights() -> dict:
    from transformers import AutoModelForImageTextToText

    return AutoModelForImageTextToText.from_pretrained(default_cache_dir() / "tiny-qwen25vl").state_dict()


@pytest.mark.e2e
def test_pad_across_two_nodes_trains_exactly_the_selection_with_the_scheduled_entropy(ray_cluster, tmp_path):
    ray_cluster.start_head(num_cpus=16, num_gpus=1)
    worker = ray_cluster.add_node(num_cpus=16, num_gpus=1)
    run = tmp_path / "stage2"  # absolute: the job runs inside Ray's unpacked copy of the repo
    trace_dir = tmp_path / "trace"

    job = ray_cluster.submit(
        [
            "bash", "recipes/revisual_stage2.sh",
            "trainer.nnodes=2", "trainer.n_gpus_per_node=1",
            "trainer.total_training_steps=2", "trainer.save_freq=2",
            # 5 prompts x 4 rollouts = 20 rows in mini-batches of 8: verl pads the batch to 24 with no-op
            # rows, and its balancer splits them between the two ranks, so they sit between real rows
            "data.train_batch_size=5", "actor_rollout_ref.actor.ppo_mini_batch_size=2",
            # 12 rows per rank: log-prob passes in micro-batches of 4 (verl asserts whole ones)
            "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=4",
            "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=4",
            # an |A| band open at 0 keeps all 20 real rows whatever the tiny model's accuracy, so PAD draws
            # k' = 10 of them by priority, one step of 8 (whole micro-batches of 4 on each rank)
            "algorithm.pad.filter_on=advantage", "algorithm.pad.low=0",
            "algorithm.entropy_anneal.warmup_steps=1", "algorithm.entropy_anneal.decay=0.5",
            # the prompt scheduler picks the batches in the trainer, whatever the ranks (first epoch: no skips)
            "algorithm.schedule.enable=true",
            f"trainer.default_local_dir={run}/checkpoints",
        ],
        {"REVISUAL_DEVICE": "cpu", "REVISUAL_CACHE": str(default_cache_dir()),
         "REVISUAL_ACTOR_TRACE": str(trace_dir), "REVISUAL_VERBOSE": "1"},  # the full output, for a failure's message
        timeout_s=1200,  # only stops a hung job from blocking CI; nothing is asserted on time
    )  # fmt: skip
    log = job.stdout + job.stderr
    assert job.returncode == 0, log[-6000:] + ray_cluster.node_logs()
    assert "[revisual] device=cpu: REVISUAL_DEVICE=cpu is set" in log

    metrics = sorted((run / "metrics").glob("*.jsonl"))
    rows = [json.loads(line) for f in metrics for line in f.read_text().splitlines() if line.strip()]
    assert [r["step"] for r in rows] == [1, 2]
    for row in rows:
        data = row["data"]
        for key in ("stagnation/zero_var_group_frac", "stagnation/all_correct_group_frac",
                    "stagnation/all_wrong_group_frac", "stagnation/effective_token_frac",
                    "stagnation/dropped_tokens_cum", "pad/num_effective", "pad/num_selected",
                    "pad/prioritised", "pad/tau", "reward/acc/mean", "reward/term/efficient_length/mean"):
            assert key in data, key
        assert data["pad/num_effective"] == 20 and data["pad/prioritised"] == 1.0
        assert data["schedule/skipped"] == 0 and data["schedule/rollout_tokens"] > 0
    assert rows[0]["data"]["pad/tau"] == pytest.approx(1.0) and rows[1]["data"]["pad/tau"] == pytest.approx(0.3)

    trace = read_actor_trace(trace_dir)
    assert set(trace["updates"]) == {1, 2}
    coefficients = {}
    for update, record in trace["updates"].items():
        steps, step_size = record["plan"]
        assert not any(record["padding"]) and record["batch_padding_rows"] == 4
        # The workers trained on exactly the trainer's selection: same sequences, each with its own
        # advantage and old log-probs, nothing else (not the full batch, no padding rows).
        assert rows_trained_in(trace, update) == Counter(tuple(r) for r in record["rows"])
        # ... and that selection is what the draw meant: positions into the real rows, not into the padded
        # batch, each row with the advantage the estimator gave it.
        by_content = Counter((uid, adv) for uid, adv, _ in record["rows"])
        assert by_content == Counter(map(tuple, record["intended"]))
        assert not (by_content - Counter(map(tuple, record["advantages"])))
        assert sum(rows_trained_in(trace, update).values()) == steps * step_size == 8
        for rank in (0, 1):
            mine = [s for s in trace["steps"] if s["update"] == update and s["rank"] == rank]
            assert len(mine) == steps and all(len(s["rows"]) == step_size // 2 for s in mine)
    for loss in trace["losses"]:
        coefficients.setdefault(loss["optimizer_step"], set()).add(loss["entropy_coeff"])
    # The coefficient the loss used, per optimizer step, on both ranks: 0 during the 1-step warm-up,
    # then 0.02 halving every optimizer step.
    assert coefficients == {k: {0.0 if k < 1 else 0.02 * 0.5 ** (k - 1)} for k in range(len(coefficients))}
    assert len(coefficients) == sum(r["plan"][0] for r in trace["updates"].values()) == 2

    checkpoint = run / "checkpoints" / "global_step_2"
    assert (run / "checkpoints" / "latest_checkpointed_iteration.txt").read_text().strip() == "2"
    assert _rank_files(checkpoint) == ["model_world_size_2_rank_0.pt", "model_world_size_2_rank_1.pt"]
    assert json.loads((checkpoint / "revisual_state.json").read_text())["optimizer_steps"] == 2
    shard = torch.load(checkpoint / "actor" / "model_world_size_2_rank_1.pt", weights_only=False)
    assert shard, "rank 1 wrote an empty shard"
    trained = torch.load(checkpoint / "actor" / "model_world_size_2_rank_0.pt", weights_only=False)
    initial = _initial_weights()

    def rank0_shard(name, tensor):
        # FSDP2 shards dim 0 over the two ranks; rank 0 holds the leading rows.
        local = tensor.to_local() if hasattr(tensor, "to_local") else tensor
        return local, initial[name][: local.shape[0]] if local.dim() else initial[name]

    changed = [n for n, t in trained.items() if not torch.equal(*rank0_shard(n, t))]
    assert any("language_model" in n or "lm_head" in n for n in changed), changed[:5]

    # A training worker on each node (each declares one GPU unit, so one FSDP rank each): Ray logs
    # an actor in the temp folder of the node that runs it.
    for node in ("head", worker):
        worker_logs = ray_cluster.node_dirs[node].glob("session_*/logs/worker-*.out")
        assert any(":actor_name:WorkerDict" in p.read_text(errors="replace").splitlines() for p in worker_logs), node
