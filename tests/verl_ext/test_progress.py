"""Progress lines for long waits: verl's step lines followed by a stage's console, and a line at least
every interval even when no step finishes (a heartbeat, not a timing assertion)."""

import io
import threading

from verl_ext.progress import Progress, duration
from verl_ext.console import StageConsole


class Lines(io.StringIO):
    """A log stream that signals each finished line."""

    def __init__(self):
        super().__init__()
        self.count = 0
        self.second = threading.Event()

    def write(self, text):
        self.count += text.count("\n")
        if self.count >= 2:
            self.second.set()
        return super().write(text)


def test_the_pipeline_follows_verls_step_lines_to_step_k_of_n():
    stream = Lines()
    with Progress("stage 2 (multimodal RL)", None, "steps", stream=stream, terminal=False, interval_s=3600) as progress:
        console = StageConsole("stage 2", progress)
        console.feed("(TaskRunner pid=4242) Total training steps: 12\n")
        console.feed("(TaskRunner pid=4242) step:3 - actor/entropy:0.5 - critic/score/mean:0.25\n")
        console.feed("(TaskRunner pid=4242) a line about steps:7 that is no step line\n")
        assert (progress.total, progress.done) == (12, 3)
        assert progress.status().startswith("3 of 12 steps, ") and "ETA" not in progress.status()
        console.feed("(TaskRunner pid=4242) step:4 - actor/entropy:0.5 - critic/score/mean:0.25\n")
        status = progress.status()
        assert status.startswith("4 of 12 steps, ") and "s each, ETA " in status
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[revisual] stage 2 (multimodal RL): 0 steps") and lines[0].endswith("(started)")
    assert lines[-1].startswith("[revisual] stage 2 (multimodal RL): 4 of 12 steps") and lines[-1].endswith("(stopped)")


def test_a_line_comes_even_while_one_step_takes_longer_than_the_interval():
    stream = Lines()
    progress = Progress("tiny model warm start", 5, "steps", stream=stream, terminal=False, interval_s=0.05)
    try:
        assert stream.second.wait(timeout=60), "no heartbeat line"
    finally:
        progress.close()
    beat = stream.getvalue().splitlines()[1]
    assert beat.startswith("[revisual] tiny model warm start: 0 of 5 steps, ") and "elapsed" in beat


def test_durations_read_at_a_glance():
    assert [duration(s) for s in (4.2, 75, 3725)] == ["4s", "1m15s", "1h02m"]


def test_without_announce_only_the_heartbeat_and_a_stop_are_printed():
    stream = Lines()
    with Progress("stage 2", 4, "steps", stream=stream, terminal=False, interval_s=3600, announce=False) as progress:
        progress.set(4)
    assert stream.getvalue() == ""
    with Progress("stage 2", 4, "steps", stream=stream, terminal=False, interval_s=3600, announce=False) as progress:
        progress.set(2)
    assert stream.getvalue().startswith("[revisual] stage 2: 2 of 4 steps") and stream.getvalue().endswith("(stopped)\n")


def test_a_line_every_child_repeats_is_shown_once_per_pipeline():
    seen = set()
    first, second = StageConsole("stage 1", seen=seen), StageConsole("stage 2", seen=seen)
    line = "[revisual] device=cpu: REVISUAL_DEVICE=cpu is set\n"
    assert first.feed(line) == [line.strip()] and second.feed(line) == []
    assert second.feed("[revisual] stage 2 model=/m\n") == ["[revisual] stage 2 model=/m"]


def test_the_pipeline_turns_its_childrens_start_and_end_lines_off_through_the_environment(monkeypatch):
    from verl_ext.progress import ANNOUNCE_ENV

    stream = Lines()
    monkeypatch.setenv(ANNOUNCE_ENV, "0")
    with Progress("evaluating model 1 of 2", 4, "answers", stream=stream, terminal=False, interval_s=3600) as progress:
        progress.set(4)
    assert stream.getvalue() == ""


def test_a_quiet_progress_that_follows_another_counts_the_silence_from_the_last_line(monkeypatch):
    from verl_ext.progress import ANNOUNCE_ENV

    monkeypatch.setenv(ANNOUNCE_ENV, "0")
    stream = Lines()
    with Progress("evaluating model 1 of 2", 4, "answers", stream=stream, terminal=False, interval_s=3600) as first:
        first.line("[revisual] a line of the first")
        first.set(4)
    printed_at = first._last
    with Progress("evaluating model 2 of 2", 4, "answers", stream=stream, terminal=False, interval_s=3600) as second:
        assert second._last == printed_at


def test_the_eta_counts_steps_from_the_first_finished_one_not_the_start_up(monkeypatch):
    # 100 s of start-up before step 1, then 2 s per step: 28 steps left take 56 s, not 28 x 51 s.
    clock = [1000.0]
    monkeypatch.setattr("verl_ext.progress.time.monotonic", lambda: clock[0])
    with Progress("stage 3", 30, "steps", stream=io.StringIO(), terminal=False, interval_s=3600, announce=False) as progress:
        assert progress.eta() == ""
        clock[0] += 100
        progress.set(1)
        assert progress.eta() == ""  # one step: nothing but the start-up to go by yet
        clock[0] += 2
        progress.set(2)
        assert progress.eta() == "ETA 56s"
        clock[0] += 2
        progress.set(3)
        assert (progress.eta(), progress.seconds_per()) == ("ETA 54s", 2.0)
