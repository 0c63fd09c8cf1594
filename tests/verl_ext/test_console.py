"""A stage's console (issue 21, item 5): our lines, one compact line per step, the warnings that matter,
and on failure the first real error; verl's full output stays in the log.

The lines fed in are written by the tools that write them in a run: verl's console logger
(``concat_dict_to_str``), Ray's driver-side printer of worker output (``print_worker_logs``) and
Ray's own task error (``RayTaskError``) around a real exception's traceback.
"""

import io
import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from verl_ext.console import StageConsole, first_error
from verl_ext.progress import Progress

REPO = Path(__file__).resolve().parents[2]


def ray_printed(lines: list[str], actor: str = "TaskRunnerV1", pid: int = 4242) -> list[str]:
    """``lines`` as Ray's driver prints a remote worker's output (colour codes and prefix included)."""
    from ray._private.worker import print_worker_logs

    out = io.StringIO()
    print_worker_logs({"pid": pid, "actor_name": actor, "ip": "10.0.0.7", "localhost": "10.0.0.1", "lines": lines}, out)
    return out.getvalue().splitlines(keepends=True)


def verl_step_line(step: int, metrics: dict) -> str:
    from verl.utils.logger.aggregate_logger import concat_dict_to_str

    return concat_dict_to_str(metrics, step)


STEP_METRICS = {"global_seqlen/min": 3929.0, "actor/entropy": 0.248046875, "reward/acc/mean": 0.4375,
                "critic/score/mean": 0.44, "response_length/mean": 22.75, "timing_s/step": 10.2,
                "val-core/synthetic/acc/mean@1": 0.5, "actor/perf/max_memory_allocated_gb": 0.0}


def test_a_stage_shows_a_compact_step_line_our_lines_once_and_only_warnings_that_matter():
    stream = io.StringIO()
    lines = ray_printed([
        "[revisual] device=cpu: REVISUAL_DEVICE=cpu is set",
        "[revisual] device=cpu: REVISUAL_DEVICE=cpu is set",
        "Total training steps: 40",
        "/x/verl/workers/engine/__init__.py:32: UserWarning: torchtitan engine is not available: ModuleNotFoundError",
        '  warnings.warn(f"torchtitan engine is not available: {e!r}", stacklevel=1)',
        "2026-12-06 06:08:36,311 - WARNING - transfer_queue.utils.common - target_num_threads 8 should not exceed",
        "/x/reward_fns/terms.py:12: UserWarning: reward term 'my_term' returned NaN; counted as 0",
        "/x/reward_fns/terms.py:12: UserWarning: reward term 'my_term' returned NaN; counted as 0",
        "INFO some chatter the console does not need",
        "/x/torch/_dynamo/eval_frame.py:1446: UserWarning: torch.utils.checkpoint: the use_reentrant parameter "
        "should be passed explicitly. Starting in PyTorch 2.9, calling checkpoint without use_reentrant will raise",
        "/x/torch/utils/checkpoint.py:238: UserWarning: None of the inputs have requires_grad=True. Gradients will be None",
        verl_step_line(3, STEP_METRICS),
    ])
    with Progress("stage 2", None, "steps", stream=stream, terminal=False, interval_s=3600) as progress:
        console = StageConsole("stage 2", progress)
        shown = [text for line in lines for text in console.feed(line)]
        assert (progress.total, progress.done) == (40, 3)
    assert shown[0] == "[revisual] device=cpu: REVISUAL_DEVICE=cpu is set"
    assert shown[1] == ("[revisual] stage 2 warning: /x/reward_fns/terms.py:12: UserWarning: reward term 'my_term' "
                        "returned NaN; counted as 0")
    step = shown[2]
    # The first step seen has no ETA yet: its time includes the stage's start-up.
    assert step == ("[revisual] stage 2 step 3/40: score 0.440, acc 0.438, entropy 0.248, length 22.8, "
                    "s/step 10.2, val acc 0.500")
    assert len(shown) == 3


def _real_traceback() -> str:
    def load_reward(path):
        raise FileNotFoundError(f"reward file {path} does not exist")

    try:
        load_reward("/data/rewards.py")
    except FileNotFoundError:
        return traceback.format_exc()


