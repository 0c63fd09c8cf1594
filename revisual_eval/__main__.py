"""Command line: ``python -m revisual_eval {generate,score,run,fixtures,demo} ...``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from revisual_eval.loaders import LoadOptions
from revisual_eval.engines import SamplingSettings
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


def add_generate_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="HF model folder (or hub id vLLM can read locally)")
    parser.add_argument("--data-root", required=True, type=Path, help="folder holding one folder per benchmark")
    parser.add_argument("--out", required=True, type=Path, help="run folder (created; reused to resume)")
    parser.add_argument("--benchmarks", default="all", help="comma list or 'all' (default)")
    parser.add_argument("--backend", default="auto", choices=["auto", "vllm", "hf", "echo"], help="auto: vllm with a GPU, else hf")
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


def run_generate(args) -> int:
    from revisual_eval.generate import generate

    progress = generate(generate_config(args))
    failed = {name: state.error for name, state in progress.items() if state.error}
    for name, message in failed.items():
        print(f"error: {name}: {message}", file=sys.stderr)
    return 1 if failed else 0


def run_score(args) -> int:
    from revisual_eval.score import score_run

    if not Path(args.run).is_dir():
        print(f"error: run folder {args.run} does not exist (run generate first)", file=sys.stderr)
        return 1
    results = score_run(args.run, args.data_root, _benchmark_list(args.benchmarks) if args.benchmarks else None, _pairs(args.path, "--path", Path))
    print((Path(args.run) / "results.md").read_text())
    for name, message in results["errors"].items():
        print(f"error: {name}: {message}", file=sys.stderr)
    return 1 if results["errors"] else 0


def run_demo(args) -> int:
    """The CPU demo: tiny model + fixture benchmarks, both phases, in about a minute."""
    from revisual_eval.fixtures import write_fixture_data
    from verl_ext.tiny_model import build_tiny_model

    cache = Path(os.environ.get("REVISUAL_CACHE", Path(__file__).resolve().parents[2] / ".cache" / "revisual"))
    model = build_tiny_model(cache / "tiny-qwen25vl")
    data = write_fixture_data(cache / "eval_fixtures")
    argv = ["--model", str(model), "--data-root", str(data), "--out", str(args.out), "--backend", "hf",
            "--max-tokens", "24", "--min-pixels", "784", "--max-pixels", "12544", *args.extra]
    parser = argparse.ArgumentParser()
    add_generate_flags(parser)
    gen_args = parser.parse_args(argv)
    status = run_generate(gen_args)
    score_status = run_score(argparse.Namespace(run=args.out, data_root=data, benchmarks=None, path=None))
    return status or score_status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m revisual_eval", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add_generate_flags(commands.add_parser("generate", help="phase 1: generate responses (resumable)"))
    score = commands.add_parser("score", help="phase 2: verdicts, metrics, results.json/.md")
    score.add_argument("--run", required=True, type=Path, help="run folder written by generate")
    score.add_argument("--data-root", type=Path, help="benchmark data (for gold answers and coverage)")
    score.add_argument("--benchmarks", help="comma list (default: every benchmark in the run)")
    score.add_argument("--path", action="append", metavar="BENCH=DIR")
    both = commands.add_parser("run", help="generate, then score")
    add_generate_flags(both)
    fixtures = commands.add_parser("fixtures", help="write tiny fixture copies of the ten benchmarks")
    fixtures.add_argument("--out", required=True, type=Path)
    demo = commands.add_parser("demo", help="CPU demo: tiny model on the fixtures, both phases")
    demo.add_argument("--out", type=Path, default=Path("outputs/eval_cpu_demo"))
    demo.add_argument("extra", nargs=argparse.REMAINDER, help="more generate flags")
    args = parser.parse_args(argv)

    if args.command == "generate":
        return run_generate(args)
    if args.command == "score":
        return run_score(args)
    if args.command == "run":
        status = run_generate(args)
        score_args = argparse.Namespace(run=args.out, data_root=args.data_root, benchmarks=None, path=args.path)
        return run_score(score_args) or status
    if args.command == "fixtures":
        from revisual_eval.fixtures import write_fixture_data

        print(write_fixture_data(args.out))
        return 0
    return run_demo(args)


if __name__ == "__main__":
    sys.exit(main())
