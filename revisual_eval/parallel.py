"""Running an engine over many requests: in this process, one worker process per GPU group
(data parallel on one node), or one Ray actor per GPU group (several nodes).

All three hand results back to the caller's ``on_result(request, response)`` in this process, so
only one process ever writes the run files.
"""

from __future__ import annotations

import contextlib
import os
import traceback
from pathlib import Path
from typing import Callable, Iterable

from revisual_eval.engines import EngineSpec, GenerationRequest

OnResult = Callable[[GenerationRequest, str], None]


def chunked(requests: list[GenerationRequest], size: int) -> list[list[GenerationRequest]]:
    """Consecutive chunks of at most ``size`` requests (the unit of work and of lost progress)."""
    size = max(1, int(size))
    return [requests[i : i + size] for i in range(0, len(requests), size)]


def run_in_process(spec: EngineSpec, requests: list[GenerationRequest], on_result: OnResult, chunk_size: int = 64, engine=None) -> None:
    """Build the engine here and generate chunk by chunk."""
    if not requests:
        return
    engine = engine or spec.build()
    for chunk in chunked(requests, chunk_size):
        for request, response in zip(chunk, engine.generate(chunk)):
            on_result(request, response)


def _worker_main(spec: EngineSpec, visible_devices: str | None, tasks, results) -> None:
    # Own process group: the parent can then stop this worker together with whatever the engine
    # started (vLLM's engine core), and a Ctrl-C in the terminal reaches only the parent, which
    # cleans up in order.
    if hasattr(os, "setpgid"):
        os.setpgid(0, 0)
    if visible_devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = visible_devices
    try:
        engine = spec.build()
        results.put(("ready", None, None))
        while True:
            chunk = tasks.get()
            if chunk is None:
                return
            results.put(("ok", chunk, engine.generate(chunk)))
    except BaseException:  # noqa: BLE001 - the parent must hear about any failure
        results.put(("error", None, traceback.format_exc()))


def _next_result(results, workers):
    """The next worker result; raises instead of waiting forever once a worker has died."""
    import queue

    while True:
        try:
            return results.get(timeout=5)
        except queue.Empty:
            dead = [w for w in workers if w.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"generation worker {dead[0].name} died (exit code {dead[0].exitcode})") from None
            if not any(worker.is_alive() for worker in workers):
                raise RuntimeError("every generation worker exited before finishing its work") from None


def _raise_on_error(result):
    if result[0] == "error":
        raise RuntimeError(f"a generation worker failed:\n{result[2]}")
    return result


def _signal_group(worker, sig) -> None:
    """Send ``sig`` to a worker's process group (the worker and every process it started)."""
    if worker.pid is None:
        return
    try:
        os.killpg(worker.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # already gone (or its group was never set up: it died on start)


def stop_workers(workers, tasks, *, graceful: bool, grace_s: float = 30.0) -> None:
    """End the worker processes and everything they started.

    ``graceful``: ask each to finish (a ``None`` task) and wait up to ``grace_s``; otherwise (an
    error or an interrupt in the parent) terminate at once. Whatever is still alive then gets
    SIGTERM for its whole process group, then SIGKILL.
    """
    import signal

    if graceful:
        for _ in workers:
            tasks.put(None)
        for worker in workers:
            worker.join(timeout=grace_s)
    else:
        # Chunks the workers never took must not keep this process waiting on the pipe at exit.
        tasks.cancel_join_thread()
    for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        for worker in workers:
            # Also signal the groups of workers that already exited: their children may live on.
            _signal_group(worker, sig)
            if worker.is_alive():  # stopped before it made its own group
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, sig)
        for worker in workers:
            worker.join(timeout=wait_s)
    # A signal is delivered asynchronously: return only once every group has really gone, so the
    # caller (and an engine that holds a GPU) never races a process that is still exiting.
    for worker in workers:
        _wait_group_gone(worker, timeout_s=5.0)


