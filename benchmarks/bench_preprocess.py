"""Throughput and peak memory of the streaming converters vs a naive pandas baseline.

Run from the repository root::

    python benchmarks/bench_preprocess.py [--sizes 10000 200000] [--workloads textrl grammar_sft]

For each workload and row count it writes a fixture file, then converts it twice, each time in a
fresh interpreter so the peak RSS of one run cannot hide inside another's:

- ``streaming``: ``data_preprocess`` (record batches, per-row validation, dedup, seeded split);
- ``pandas``: the obvious approach: load the whole file into a DataFrame, build the same rows
  with the same row builders, ``drop_duplicates``, write with ``DataFrame.to_parquet``.

Reported: rows/s over the whole conversion, peak RSS, and peak RSS minus RSS after imports
(``growth``), which is what should stay flat as the row count grows.
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)


def _rss_mib() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _question(rng: random.Random, index: int) -> str:
    a, b = rng.randint(0, 10**6), rng.randint(0, 10**6)
    filler = " ".join(rng.choice(["Let", "x", "be", "the", "sum", "of", "two", "numbers", "such", "that"])
                      for _ in range(rng.randint(10, 40)))
    return f"Problem {index}: {filler}. Compute {a} + {b}."


def write_fixture(workload: str, rows: int, folder: str) -> str:
    """textrl: parquet with problem/answer (1% duplicates); grammar_sft: a JSON array of ShareGPT rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(rows)
    if workload == "textrl":
        path = os.path.join(folder, f"textrl_{rows}.parquet")
        writer = None
        for start in range(0, rows, 10_000):
            chunk = []
            for index in range(start, min(rows, start + 10_000)):
                source = index - 1 if index % 100 == 99 else index
                chunk.append({"problem": _question(random.Random(source), source), "answer": str(source)})
            table = pa.Table.from_pylist(chunk)
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
        writer.close()
        return path
    path = os.path.join(folder, f"sft_{rows}.json")
    with open(path, "w") as handle:
        handle.write("[\n")
        for index in range(rows):
            row = {"conversations": [
                {"from": "human", "value": _question(rng, index)},
                {"from": "gpt", "value": f"<think>\nAdd the two numbers carefully. {index}\n</think>\n\\boxed{{{index}}}"},
            ]}
            handle.write(("," if index else "") + json.dumps(row) + "\n")
        handle.write("]\n")
    return path


def run_streaming(workload: str, path: str, out: str) -> int:
    from data_preprocess.pipeline import ConvertOptions, run_conversion
    from data_preprocess.rl_builder import RLRowBuilder
    from data_preprocess.sft_builder import SFTRowBuilder
    from data_preprocess.sources import get_rl_source

    options = ConvertOptions(inputs=[path], output=out, val_fraction=0.05, seed=0, progress=False)
    builder = RLRowBuilder(get_rl_source("textrl"), options) if workload == "textrl" else SFTRowBuilder(options)
    return run_conversion(builder, options).rows_read


def run_pandas(workload: str, path: str, out: str) -> int:
    import pandas as pd

    from data_preprocess.dedup import assign_split, normalize_text, row_hashes
    from data_preprocess.schema import make_rl_record, make_sft_record, sft_schema, rl_schema
    from data_preprocess.sft_families import sharegpt_messages

    frame = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_json(path)
    if workload == "textrl":
        frame = frame[frame["problem"].str.strip().astype(bool) & frame["answer"].notna()]
        frame["key"] = frame["problem"].map(normalize_text)
        frame = frame.drop_duplicates("key")
        frame["split"] = [assign_split(row_hashes(k.encode(), 0)[1], 0.05) for k in frame["key"]]
        schema = rl_schema(with_images=False)
        records = [
            make_rl_record(data_source="csfufu/textrl", question=q.strip(), answer=str(a).strip(), index=i, split=s)
            for i, (q, a, s) in enumerate(zip(frame["problem"], frame["answer"], frame["split"]))
        ]
    else:
        frame["messages"] = [sharegpt_messages({"conversations": c}) for c in frame["conversations"]]
        frame["key"] = frame["messages"].map(lambda ms: "\x00".join(normalize_text(m["content"]) for m in ms))
        frame = frame.drop_duplicates("key")
        frame["split"] = [assign_split(row_hashes(k.encode(), 0)[1], 0.05) for k in frame["key"]]
        schema = sft_schema()
        records = [
            make_sft_record(data_source="csfufu/Grammer_dataset", messages=m, index=i, split=s)
            for i, (m, s) in enumerate(zip(frame["messages"], frame["split"]))
        ]
    result = pd.DataFrame(records)
    for split in ("train", "val"):
        part = result[result["extra_info"].map(lambda e: e["split"]) == split]
        target = out if split == "train" else out.replace(".parquet", "_val.parquet")
        part.to_parquet(target, schema=schema, index=False)
    return len(frame)


def run_case(impl: str, workload: str, path: str) -> dict:
    """One measured conversion in this (fresh) process."""
    import pandas  # noqa: F401  (import cost is excluded from "growth" for both sides)
    import pyarrow.parquet  # noqa: F401

    import data_preprocess.pipeline  # noqa: F401
    import data_preprocess.schema as schema
    from data_preprocess.readers import prefer_system_memory_pool

    prefer_system_memory_pool()  # what the converter CLIs do; applied to both sides

    schema.rl_schema(False), schema.sft_schema()
    rss_after_imports = _rss_mib()
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "out.parquet")
        started = time.perf_counter()
        rows = (run_streaming if impl == "streaming" else run_pandas)(workload, path, out)
        elapsed = time.perf_counter() - started
    peak = _peak_rss_mib()
    return {"impl": impl, "workload": workload, "rows": rows, "seconds": elapsed, "rows_per_s": rows / elapsed,
            "peak_rss_mib": peak, "growth_mib": peak - rss_after_imports}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 200_000])
    parser.add_argument("--workloads", nargs="+", default=["textrl", "grammar_sft"], choices=["textrl", "grammar_sft"])
    parser.add_argument("--impls", nargs="+", default=["streaming", "pandas"], choices=["streaming", "pandas"])
    parser.add_argument("--case", nargs=3, metavar=("IMPL", "WORKLOAD", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(*args.case)))
        return

    results = []
    with tempfile.TemporaryDirectory() as folder:
        for workload in args.workloads:
            for size in args.sizes:
                path = write_fixture(workload, size, folder)
                for impl in args.impls:
                    done = subprocess.run([sys.executable, __file__, "--case", impl, workload, path],
                                          capture_output=True, text=True, check=True)
                    results.append(json.loads(done.stdout.strip().splitlines()[-1]))
                    print(f"done {workload} {size} {impl}", file=sys.stderr)
                os.remove(path)

    header = f"{'workload':<12} {'rows':>8} {'impl':<10} {'rows/s':>9} {'peak RSS MiB':>13} {'growth MiB':>11}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r['workload']:<12} {r['rows']:>8} {r['impl']:<10} {r['rows_per_s']:>9.0f} "
              f"{r['peak_rss_mib']:>13.1f} {r['growth_mib']:>11.1f}")


if __name__ == "__main__":
    main()
