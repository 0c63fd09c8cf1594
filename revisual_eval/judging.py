"""Judged scoring of one benchmark's rows: each row's protocol, run concurrently, never silently wrong.

Every row gets three fields beside the rule verdict (``extracted_answer``, ``correct``):
``judge_answer``, ``judge_correct`` and ``judge_status``:

* ``judged``: the judge's answer decided the verdict;
* ``rule``: the protocol keeps the rule verdict for this row (no protocol for the benchmark, or
  the rules already found the answer where the protocol only falls back to the judge);
* ``failed: REASON``: a judge call failed after its retries, or its reply was unreadable; the row
  keeps its rule verdict and is counted under ``failed`` in ``results.json`` and ``results.md``.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from revisual_eval.judge_client import JudgeCallError, JudgeClient
from revisual_eval.judge_prompts import UnreadableReply
from revisual_eval.judge_protocols import JUDGED, PROTOCOLS, RULE
from revisual_eval.progress import progress_bar

FAILED = "failed"


@dataclass
class JudgeTally:
    """How a benchmark's rows were decided."""

    judged: int = 0
    rule: int = 0
    failed: int = 0
    reasons: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {"judged": self.judged, "rule": self.rule, "failed": self.failed, "failure_reasons": dict(self.reasons.most_common())}


def _keep_rule(row: dict, status: str) -> dict:
    return {**row, "judge_answer": row["extracted_answer"], "judge_correct": bool(row["correct"]), "judge_status": status}


def judge_row(benchmark: str, row: dict, client: JudgeClient) -> dict:
    """One rule-scored row with its judged fields added."""
    protocol = PROTOCOLS.get(benchmark)
    if protocol is None:
        return _keep_rule(row, RULE)
    try:
        verdict = protocol(row, client.ask, client.settings.max_response_chars)
    except (JudgeCallError, UnreadableReply) as exc:
        return _keep_rule(row, f"{FAILED}: {exc}")
    return {**row, "judge_answer": verdict.answer, "judge_correct": bool(verdict.correct), "judge_status": verdict.status}


def judge_rows(benchmark: str, rows: list[dict], client: JudgeClient, *, progress: bool = True) -> tuple[list[dict], JudgeTally]:
    """All rows judged, at most ``concurrency`` calls at a time, in the input order."""
    judged: list[dict | None] = [None] * len(rows)
    tally = JudgeTally()
    if benchmark in PROTOCOLS:
        with ThreadPoolExecutor(max_workers=client.settings.concurrency) as pool, progress_bar(
            len(rows), f"judge {benchmark}", enabled=progress
        ) as bar:
            futures = {pool.submit(judge_row, benchmark, row, client): i for i, row in enumerate(rows)}
            for future in as_completed(futures):
                judged[futures[future]] = future.result()
                bar.update(1)
    else:
        judged = [judge_row(benchmark, row, client) for row in rows]
    for row in judged:
        status = row["judge_status"]
        if status == JUDGED:
            tally.judged += 1
        elif status == RULE:
            tally.rule += 1
        else:
            tally.failed += 1
            tally.reasons[status[len(FAILED) + 2 :][:160]] += 1
    return judged, tally


def drop_judge_fields(row: dict) -> dict:
    """A row without the fields of an earlier judged scoring (a re-score without ``--judge``)."""
    return {key: value for key, value in row.items() if not key.startswith("judge_")}
