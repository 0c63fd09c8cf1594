"""What a stage shows on the console, while verl's full output goes to the stage's log file.

    python -m verl_ext.console --log-dir outputs/logs --name stage2_mrl -- python -m verl_ext.trainer.main ...

A stage's child process (verl's trainers, Ray's workers) prints about a thousand lines per run. The
console gets only:

* our own ``[revisual]`` lines (each distinct line once: Ray workers repeat some);
* one compact line per training step from verl's console logger (``step:N - key:value - ...``): the
  step of the total, the metrics that say whether the run learns, the step time and an ETA;
* warnings, each distinct message once, except those known to be harmless on every run here (verl's
  optional engines that are not installed, TransferQueue's thread count on small machines...);
* on failure, the first real error: the first Python traceback in the log with its exception line,
  with Ray's wrappers (``ray.exceptions.RayTaskError(...)``) peeled off, since the last lines of a
  Ray job are its shutdown noise and the wrapper repeats the cause further down.

The pipeline uses :func:`run_logged` for its stages; the standalone recipes run through ``main``.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from verl_ext.progress import PREFIX


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Ray's log monitor prefixes a worker's lines with "(ActorName pid=123[, ip=...])".
_RAY_PREFIX = re.compile(r"^\((?:[\w.:\-]+ )?pid=\d+(?:, ip=[\d.]+)?\) ")
_RAY_REPEAT = re.compile(r"\s*\[repeated \d+x across cluster\].*$")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[,.]\d+")

_TOTAL_STEPS = re.compile(r"Total training steps: (\d+)")
_STEP_LINE = re.compile(r"^step:(\d+) - (.*)$")

# Warnings printed on every CPU run, none of which a user can or needs to act on.
HARMLESS_WARNINGS = (
    "engine is not available",  # verl probes its optional engines (megatron, torchtitan...) on import
    "target_num_threads",  # TransferQueue caps its threads at the machine's cores
    "Token authentication is enabled",  # Ray's default
    "requires torchvision",  # the CPU set leaves torchvision out on purpose (docs/cpu.md)
    "`use_fast` parameter is deprecated",
    "Disabled critic as algorithm.adv_estimator != gae",  # GRPO has no critic
    "Failed to set NUMA affinity",
    "'set_vital' is deprecated",
    # verl's FSDP engine checkpoints the entropy (actor.entropy_checkpointing, on in the recipe) with
    # torch's checkpoint without use_reentrant; in the no-grad log-prob pass torch then also says that
    # no input needs a gradient, which is true there and costs nothing.
    "the use_reentrant parameter should be passed explicitly",
    "None of the inputs have requires_grad=True. Gradients will be None",
)
_WARNING = re.compile(r"(\bWARNING\b|\w*Warning: |^Warning: )")

# The metrics of a compact step line, in order: (label, candidate keys, format). The first key present wins.
STEP_METRICS = (
    ("loss", ("train/loss",), "{:.3f}"),
    ("val loss", ("val/loss",), "{:.3f}"),
    ("score", ("critic/score/mean",), "{:.3f}"),
    ("acc", ("reward/acc/mean", "reward/term/accuracy/mean"), "{:.3f}"),
    ("entropy", ("actor/entropy",), "{:.3f}"),
    ("kl", ("actor/kl_loss",), "{:.4f}"),
    ("length", ("response_length/mean",), "{:.1f}"),
    ("s/step", ("timing_s/step",), "{:.1f}"),
)
_VAL_ACC = re.compile(r"^val-core/.*/acc/mean@\d+$")


def plain(line: str) -> str:
    """A log line without colour codes, Ray's worker prefix and Ray's repeat counter."""
    text = _ANSI.sub("", line.rstrip("\n"))
    text = _RAY_PREFIX.sub("", text)
    return _RAY_REPEAT.sub("", text)


def parse_step_line(text: str) -> tuple[int, dict[str, float]] | None:
    """``step:N - key:value - ...`` (verl's console logger) -> ``(N, {key: value})``; None for other lines."""
    match = _STEP_LINE.match(text)
    if not match:
        return None
    metrics = {}
    for part in match.group(2).split(" - "):
        key, sep, value = part.rpartition(":")
        if not sep:
            continue
        try:
            metrics[key] = float(value)
        except ValueError:
            continue
    return int(match.group(1)), metrics


def format_step(step: int, total: int | None, metrics: dict[str, float]) -> str:
    """The compact form of one step's metrics."""
    cells = []
    for label, keys, fmt in STEP_METRICS:
        key = next((k for k in keys if k in metrics), None)
        if key is not None:
            cells.append(f"{label} {fmt.format(metrics[key])}")
    val = [k for k in metrics if _VAL_ACC.match(k)]
    if val:
        cells.append("val acc " + " ".join(f"{metrics[k]:.3f}" for k in sorted(val)))
    return f"step {step}" + (f"/{total}" if total else "") + (": " + ", ".join(cells) if cells else "")


def warning_text(text: str) -> str | None:
    """The message of a warning line worth showing, or None (not a warning, or a harmless one)."""
    if not _WARNING.search(text) or text.lstrip().startswith("warnings.warn("):
        return None
    if any(noise in text for noise in HARMLESS_WARNINGS):
        return None
    return _TIMESTAMP.sub("", text).strip()


class StageConsole:
    """Turns a stage's output lines into the console's lines (see the module doc)."""

    def __init__(self, label: str, progress=None, seen: set[str] | None = None, hide: re.Pattern | None = None):
        self.label = label
        self.hide = hide
        self.progress = progress
        self.total: int | None = None
        # Shared between the children of one pipeline, a line every stage repeats (the device) shows once.
        self._seen: set[str] = set() if seen is None else seen

    def _once(self, text: str) -> list[str]:
        if text in self._seen:
            return []
        self._seen.add(text)
        return [text]

    def feed(self, line: str) -> list[str]:
        text = plain(line)
        total = _TOTAL_STEPS.search(text)
        if total:
            self.total = int(total.group(1))
            if self.progress is not None:
                self.progress.set_total(self.total)
        if text.startswith(PREFIX):
            return [] if self.hide is not None and self.hide.match(text) else self._once(text)
        step = parse_step_line(text)
        if step is not None:
            number, metrics = step
            if self.progress is not None:
                self.progress.set(number)
            eta = self.progress.eta() if self.progress is not None else ""
            status = f" ({eta})" if eta else ""
            return [f"{PREFIX} {self.label} {format_step(number, self.total, metrics)}{status}"]
        warning = warning_text(text)
        if warning is not None:
            return [f"{PREFIX} {self.label} warning: {w}" for w in self._once(warning)]
        return []


# A stage's lines naming its checkpoint, metrics and model folders: the pipeline prints each stage's log
# and keeps every path in run_summary.json, so in its console these only repeat it.
PATH_LINES = re.compile(rf"^{re.escape(PREFIX)} (done\. checkpoints:|checkpoints ->|metrics( \(jsonl\))? ?(->|:)|"
                        r"merged HF model ->|(stage \d \([^)]*\) )?device=\w+ model=)")


# ----------------------------------------------------------------------------- the first real error
_TRACEBACK = "Traceback (most recent call last):"
_RAY_WRAPPER = re.compile(r"^ray\.exceptions\.\w+(\(\w+\))?: ")
_CHAIN = ("During handling of the above exception", "The above exception was the direct cause")
MAX_FRAMES = 6


def first_error(text: str) -> str:
    """The first real error in a log: the first traceback (Ray's wrappers peeled off) with its exception
    line; without any traceback, the first line that reads as an error; else the last lines."""
    lines = [plain(line) for line in text.splitlines()]
    for start, line in enumerate(lines):
        if line.strip() == _TRACEBACK:
            block = _traceback_at(lines, start)
            if block:
                return "\n".join(block)
    for index, line in enumerate(lines):
        if re.search(r"(^|\b)(error|Error|ERROR)\b", line) and not line.startswith("$ "):
            return "\n".join(lines[index:index + 8])
    return "\n".join(lines[-15:])


def _traceback_at(lines: list[str], start: int) -> list[str]:
    """The traceback starting at ``lines[start]``: its last frames and the exception line (plus the
    message's continuation lines). A Ray wrapper line restarts the frames: what follows it is the cause's
    own traceback, in the worker that raised it."""
    frames: list[str] = []
    index = start + 1
    while index < len(lines):
        line = lines[index]
        if line.startswith((" ", "\t")) or not line.strip():
            frames.append(line)
        elif _RAY_WRAPPER.match(line) or line.strip() == _TRACEBACK:
            frames = []  # the wrapper repeats the cause's traceback next; keep only that one
        else:
            message = [line]
            # A message that ends in ':' goes on below (a list of problems); otherwise what follows is
            # the next log line, which would read as part of the error.
            if line.rstrip().endswith(":"):
                for follow in lines[index + 1:index + 10]:
                    if not follow.strip() or follow.startswith((_TRACEBACK, *_CHAIN, PREFIX)):
                        break
                    message.append(follow)
            kept = [f for f in frames if f.strip()]
            shown = _last_frames(kept)
            return [_TRACEBACK, *shown, *message]
        index += 1
    return []


def _last_frames(frames: list[str]) -> list[str]:
    """The last ``MAX_FRAMES`` frames (a frame is its ``File ...`` line and the source lines below it)."""
    starts = [i for i, f in enumerate(frames) if f.lstrip().startswith("File ")]
    if len(starts) <= MAX_FRAMES:
        return frames
    cut = starts[-MAX_FRAMES]
    return [f"  ... {len(starts) - MAX_FRAMES} earlier frames in the log ...", *frames[cut:]]


# ----------------------------------------------------------------------------- running a stage
def run_logged(cmd: list[str], log_file: Path, env: dict, label: str, verbose: bool = False,
               follow_steps: bool = True, seen: set[str] | None = None, announce: bool = True,
               hide: re.Pattern | None = None, start=subprocess.Popen, finish=None) -> int:
    """Run ``cmd`` with all its output in ``log_file`` and the console's share printed (every line with
    ``verbose``). With ``follow_steps`` a :class:`~verl_ext.progress.Progress` gives a sign of life at
    least every 25 s between the step lines (``announce``: also a line when it starts and ends). ``seen``:
    the ``[revisual]`` lines already shown, by this call or earlier ones, shown no more; ``hide``: our lines
    the caller reports itself; ``start``/``finish``: how the process is started and waited for (the
    pipeline's stop supervisor runs it in a session of its own)."""
    from verl_ext.progress import Progress

    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "w") as log:
        log.write("$ " + shlex.join(cmd) + "\n")
        log.flush()
        proc = start(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True, bufsize=1,
                     errors="replace")
        assert proc.stdout is not None
        progress = Progress(label, None, "steps", terminal=False, announce=announce) if follow_steps else None
        console = StageConsole(label, progress, seen, hide)
        try:
            for line in proc.stdout:
                log.write(line)
                shown = console.feed(line)
                if verbose:
                    print(line, end="", flush=True)
                    continue
                for text in shown:
                    if progress is not None:
                        progress.line(text)
                    else:
                        print(text, flush=True)
            return proc.wait() if finish is None else finish(proc)
        finally:
            if progress is not None:
                progress.close()


