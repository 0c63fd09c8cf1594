"""CLI: cold-start SFT data (GRAMMAR JSON, or any OpenAI / ShareGPT / Alpaca file) -> verl SFT parquet."""

from data_preprocess.cli import run_cli
from data_preprocess.sft_builder import SFTRowBuilder


def main(argv=None):
    return run_cli(
        "grammar_sft",
        "Cold-start SFT data -> verl multi-turn SFT parquet (think format kept)",
        SFTRowBuilder,
        argv,
        sft=True,
    )


if __name__ == "__main__":
    main()
