"""Command line: ``python -m revisual_eval {generate,score,run,convert,fixtures,demo} ...``."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from revisual_eval.engines import SamplingSettings
from revisual_eval.judge_client import JudgeSettings
from revisual_eval.loaders import LoadOptions
from revisual_eval.paper import BENCHMARKS
from revisual_eval.prompts import SYSTEM_PROMPT

_DEFAULTS = SamplingSettings()


def _pairs(values: list[str] | None, flag: str, cast=str) -> dict:
    """``NAME=VALUE`` flags as a dict, checking the benchmark name."""
    result = {}
    for value in values or []:
        name, sep, rest = value.partition("=")
        if not sep or name not in BENCHMARKS:
            raise SystemExit(f"{flag} {value!r}: expected BENCHMARK=VALUE with BENCHMARK one of {', '.join(BENCHMARKS)}")
        result[name] = cast(rest)
    return result


def _benchmark_list(text: str) -> list[str]:
    if text == "all":
        return list(BENCHMARKS)
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"--benchmarks: unknown {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)} or 'all'")
    return names


def add_generate_flags(parser: argparse.ArgumentParser, *, out_required: bool = True) -> None:
    parser.add_argument("--model", required=True, help="HF model folder (or hub id vLLM can read locally)")
    parser.add_argument("--data-root", required=True, type=Path, help="folder holding one folder per benchmark")
    if out_required:
        parser.add_argument("--out", required=True, type=Path, help="run folder (created; reused to resume)")
    else:
        parser.add_argument("--out", type=Path, help="run folder (default outputs/eval/<model folder name>; reused to resume)")
    parser.add_argument("--benchmarks", default="all", help="comma list or 'all' (default)")
    parser.add_argument("--backend", default="auto", help="auto (vllm with a GPU, else hf), vllm, hf, echo, or package.module:Class")
    parser.add_argument("--temperature", type=float, default=_DEFAULTS.temperature)
    parser.add_argument("--top-p", type=float, default=_DEFAULTS.top_p)
    parser.add_argument("--top-k", type=int, default=_DEFAULTS.top_k)
    parser.add_argument("--max-tokens", type=int, default=_DEFAULTS.max_tokens)
    parser.add_argument("--min-pixels", type=int, default=_DEFAULTS.min_pixels)
    parser.add_argument("--max-pixels", type=int, default=_DEFAULTS.max_pixels)
    parser.add_argument("--samples", action="append", metavar="BENCH=K", help="samples per item (default: aime24/aime25 8, others 1)")
    parser.add_argument("--system-prompt", default=SYSTEM_PROMPT, help="instruction text ('' for none)")
    parser.add_argument("--prompt-placement", default="system", choices=["system", "user"], help="system message or appended to the user turn")
    parser.add_argument("--seed", type=int, default=0, help="base of the per-sample sampling seeds")
    parser.add_argument("--limit", type=int, help="only the first N problems of each benchmark")
    parser.add_argument("--split", action="append", metavar="BENCH=SPLIT", help="e.g. mathvision=testmini")
    parser.add_argument("--path", action="append", metavar="BENCH=DIR", help="a benchmark's folder outside the data root")
    parser.add_argument("--gpqa-seed", type=int, default=0, help="seed of GPQA's option shuffle")
    parser.add_argument("--mathvision-empty-choices", action="store_true", help="reproduce the paper code's empty Choices block")
    parser.add_argument("--data-parallel", type=int, default=1, help="engine copies: worker processes (or Ray actors with --ray)")
    parser.add_argument("--tensor-parallel", type=int, default=1, help="GPUs per engine copy (vllm)")
    parser.add_argument("--ray", action="store_true", help="place engine copies as Ray actors (joins RAY_ADDRESS)")
    parser.add_argument("--chunk-size", type=int, default=64, help="requests per engine call")
    parser.add_argument("--max-model-len", type=int, help="vllm max_model_len")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.9, help="vllm")
    parser.add_argument("--dtype", help="model dtype (default: bfloat16 for vllm, float32 for hf)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")


def add_judge_flags(parser: argparse.ArgumentParser) -> None:
    defaults = JudgeSettings.__dataclass_fields__
    group = parser.add_argument_group("LLM judge (optional): each benchmark's judged protocol beside the rules")
    group.add_argument("--judge", metavar="URL", help="OpenAI-compatible base URL, e.g. http://judge-node:8000/v1 (vllm serve)")
    group.add_argument("--judge-model", metavar="NAME", help="model name the endpoint serves (required with --judge)")
    group.add_argument("--judge-api-key", default=os.environ.get("REVISUAL_JUDGE_API_KEY", "EMPTY"), help="default $REVISUAL_JUDGE_API_KEY or EMPTY")
    group.add_argument("--judge-concurrency", type=int, default=defaults["concurrency"].default, help="calls in flight at once")
    group.add_argument("--judge-timeout", type=float, default=defaults["timeout_s"].default, help="seconds per call")
    group.add_argument("--judge-retries", type=int, default=defaults["retries"].default, help="retries after a failed call")
    group.add_argument("--judge-cache", type=Path, help="reply cache (default RUN_DIR/judge_cache.sqlite)")
    group.add_argument("--judge-max-failed", type=float, default=0.05, metavar="SHARE",
                       help="exit 1 when more than this share of judge requests failed (their rows fall back to rules); default 0.05")


def judge_settings(args) -> JudgeSettings | None:
    """The judge flags as settings, or None without ``--judge``."""
    if not args.judge:
        if args.judge_model:
            raise SystemExit("--judge-model needs --judge URL")
        return None
    if not args.judge_model:
        raise SystemExit("--judge needs --judge-model NAME (the model the endpoint serves)")
    if not 0.0 <= args.judge_max_failed <= 1.0:
        raise SystemExit(f"--judge-max-failed must be a share between 0 and 1, got {args.judge_max_failed}")
    try:
        return JudgeSettings(
            url=args.judge, model=args.judge_model, api_key=args.judge_api_key, concurrency=args.judge_concurrency,
            timeout_s=args.judge_timeout, retries=args.judge_retries, cache_path=args.judge_cache,
        )
    except ValueError as exc:
        raise SystemExit(f"--judge: {exc}") from None


def checked_judge(args) -> JudgeSettings | None:
    """The judge settings after one cheap request to the endpoint and model; a failure is a
    one-line ``error:`` and exit 2, before anything is generated or scored."""
    from revisual_eval.judge_client import JudgeCallError, check_judge

    settings = judge_settings(args)
    if settings is not None and not getattr(args, "judge_checked", False):
        try:
            check_judge(settings)
        except JudgeCallError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        args.judge_checked = True  # `run` checks before generating; its score step need not ask again
    return settings


def judge_failures(results: dict, max_share: float) -> str | None:
    """The error when more than ``max_share`` of the judge requests failed, else None."""
    judge = results.get("judge")
    if not judge or judge["failed_share"] <= max_share:
        return None
    return (f"judge: {judge['failed_requests']} of {judge['asked']} requests failed ({judge['failed_share']:.0%}), more than "
            f"--judge-max-failed {max_share:g}; their rows fell back to the rules (see results.md)")


def generate_config(args):
    """A :class:`GenerateConfig` from the parsed flags, with the backend resolved."""
    from revisual_eval.engines import resolve_backend
    from revisual_eval.generate import GenerateConfig

    backend = resolve_backend(args.backend)
    engine_options = {"dtype": args.dtype} if args.dtype else {}
    if backend == "vllm":
        engine_options["gpu_memory_utilization"] = args.gpu_memory_utilization
        if args.max_model_len:
            engine_options["max_model_len"] = args.max_model_len
    return GenerateConfig(
        model=args.model,
        data_root=args.data_root,
        out=args.out,
        benchmarks=_benchmark_list(args.benchmarks),
        backend=backend,
        sampling=SamplingSettings(args.temperature, args.top_p, args.top_k, args.max_tokens, args.min_pixels, args.max_pixels),
        samples=_pairs(args.samples, "--samples", int),
        system_prompt=args.system_prompt or None,
        placement=args.prompt_placement,
        seed=args.seed,
        limit=args.limit,
        load_options=LoadOptions(splits=_pairs(args.split, "--split"), gpqa_seed=args.gpqa_seed, mathvision_empty_choices=args.mathvision_empty_choices),
        paths=_pairs(args.path, "--path", Path),
        data_parallel=args.data_parallel,
        tensor_parallel=args.tensor_parallel,
        use_ray=args.ray,
        chunk_size=args.chunk_size,
        engine_options=engine_options,
    )


def usage_error(message: str) -> int:
    """A bad path, flag or resume: one ``error:`` line on stderr, exit status 2."""
    print(f"error: {message}", file=sys.stderr)
    return 2


_HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


def check_generate_paths(args) -> str | None:
    """What is wrong with ``--model`` and ``--data-root`` before any engine starts, or None. A model
    that is not a folder must look like a hub id (``org/name``) for the engine to fetch it."""
    if not Path(args.data_root).is_dir():
        return f"--data-root {args.data_root} does not exist"
    model = str(args.model)
    if args.backend in ("auto", "hf", "vllm") and not Path(model).exists():
        if model.startswith((".", "/", "~")) or not _HUB_ID.match(model):
            return f"--model {model}: no such folder (and not a hub id 'org/name')"
    return None


def run_generate(args) -> int:
    from revisual_eval.generate import generate
    from revisual_eval.runfiles import RunFolderBusy, generating_into

    problem = check_generate_paths(args)
    if problem:
        return usage_error(problem)
    cfg = generate_config(args)
    try:
        # Two generations appending to one --out wrote every row twice; the second is refused, naming the first.
        with generating_into(Path(cfg.out)):
            progress = generate(cfg, progress=not args.no_progress)
    except RunFolderBusy as exc:
        return usage_error(str(exc))
    failed = {name: state.error for name, state in progress.items() if state.error}
    for name, message in failed.items():
        print(f"error: {name}: {message}", file=sys.stderr)
    return 1 if failed else 0


def run_score(args) -> int:
    from revisual_eval.score import score_run

    if not Path(args.run).is_dir():
        return usage_error(f"run folder {args.run} does not exist (run generate first)")
    if args.data_root is not None and not Path(args.data_root).is_dir():
        return usage_error(f"--data-root {args.data_root} does not exist")
    judge = checked_judge(args)
    benchmarks = _benchmark_list(args.benchmarks) if args.benchmarks else None
    results = score_run(args.run, args.data_root, benchmarks, _pairs(args.path, "--path", Path), judge=judge, progress=not args.no_progress)
    print((Path(args.run) / "results.md").read_text())
    for name, message in results["errors"].items():
        print(f"error: {name}: {message}", file=sys.stderr)
    failures = judge_failures(results, args.judge_max_failed)
    if failures:
        print(f"error: {failures}", file=sys.stderr)
    return 1 if results["errors"] or failures else 0


def run_demo(args) -> int:
    """The CPU demo: tiny model + fixture benchmarks, both phases, in about a minute."""
    from revisual_eval.fixtures import write_fixture_data
    from verl_ext.devices import default_cache_dir
    from verl_ext.tiny_model import build_tiny_model

    cache = default_cache_dir()
    model = build_tiny_model(cache / "tiny-qwen25vl")
    data = write_fixture_data(cache / "eval_fixtures")
    argv = ["--model", str(model), "--data-root", str(data), "--out", str(args.out), "--backend", "hf",
            "--max-tokens", "24", "--min-pixels", "784", "--max-pixels", "12544", *args.extra]
    parser = argparse.ArgumentParser()
    add_generate_flags(parser)
    add_judge_flags(parser)
    gen_args = parser.parse_args(argv)
    status = run_generate(gen_args)
    return run_score(score_namespace(gen_args, run=args.out, data_root=data, benchmarks=None)) or status


def score_namespace(args, **values) -> argparse.Namespace:
    """Score's arguments after a generate whose parser also took the judge flags."""
    return argparse.Namespace(**{**vars(args), "path": None, **values})


