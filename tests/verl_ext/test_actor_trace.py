"""The actor trace reader: the trainer's selection and every worker's rows, from hand-written files."""

import json
from collections import Counter

from verl_ext.actor_trace import read_actor_trace, rows_trained_in


def write_lines(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "\n")  # a trailing blank line is skipped


def test_rows_of_one_update_are_summed_over_ranks_and_steps_and_repeats_count(tmp_path):
    write_lines(tmp_path / "trainer.jsonl", [
        {"kind": "update", "update": 1, "plan": [2, 2], "rows": [["a", 1.0, -2.0], ["b", -1.0, -3.0]]},
        {"kind": "update", "update": 2, "plan": [1, 2], "rows": [["c", 0.5, -1.0]]},
    ])
    write_lines(tmp_path / "actor-11.jsonl", [
        {"kind": "step", "update": 1, "rank": 0, "optimizer_step": 0, "rows": [["a", 1.0, -2.0]]},
        {"kind": "loss", "update": 1, "optimizer_step": 0, "entropy_coeff": 0.0},
        {"kind": "step", "update": 1, "rank": 0, "optimizer_step": 1, "rows": [["a", 1.0, -2.0]]},
        {"kind": "step", "update": 2, "rank": 0, "optimizer_step": 2, "rows": [["c", 0.5, -1.0]]},
    ])
    write_lines(tmp_path / "actor-12.jsonl", [
        {"kind": "step", "update": 1, "rank": 1, "optimizer_step": 0, "rows": [["b", -1.0, -3.0]]},
        {"kind": "loss", "update": 1, "optimizer_step": 0, "entropy_coeff": 0.0},
    ])

    trace = read_actor_trace(tmp_path)

    assert sorted(trace["updates"]) == [1, 2] and trace["updates"][1]["plan"] == [2, 2]
    assert len(trace["steps"]) == 4 and len(trace["losses"]) == 2
    assert rows_trained_in(trace, 1) == Counter({("a", 1.0, -2.0): 2, ("b", -1.0, -3.0): 1})
    assert rows_trained_in(trace, 2) == Counter({("c", 0.5, -1.0): 1})
    assert rows_trained_in(trace, 3) == Counter()


def test_a_run_without_a_trace_reads_as_empty(tmp_path):
    assert read_actor_trace(tmp_path / "missing") == {"updates": {}, "steps": [], "losses": []}
