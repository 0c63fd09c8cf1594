"""CLI: ReVisual-R1 text RL data -> verl RL parquet. See :mod:`data_preprocess.sources` for the layout read."""

from data_preprocess.cli import rl_converter_main


def main(argv=None):
    return rl_converter_main("textrl", argv)


if __name__ == "__main__":
    main()
