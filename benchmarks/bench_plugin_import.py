"""What installing revisual costs a process that imports verl: time, memory, modules, platform.

verl loads every ``verl.plugins`` entry point during ``import verl``, in the driver and in every Ray
worker, so the plugin's import cost is paid by plain verl jobs too. This runs fresh interpreters
side by side, interleaved, on the same machine:

* ``plain verl``: ``VERL_USE_EXTERNAL_PLUGINS=none`` (revisual installed but not loaded);
* ``verl + revisual``: ``VERL_USE_EXTERNAL_PLUGINS=auto`` (what every verl process does by default).

and reports the median wall time of ``import verl``, the peak RSS, the number of loaded modules, and
whether verl's platform singleton was already fixed when ``import verl`` returned (a hardware
plugin that registers later would then never be detected).

    python benchmarks/bench_plugin_import.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

PROBE = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import verl
elapsed = time.perf_counter() - t0
manager = sys.modules.get("verl.plugin.platform.platform_manager")
print(json.dumps({
    "seconds": elapsed,
    "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "modules": len(sys.modules),
    "platform_fixed": bool(manager is not None and manager._current_platform is not None),
    "revisual_loaded": "verl_ext.plugin" in sys.modules,
}))
"""

VARIANTS = {"plain verl": "none", "verl + revisual": "auto"}


def probe(policy: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("VERL_USE_EXTERNAL_MODULES", "VERL_PLATFORM")}
    env["VERL_USE_EXTERNAL_PLUGINS"] = policy
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    results: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    probe("none")  # warm the page cache so the first measured run is not an outlier
    for _ in range(args.runs):
        for name, policy in VARIANTS.items():
            results[name].append(probe(policy))
    print(f"workload: fresh `python -c 'import verl'`, {args.runs} interleaved runs each, medians")
    print("| variant | import verl | peak RSS | modules loaded | platform fixed at import | revisual loaded |")
    print("|---|---|---|---|---|---|")
    for name, rows in results.items():
        print(
            f"| {name} | {statistics.median(r['seconds'] for r in rows):.2f} s "
            f"| {statistics.median(r['max_rss_mb'] for r in rows):.0f} MB "
            f"| {statistics.median(r['modules'] for r in rows):.0f} "
            f"| {'yes' if any(r['platform_fixed'] for r in rows) else 'no'} "
            f"| {'yes' if all(r['revisual_loaded'] for r in rows) else 'no'} |"
        )


if __name__ == "__main__":
    main()
