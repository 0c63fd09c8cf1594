"""Data-parallel generation with engines that start child processes (as vLLM's does), and the
clean-up of every worker and child on success, on a worker's error and on an interrupt."""

from pathlib import Path

import pytest

from revisual_eval.engines import EngineSpec, GenerationRequest, SamplingSettings
from revisual_eval.parallel import run_worker_processes

ENGINE = "child_engine:ChildProcessEngine"  # tests/revisual_eval/child_engine.py


def requests(n):
    return [GenerationRequest(("math500", str(i), 0), [{"role": "user", "content": "q"}], [], i) for i in range(n)]


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def started(pid_file: Path) -> list[int]:
    """Every worker and child pid the engines recorded."""
    return [int(pid) for line in pid_file.read_text().splitlines() for pid in line.split()]


@pytest.fixture
def spec_for(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))  # spawned workers get this sys.path
    pid_file = tmp_path / "pids.txt"
    pid_file.touch()

    def make(**options):
        return EngineSpec(ENGINE, "", SamplingSettings(), {"pid_file": str(pid_file), **options}), pid_file

    return make


def test_workers_whose_engines_start_children_return_every_row_once(spec_for):
    spec, pid_file = spec_for()
    results = []
    run_worker_processes(spec, requests(7), lambda r, text: results.append((r.key, text)), num_workers=2, chunk_size=2, visible_devices=[None, None])
    assert sorted(key for key, _ in results) == sorted(r.key for r in requests(7))
    pids = started(pid_file)
    children = set(pids[1::2])
    assert len(pids) == 4 and len(children) == 2
    # Every answer came from one of the engines' child processes.
    assert {int(text.split(" from ")[1].split()[0]) for _, text in results} <= children
    assert not any(alive(pid) for pid in pids)


@pytest.mark.parametrize("groups", [["0", "0"], [None, None]])
def test_engines_that_share_a_device_start_one_after_the_other(spec_for, tmp_path, groups):
    # Two vLLM engines starting at once on one GPU both count the same free memory for their caches.
    marker = tmp_path / "building"
    spec, pid_file = spec_for(build_marker=str(marker))
    results = []
    run_worker_processes(spec, requests(4), lambda r, text: results.append(r.key), num_workers=2, chunk_size=1,
                         visible_devices=groups)  # fmt: skip
    assert len(results) == 4 and len(started(pid_file)) == 4  # both engines were built and answered
    assert not marker.with_suffix(".overlaps").exists()


def test_a_failing_worker_stops_every_worker_and_child(spec_for):
    spec, pid_file = spec_for(fail_on="5")
    with pytest.raises(RuntimeError, match="engine failed on 5"):
        run_worker_processes(spec, requests(8), lambda r, text: None, num_workers=2, chunk_size=1, visible_devices=[None, None])
    pids = started(pid_file)  # the other worker may have been stopped before its engine started
    assert len(pids) >= 2 and not any(alive(pid) for pid in pids)


def test_an_interrupt_stops_every_worker_and_child(spec_for):
    spec, pid_file = spec_for()

    def interrupted(request, text):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_worker_processes(spec, requests(8), interrupted, num_workers=2, chunk_size=1, visible_devices=[None, None])
    pids = started(pid_file)
    assert pids and not any(alive(pid) for pid in pids)