def failure_report(log_file: Path) -> str:
    """The first real error of a failed stage's log, indented under the log's path."""
    if not log_file.exists():
        return f"(no log at {log_file})"
    error = first_error(log_file.read_text(errors="replace"))
    return "first error in the log:\n" + "\n".join("  " + line for line in error.splitlines())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a stage with its full output in a log and a short console.")
    parser.add_argument("--log-dir", default=os.environ.get("REVISUAL_LOG_DIR", "outputs/logs"),
                        help="folder of the log file (default: $REVISUAL_LOG_DIR or outputs/logs)")
    parser.add_argument("--name", required=True, help="the stage's name: the log file's name and the lines' label")
    parser.add_argument("--verbose", action="store_true", default=os.environ.get("REVISUAL_VERBOSE") == "1",
                        help="echo every line of the stage's output (default: $REVISUAL_VERBOSE=1)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the stage's command line")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given after --")
    log_file = Path(args.log_dir).resolve() / f"{args.name}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    print(f"{PREFIX} {args.name}: full output -> {log_file}", flush=True)
    code = run_logged(command, log_file, {**os.environ, "PYTHONUNBUFFERED": "1"}, args.name, verbose=args.verbose)
    if code != 0:
        print(f"{PREFIX} error: {args.name} exited with {code}; {failure_report(log_file)}\n"
              f"{PREFIX} full output: {log_file}", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
