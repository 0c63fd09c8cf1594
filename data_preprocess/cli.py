"""The command line shared by every converter.

``python -m data_preprocess.<name> --input PATH [PATH ...] [--image-root DIR] --output OUT.parquet
[--val-fraction F --seed S] [--strict] [--report REPORT.json] [--max-pixels N] [--max-answer-chars N]
[--tokenizer DIR --max-prompt-tokens N] [--data-source NAME] [--split NAME] [--no-progress]``

Exit status 0 when at least one row was kept; 2 with ``error: ...`` (naming the file) for bad
input, an output or report that cannot be written, or a run that kept no row.
"""

import argparse
import sys

from data_preprocess.pipeline import ConvertOptions, run_conversion
from data_preprocess.readers import InputError, prefer_system_memory_pool
from data_preprocess.sft_families import SchemaFamilyError
from data_preprocess.validation import DEFAULT_MAX_ANSWER_CHARS, DEFAULT_MAX_PIXELS, REASONS, BadRowError
from data_preprocess.writer import OutputError

EXIT_BAD_INPUT = 2


def build_parser(name: str, description: str, sft: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m data_preprocess.{name}",
        description=description,
        epilog="Drop reasons in the report: " + "; ".join(f"{k}: {v}" for k, v in REASONS.items()),
    )
    parser.add_argument("--input", nargs="+", required=True,
                        help="json / jsonl / parquet / .arrow files, folders of them, or a datasets.save_to_disk folder")
    parser.add_argument("--output", required=True, help="train parquet to write")
    parser.add_argument("--val-output", default=None, help="val parquet (default: <output stem>_val.parquet)")
    parser.add_argument("--val-fraction", type=float, default=0.0, help="share of rows sent to val (seeded hash)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/val split")
    parser.add_argument("--strict", action="store_true", help="stop at the first bad row")
    parser.add_argument("--report", default=None, help="write the validation report (JSON) here")
    parser.add_argument("--image-root", default=None, help="folder that relative image paths are resolved against")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="drop images with more pixels")
    parser.add_argument("--max-answer-chars", type=int, default=DEFAULT_MAX_ANSWER_CHARS,
                        help="drop RL rows whose ground truth is longer (0: no limit)")
    parser.add_argument("--tokenizer", default=None, help="local tokenizer folder for --max-prompt-tokens")
    parser.add_argument("--max-prompt-tokens", type=int, default=None,
                        help="drop rows whose prompt is longer (SFT: whole conversation)")
    parser.add_argument("--data-source", default=None, help="override the data_source written on every row")
    parser.add_argument("--split", default="train", help="split to read from a saved DatasetDict folder")
    parser.add_argument("--batch-size", type=int, default=1024, help="rows per parquet record batch")
    parser.add_argument("--no-progress", action="store_true", help="hide the tqdm progress bar")
    if sft:
        parser.add_argument("--append-instruction", action="store_true",
                            help="append the ReVisual RL instruction to the first user turn")
    return parser


def options_from_args(args: argparse.Namespace) -> ConvertOptions:
    return ConvertOptions(
        inputs=args.input,
        output=args.output,
        val_output=args.val_output,
        val_fraction=args.val_fraction,
        seed=args.seed,
        strict=args.strict,
        report=args.report,
        image_root=args.image_root,
        max_pixels=args.max_pixels,
        max_answer_chars=args.max_answer_chars or None,
        max_prompt_tokens=args.max_prompt_tokens,
        tokenizer=args.tokenizer,
        data_source=args.data_source,
        split=args.split,
        batch_size=args.batch_size,
        progress=not args.no_progress,
        append_instruction=getattr(args, "append_instruction", False),
    )


def run_cli(name: str, description: str, make_builder, argv=None, sft: bool = False):
    """Parse ``argv``, run the conversion, print the summary; exit 2 with a clear message on bad input."""
    args = build_parser(name, description, sft).parse_args(argv)
    options = options_from_args(args)
    prefer_system_memory_pool()
    try:
        report = run_conversion(make_builder(options), options)
    except (BadRowError, SchemaFamilyError, InputError, OutputError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
    except OSError as error:  # e.g. a --tokenizer folder that cannot be read
        where = f"{error.filename}: " if error.filename else ""
        print(f"error: {where}{error.strerror or error}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
    print(report.summary(), file=sys.stderr)
    return report


def rl_converter_main(source_name: str, argv=None):
    """Entry point of an RL converter registered in :mod:`data_preprocess.sources`."""
    from data_preprocess.rl_builder import RLRowBuilder
    from data_preprocess.sources import get_rl_source

    spec = get_rl_source(source_name)
    return run_cli(source_name, f"{spec.description} -> verl RL parquet", lambda o: RLRowBuilder(spec, o), argv)