def _wait_group_gone(worker, timeout_s: float) -> None:
    """Wait until no process but zombies is left in a worker's process group (or ``timeout_s`` passes)."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        members = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if int(fields[2]) == worker.pid and fields[0] != "Z":
                members.append(stat)
        if not members:
            return
        time.sleep(0.05)


def device_groups(num_workers: int, devices_per_worker: int, visible: str | None = None) -> list[str | None]:
    """``CUDA_VISIBLE_DEVICES`` for each worker: consecutive groups of the visible GPUs."""
    visible = visible if visible is not None else os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        try:
            import torch

            ids = [str(i) for i in range(torch.cuda.device_count())]
        except Exception:  # noqa: BLE001
            ids = []
    else:
        ids = [d for d in visible.split(",") if d.strip()]
    if not ids:
        return [None] * num_workers
    if num_workers * devices_per_worker > len(ids):
        raise ValueError(f"{num_workers} workers x {devices_per_worker} GPUs need more than the {len(ids)} visible GPUs")
    return [",".join(ids[i * devices_per_worker : (i + 1) * devices_per_worker]) for i in range(num_workers)]


def run_worker_processes(
    spec: EngineSpec,
    requests: list[GenerationRequest],
    on_result: OnResult,
    num_workers: int,
    devices_per_worker: int = 1,
    chunk_size: int = 64,
    visible_devices: Iterable[str | None] | None = None,
) -> None:
    """Data parallel on one node: each worker process owns a GPU group and its own engine."""
    import multiprocessing as mp

    chunks = chunked(requests, chunk_size)
    if not chunks:
        return
    context = mp.get_context("spawn")
    tasks, results = context.Queue(), context.Queue()
    groups = list(visible_devices) if visible_devices is not None else device_groups(num_workers, devices_per_worker)
    # Not daemons: a daemon process may not start children, and vLLM's engine starts one. The
    # clean-up below replaces what daemon=True would have done on exit.
    workers = [context.Process(target=_worker_main, args=(spec, group, tasks, results), name=f"generate-{i}") for i, group in enumerate(groups)]
    # Workers that share a device group (one GPU named twice, or the CPU) build their engines one after the other:
    # vLLM sizes its cache from the memory it finds free while it starts, and two engines starting at
    # once both count the same free memory.
    one_by_one = len(set(groups)) < len(groups)
    finished = False
    try:
        for worker in workers:
            worker.start()
            if one_by_one:
                _raise_on_error(_next_result(results, [worker]))
        for chunk in chunks:
            tasks.put(chunk)
        done = 0
        while done < len(chunks):
            status, chunk, payload = _raise_on_error(_next_result(results, workers))
            if status == "ready":
                continue
            for request, response in zip(chunk, payload):
                on_result(request, response)
            done += 1
        finished = True
    finally:
        stop_workers([w for w in workers if w.pid is not None], tasks, graceful=finished)


class _EngineActor:
    def __init__(self, spec: EngineSpec):
        self.engine = spec.build()

    def generate(self, chunk):
        return self.engine.generate(chunk)


def run_ray_actors(
    spec: EngineSpec,
    requests: list[GenerationRequest],
    on_result: OnResult,
    num_actors: int | None = None,
    gpus_per_actor: int = 1,
    chunk_size: int = 64,
) -> None:
    """Data parallel over a Ray cluster (``RAY_ADDRESS`` or a local one): one actor per GPU group,
    each fed a new chunk as soon as it returns the last."""
    import ray

    chunks = chunked(requests, chunk_size)
    if not chunks:
        return
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS"))
    if num_actors is None:
        num_actors = max(1, int(ray.cluster_resources().get("GPU", 0) // max(gpus_per_actor, 1)))
    actor_cls = ray.remote(num_gpus=gpus_per_actor)(_EngineActor)
    actors = [actor_cls.remote(spec) for _ in range(min(num_actors, len(chunks)))]
    pending_chunks = list(reversed(chunks))
    in_flight = {}
    for actor in actors:
        chunk = pending_chunks.pop()
        in_flight[actor.generate.remote(chunk)] = (actor, chunk)
    while in_flight:
        done, _ = ray.wait(list(in_flight), num_returns=1)
        actor, chunk = in_flight.pop(done[0])
        for request, response in zip(chunk, ray.get(done[0])):
            on_result(request, response)
        if pending_chunks:
            next_chunk = pending_chunks.pop()
            in_flight[actor.generate.remote(next_chunk)] = (actor, next_chunk)
