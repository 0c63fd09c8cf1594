"""CLI: DeepMath-103K (zwhe99/DeepMath-103K) -> verl RL parquet. See :mod:`data_preprocess.sources` for the layout read."""

from data_preprocess.cli import rl_converter_main


def main(argv=None):
    return rl_converter_main("deepmath", argv)


if __name__ == "__main__":
    main()