def run_convert(args) -> int:
    from revisual_eval.convert import convert_lmms_eval
    from revisual_eval.errors import EvalDataError

    try:
        path = convert_lmms_eval(args.samples, args.benchmark, args.run, args.id_template, overwrite=args.overwrite,
                                 data_root=args.data_root, paths=_pairs(args.path, "--path", Path), results=args.results)
    except EvalDataError as exc:
        return usage_error(str(exc))
    print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m revisual_eval", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add_generate_flags(commands.add_parser("generate", help="phase 1: generate responses (resumable)"))
    score = commands.add_parser("score", help="phase 2: verdicts, metrics, results.json/.md")
    score.add_argument("--run", required=True, type=Path, help="run folder written by generate")
    score.add_argument("--data-root", type=Path, help="benchmark data (for gold answers and coverage)")
    score.add_argument("--benchmarks", help="comma list (default: every benchmark in the run)")
    score.add_argument("--path", action="append", metavar="BENCH=DIR")
    score.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    add_judge_flags(score)
    both = commands.add_parser("run", help="generate, then score (what recipes/revisual_eval.sh runs)")
    add_generate_flags(both, out_required=False)
    add_judge_flags(both)
    convert = commands.add_parser("convert", help="another tool's responses as a run file (then score with --data-root)")
    convert.add_argument("tool", choices=["lmms-eval"], help="lmms-eval or lm-evaluation-harness --log_samples output")
    convert.add_argument("--samples", required=True, type=Path, help="the tool's <date>_samples_<task>.jsonl")
    convert.add_argument("--benchmark", choices=BENCHMARKS, help="default: from the task config (<date>_results.json) or the task name")
    convert.add_argument("--run", required=True, type=Path, help="run folder to write <benchmark>.jsonl into")
    convert.add_argument("--data-root", type=Path, help="benchmark data: doc_id -> our id (lmms-eval >= 0.4 writes no doc); "
                         "without it the ids are doc_ids and the references lmms-eval's targets")
    convert.add_argument("--path", action="append", metavar="BENCH=DIR", help="a benchmark's folder outside the data root")
    convert.add_argument("--results", type=Path, help="the run's <date>_results.json (default: the one beside --samples)")
    convert.add_argument("--id-template", help="v0.3.5 files: our id from the doc's fields, e.g. '{pid}' (defaults for six benchmarks)")
    convert.add_argument("--overwrite", action="store_true", help="replace an existing run file")
    fixtures = commands.add_parser("fixtures", help="write tiny fixture copies of the eleven benchmarks")
    fixtures.add_argument("--out", required=True, type=Path)
    demo = commands.add_parser("demo", help="CPU demo: tiny model on the fixtures, both phases")
    demo.add_argument("--out", type=Path, default=Path("outputs/eval_cpu_demo"))
    demo.add_argument("extra", nargs=argparse.REMAINDER, help="more generate flags")
    args = parser.parse_args(argv)
    from revisual_eval.errors import EvalDataError

    try:
        return run_command(args)
    except EvalDataError as exc:  # a refused resume, an unreadable run folder: the message says it all
        return usage_error(str(exc))


def run_command(args) -> int:
    if args.command == "generate":
        return run_generate(args)
    if args.command == "score":
        return run_score(args)
    if args.command == "run":
        checked_judge(args)  # refuse a bad or unreachable judge before generating for hours
        if args.out is None:
            args.out = Path("outputs") / "eval" / Path(args.model.rstrip("/")).name
        status = run_generate(args)
        scored = None if args.benchmarks == "all" else args.benchmarks
        return run_score(score_namespace(args, run=args.out, data_root=args.data_root, benchmarks=scored, path=args.path)) or status
    if args.command == "convert":
        return run_convert(args)
    if args.command == "fixtures":
        from revisual_eval.fixtures import write_fixture_data

        print(write_fixture_data(args.out))
        return 0
    return run_demo(args)


if __name__ == "__main__":
    sys.exit(main())
