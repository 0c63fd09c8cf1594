"""verl reward-loop manager ``revisual``: the composite ReVisual reward with hard deadlines.

Unlike ``reward.custom_reward_function``, a reward manager sees the response token count, which
the efficient-length term needs.  Each sample is scored by a persistent ``reward_fns`` scoring
process; a sample whose scoring crashes or is not done ``reward.score_timeout_s`` seconds after it
reached the manager (decoding and waiting for a free scoring process count) is scored 0 with
``reward_error`` / ``reward_timeout`` set, and the training step goes on.  verl submits a step's
samples together, so a step's scoring takes at most about one deadline, however slow the terms.

Config read from the trainer config (all optional, defaults shown)::

    reward:
      terms: {accuracy: 0.9, efficient_length: 0.1}
      length_budget: 4096
      length_alpha: 0.005
      length_delta: 0.5
      score_timeout_s: 5.0
      score_workers: 2
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from verl import DataProto
from verl.experimental.reward_loop.reward_manager import register
from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager
from verl.experimental.reward_loop.reward_manager.registry import REWARD_MANAGER

from reward_fns.composite import CompositeReward, compose_rewards, score_in_worker
from reward_fns.deadline import ScoringPool

logger = logging.getLogger(__name__)
logger.setLevel(os.getenv("VERL_LOGGING_LEVEL", "WARN"))

MANAGER_NAME = "revisual"
_pools: dict[int, ScoringPool] = {}
_pools_lock = threading.Lock()


def _shared_pool(workers: int) -> ScoringPool:
    """One pool per process and size: every manager instance in a RewardLoopWorker shares it.

    Its processes start in the background right away, so the first step's samples do not spend
    their deadline on start-up (a start-up failure is reported by the first call instead)."""
    with _pools_lock:
        if workers not in _pools:
            pool = _pools[workers] = ScoringPool(workers=workers)
            threading.Thread(target=_warm_up_quietly, args=(pool,), name="revisual-scoring-warmup", daemon=True).start()
        return _pools[workers]


def _warm_up_quietly(pool: ScoringPool) -> None:
    try:
        pool.warm_up()
    except Exception as exc:  # noqa: BLE001 - the first call raises it again, with context
        logger.warning("revisual reward: scoring processes did not start: %s", exc)


def _reward_option(config, key: str, default):
    reward_cfg = config.get("reward") if hasattr(config, "get") else None
    if reward_cfg is None:
        return default
    value = reward_cfg.get(key, default)
    return default if value is None else value


class RevisualRewardManager(NaiveRewardManager):
    """Composite reward (``reward.terms``) scored in deadline-bounded worker processes.

    ``run_single`` returns ``{"reward_score": float, "reward_extra_info": {...}}`` where the extra
    info always has the same keys: ``acc``, ``term/<name>`` for each term, ``reward_timeout`` and
    ``reward_error``.  ``compute_score`` (verl's per-data-source default) is ignored.
    """

    def __init__(self, config, tokenizer, compute_score=None, reward_router_address=None, reward_model_tokenizer=None):
        super().__init__(config, tokenizer, compute_score, reward_router_address, reward_model_tokenizer)
        self.composite: CompositeReward = compose_rewards(
            _reward_option(config, "terms", None),
            length_budget=int(_reward_option(config, "length_budget", 4096)),
            length_alpha=float(_reward_option(config, "length_alpha", 0.005)),
            length_delta=float(_reward_option(config, "length_delta", 0.5)),
        )
        self.timeout_s = float(_reward_option(config, "score_timeout_s", 5.0))
        workers = int(_reward_option(config, "score_workers", 2))
        if self.timeout_s <= 0 or workers < 1:
            raise ValueError(
                f"reward.score_timeout_s must be > 0 and reward.score_workers >= 1, got {self.timeout_s}, {workers}"
            )
        self.pool = _shared_pool(workers)
        # One waiting thread per scoring process: pool.call blocks until its process answers.
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="revisual-reward")

    def _decode(self, data_item) -> tuple[str, int]:
        response_ids = data_item.batch["responses"]
        response_length = response_ids.shape[-1]
        valid_length = int(data_item.batch["attention_mask"][-response_length:].sum())
        text = self.tokenizer.decode(response_ids[:valid_length], skip_special_tokens=True)
        return text, valid_length

    def _score(self, kwargs: dict, deadline: float) -> dict[str, float]:
        result = self.pool.call(score_in_worker, self.composite, kwargs, timeout_s=self.timeout_s, deadline=deadline)
        if result.ok:
            return dict(result.value)
        logger.warning("revisual reward: sample %s (%s)", "timed out" if result.timed_out else "failed", result.error)
        return self.composite.failed_result(timed_out=result.timed_out)

    async def run_single(self, data: DataProto) -> dict:
        deadline = time.monotonic() + self.timeout_s  # from submission: every wait below counts
        try:
            data_item = data[-1:][0]
            response, response_length = await self.loop.run_in_executor(None, self._decode, data_item)
            non_tensor = data_item.non_tensor_batch
            extra_info = non_tensor.get("extra_info", None)
            kwargs = {
                "response": response,
                "ground_truth": str(non_tensor["reward_model"]["ground_truth"]),
                "response_length": response_length,
                "data_source": str(non_tensor.get("data_source", "")),
                "extra_info": dict(extra_info) if isinstance(extra_info, dict) else {},
            }
            info = await self.loop.run_in_executor(self.executor, self._score, kwargs, deadline)
        except Exception as exc:  # noqa: BLE001 - one bad sample must never kill the step
            logger.warning("revisual reward: scoring raised %s: %s", type(exc).__name__, exc)
            info = self.composite.failed_result(timed_out=False)
        score = float(info.pop("score"))
        return {"reward_score": score, "reward_extra_info": info}


def _register() -> None:
    existing = REWARD_MANAGER.get(MANAGER_NAME)
    if existing is not None and existing.__qualname__ == RevisualRewardManager.__qualname__:
        # Same class loaded again (e.g. by file path): keep the registry pointing at one of them.
        REWARD_MANAGER[MANAGER_NAME] = RevisualRewardManager
        return
    register(MANAGER_NAME)(RevisualRewardManager)


_register()