def _driver_traceback(worker_tb: str) -> str:
    """What the driver prints when ray.get raises: Ray's wrapper around the worker's traceback."""
    from ray.exceptions import RayTaskError

    wrapped = RayTaskError("TaskRunnerV1.run", worker_tb, FileNotFoundError("reward file /data/rewards.py does "
                           "not exist"), proctitle="ray::TaskRunnerV1.run", pid=4242, ip="10.0.0.7")
    try:
        raise wrapped.as_instanceof_cause()
    except Exception:  # noqa: BLE001 - formatting what the driver would print
        return traceback.format_exc()


def test_the_first_real_error_is_the_cause_not_rays_wrapper_nor_the_logs_tail():
    worker_tb = _real_traceback()
    log = "".join([
        "$ python -m verl_ext.trainer.main ...\n",
        *ray_printed(["[revisual] device=cpu model=/tmp/m", *worker_tb.splitlines()]),
        *_driver_traceback(worker_tb).splitlines(keepends=True),
        *ray_printed([f"shutting down worker {i}" for i in range(40)], actor="AgentLoopWorkerTQ", pid=5151),
    ])
    error = first_error(log).splitlines()
    assert error[0] == "Traceback (most recent call last):"
    assert error[-1] == "FileNotFoundError: reward file /data/rewards.py does not exist"
    assert any("load_reward" in line for line in error)
    assert not any("ray.exceptions" in line or "shutting down" in line or "pid=" in line for line in error)


def test_a_failed_standalone_stage_prints_a_short_console_and_the_first_error(tmp_path):
    child = ("import warnings\n"
             "for i in range(200): print(f'verl chatter {i}')\n"
             "print('[revisual] stage 9 starting')\n"
             "print('step:1 - train/loss:0.5')\n"
             "def build(): raise ValueError('data.train_files: no such file /nope.parquet')\n"
             "build()\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("REVISUAL_VERBOSE", None)
    proc = subprocess.run([sys.executable, "-m", "verl_ext.console", "--name", "stage9", "--log-dir", str(tmp_path),
                           "--", sys.executable, "-c", child], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 1
    (log,) = tmp_path.glob("stage9-*.log")
    assert "verl chatter 199" in log.read_text()
    assert "verl chatter" not in proc.stdout + proc.stderr
    assert f"full output -> {log}" in proc.stdout
    assert "[revisual] stage 9 starting" in proc.stdout and "stage9 step 1: loss 0.500" in proc.stdout
    assert "  ValueError: data.train_files: no such file /nope.parquet" in proc.stderr
    assert len((proc.stdout + proc.stderr).splitlines()) < 25


@pytest.mark.parametrize("recipe", sorted(p.name for p in (REPO / "recipes").glob("*.sh")))
def test_recipe_help_says_what_it_does_and_where_the_docs_are(recipe):
    proc = subprocess.run(["bash", str(REPO / "recipes" / recipe), "--help"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHON": "/nonexistent-python"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert 5 <= len(lines) <= 30
    assert f"bash recipes/{recipe}" in proc.stdout
    docs = [word.strip(",.()") for line in lines if line.startswith("Docs:") for word in line.split()]
    named = [d for d in docs if d.startswith("docs/")]
    assert named and all((REPO / d).is_file() for d in named)


def test_the_pipeline_hides_a_stages_path_lines_which_its_summary_keeps():
    from verl_ext.console import PATH_LINES

    console = StageConsole("stage 2", hide=PATH_LINES)
    hidden = ["[revisual] checkpoints -> /r/stage2_mrl/checkpoints", "[revisual] metrics (jsonl) -> /r/m.jsonl",
              "[revisual] done. checkpoints: /r/c", "[revisual] metrics: /r/m.jsonl", "[revisual] merged HF model -> /r/hf",
              "[revisual] device=cpu model=/r/stage1_cold_start/hf",
              "[revisual] stage 1 (cold start SFT) device=cpu model=/c/tiny-qwen25vl"]
    assert [text for line in hidden for text in console.feed(line + "\n")] == []
    kept = "[revisual] stage 2 warning: PAD kept no sequence"
    assert console.feed(kept + "\n") == [kept]
    assert StageConsole("stage 2").feed(hidden[0] + "\n") == [hidden[0]]  # the standalone recipes show them
