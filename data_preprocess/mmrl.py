"""CLI: ReVisual-R1 multimodal RL data (EasyR1 style) -> verl RL parquet. See :mod:`data_preprocess.sources` for the layout read."""

from data_preprocess.cli import rl_converter_main


def main(argv=None):
    return rl_converter_main("mmrl", argv)


if __name__ == "__main__":
    main()
