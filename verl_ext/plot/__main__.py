"""``python -m verl_ext.plot RUN_DIR [--out DIR]``: write one dashboard PNG per stage and print the paths."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from verl_ext.plot.dashboard import write_dashboards


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m verl_ext.plot", description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("run_dir", type=Path, help="a pipeline run folder, one stage's folder, or a metrics folder")
    parser.add_argument("--out", type=Path, default=None, help="where the PNGs go (default: <run>/dashboards)")
    args = parser.parse_args(argv)
    try:
        paths = write_dashboards(args.run_dir, args.out)
    except (FileNotFoundError, ValueError) as err:
        print(f"[plot] {err}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
