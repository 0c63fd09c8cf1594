"""Phase 1: generate responses for every (item, sample) of the chosen benchmarks, resumably.

Rows already in ``RUN_DIR/<benchmark>.jsonl`` are skipped, so rerunning the same command after an
interruption generates only what is missing. A benchmark whose files are missing or malformed is
reported and left out; the others still run.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from revisual_eval.loaders import LOADERS, LoadOptions, limit_items
from revisual_eval.engines import EngineSpec, GenerationRequest, SamplingSettings, request_seed, resolve_backend
from revisual_eval.errors import EvalDataError
from revisual_eval.items import EvalItem
from revisual_eval.layouts import benchmark_dir
from revisual_eval.paper import BENCHMARKS, DEFAULT_SAMPLES
from revisual_eval.parallel import run_in_process, run_ray_actors, run_worker_processes
from revisual_eval.progress import progress_bar
from revisual_eval.prompts import SYSTEM_PROMPT, build_messages
from revisual_eval.runfiles import RowWriter, read_run_rows, run_file

RUN_CONFIG = "run_config.json"
# Settings that change what a sample is; a resume must not mix two of them in one file.
_IDENTITY_KEYS = ("model", "sampling", "system_prompt", "placement", "seed", "load_options")


@dataclass
class GenerateConfig:
    """Everything the generate phase needs (the CLI flags of ``python -m revisual_eval generate``)."""

    model: str
    data_root: Path
    out: Path
    benchmarks: list[str] = field(default_factory=lambda: list(BENCHMARKS))
    backend: str = "auto"
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    samples: dict[str, int] = field(default_factory=dict)
    system_prompt: str | None = SYSTEM_PROMPT
    placement: str = "system"
    seed: int = 0
    limit: int | None = None
    load_options: LoadOptions = field(default_factory=LoadOptions)
    paths: dict[str, Path] = field(default_factory=dict)
    data_parallel: int = 1
    tensor_parallel: int = 1
    use_ray: bool = False
    chunk_size: int = 64
    engine_options: dict = field(default_factory=dict)

    def samples_for(self, benchmark: str) -> int:
        return int(self.samples.get(benchmark, DEFAULT_SAMPLES.get(benchmark, 1)))


@dataclass
class BenchmarkProgress:
    """Per benchmark: items loaded, rows found from before, rows generated now, or the error."""

    items: int = 0
    existing: int = 0
    generated: int = 0
    error: str | None = None


def identity(cfg: GenerateConfig) -> dict:
    """The settings recorded in ``run_config.json`` and checked on resume."""
    return {
        "model": cfg.model,
        "sampling": asdict(cfg.sampling),
        "system_prompt": cfg.system_prompt,
        "placement": cfg.placement,
        "seed": cfg.seed,
        "load_options": asdict(cfg.load_options),
    }


def record_run_config(cfg: GenerateConfig) -> dict:
    """Write ``run_config.json``, or check a resumed run was generated with the same settings."""
    path = Path(cfg.out) / RUN_CONFIG
    current = identity(cfg)
    if path.exists():
        previous = json.loads(path.read_text())
        changed = [key for key in _IDENTITY_KEYS if previous.get(key) != current[key]]
        if changed:
            raise EvalDataError(
                path, f"this run was generated with other settings ({', '.join(changed)}); use a new --out folder", field=changed[0]
            )
        samples = {**previous.get("samples", {}), **{b: cfg.samples_for(b) for b in cfg.benchmarks}}
    else:
        samples = {b: cfg.samples_for(b) for b in cfg.benchmarks}
    record = {**current, "samples": samples, "backend": cfg.backend, "limit": cfg.limit}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2))
    return record


def load_benchmark(cfg: GenerateConfig, benchmark: str) -> list[EvalItem]:
    """The items of one benchmark, limited to ``cfg.limit`` problems."""
    if benchmark not in LOADERS:
        raise EvalDataError(None, f"unknown benchmark {benchmark!r}; choose from {', '.join(BENCHMARKS)}")
    folder = benchmark_dir(Path(cfg.data_root), benchmark, cfg.paths)
    return limit_items(LOADERS[benchmark](folder, cfg.load_options), cfg.limit)


def pending_requests(cfg: GenerateConfig, items: list[EvalItem], done: set[tuple[str, int]]) -> list[GenerationRequest]:
    """Requests for every (item, sample) not already in the run file."""
    requests = []
    for item in items:
        messages = build_messages(item.prompt, len(item.images), system_prompt=cfg.system_prompt, placement=cfg.placement)
        for sample in range(cfg.samples_for(item.benchmark)):
            if (item.id, sample) in done:
                continue
            seed = request_seed(cfg.seed, item.benchmark, item.id, sample)
            requests.append(GenerationRequest((item.benchmark, item.id, sample), messages, item.images, seed))
    return requests


def dispatch(cfg: GenerateConfig, backend: str, requests: list[GenerationRequest], on_result) -> None:
    """Run the requests on the chosen backend and parallel layout."""
    options = dict(cfg.engine_options)
    if backend == "vllm":
        options.setdefault("tensor_parallel_size", cfg.tensor_parallel)
    spec = EngineSpec(backend, cfg.model, cfg.sampling, options)
    if cfg.use_ray:
        run_ray_actors(spec, requests, on_result, num_actors=None if cfg.data_parallel <= 1 else cfg.data_parallel, gpus_per_actor=cfg.tensor_parallel, chunk_size=cfg.chunk_size)
    elif cfg.data_parallel > 1:
        run_worker_processes(spec, requests, on_result, cfg.data_parallel, cfg.tensor_parallel, cfg.chunk_size)
    else:
        run_in_process(spec, requests, on_result, cfg.chunk_size)


def generate(cfg: GenerateConfig, log=None, progress: bool = True) -> dict[str, BenchmarkProgress]:
    """Generate what is missing for every benchmark; returns the progress (and errors) of each.

    ``progress``: one bar per benchmark (rows done of items x samples, with an ETA) on stderr.
    """
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    out = Path(cfg.out)
    record_run_config(cfg)
    states: dict[str, BenchmarkProgress] = {}
    items_by_key: dict[tuple[str, str], EvalItem] = {}
    requests: list[GenerationRequest] = []
    for benchmark in cfg.benchmarks:
        state = states[benchmark] = BenchmarkProgress()
        try:
            items = load_benchmark(cfg, benchmark)
            existing = read_run_rows(run_file(out, benchmark), repair=True)
        except EvalDataError as exc:
            state.error = str(exc)
            log(f"[{benchmark}] skipped: {exc}")
            continue
        state.items, state.existing = len(items), len(existing)
        items_by_key.update({(benchmark, item.id): item for item in items})
        todo = pending_requests(cfg, items, {(row["id"], row["sample"]) for row in existing})
        log(f"[{benchmark}] {len(items)} items x {cfg.samples_for(benchmark)} samples: {len(existing)} rows found, {len(todo)} to generate")
        requests.extend(todo)
    if not requests:
        return states

    backend = resolve_backend(cfg.backend)
    log(f"generating {len(requests)} samples with backend {backend}")
    writers: dict[str, RowWriter] = {}
    pending = Counter(request.key[0] for request in requests)
    names = [name for name in states if pending[name]]
    bars = {
        name: progress_bar(states[name].existing + pending[name], name, initial=states[name].existing, enabled=progress, position=i)
        for i, name in enumerate(names)
    }

    def write(request: GenerationRequest, response: str) -> None:
        benchmark, item_id, sample = request.key
        item = items_by_key[(benchmark, item_id)]
        if benchmark not in writers:
            writers[benchmark] = RowWriter(run_file(out, benchmark))
        writers[benchmark].write(
            {
                "benchmark": benchmark,
                "id": item_id,
                "sample": sample,
                "prompt": item.prompt,
                "response": response,
                "reference": item.reference,
                "seed": request.seed,
            }
        )
        states[benchmark].generated += 1
        bars[benchmark].update(1)

    try:
        dispatch(cfg, backend, requests, write)
    finally:
        for writer in writers.values():
            writer.close()
        for bar in bars.values():
            bar.close()
    return states
