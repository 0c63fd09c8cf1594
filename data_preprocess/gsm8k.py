"""CLI: GSM8K (openai/gsm8k, main) -> verl RL parquet. See :mod:`data_preprocess.sources` for the layout read."""

from data_preprocess.cli import rl_converter_main


def main(argv=None):
    return rl_converter_main("gsm8k", argv)


if __name__ == "__main__":
    main()
