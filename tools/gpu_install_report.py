"""Read the pip reports of a dry-run GPU install and check the resolved stack against verl's own pins.

    python tools/gpu_install_report.py REPORT_DIR

REPORT_DIR is what ``DRY_RUN=REPORT_DIR EXTRAS=gpu bash tools/install.sh`` wrote: ``step1.json``
(torch), ``flash-attn-versions.txt`` (the index's flash-attn versions), ``step3.json`` (the project,
vLLM and the rest). Checks, each printed with ok/FAIL:

* step 3 resolves the same torch, torchvision and torchaudio as step 1 (nothing moves them);
* every exact pin of verl 0.9.1's ``vllm`` and ``flash-attn-*`` extras, of vLLM's own torch
  requirements and of revisual's ``gpu`` extra, as read from those packages' metadata in the
  report, is the resolved version;
* the pinned flash-attn version is on the index.

Prints a Markdown table of the stack. Exit status 1 if a check fails. Standard library only, so
it runs in the throwaway environment of tools/check_gpu_install.sh.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

STACK = ["torch", "torchvision", "torchaudio", "flash-attn", "vllm", "transformers", "tokenizers", "verl",
         "ray", "tensordict", "numpy", "fastapi", "triton", "flashinfer-python", "xgrammar"]  # fmt: skip
_PIN = re.compile(r"^\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*==\s*([^;\s,]+)\s*(?:;\s*(.*))?$")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def resolved(report: dict) -> dict[str, dict]:
    """Package name -> its metadata, for everything pip would install."""
    return {normalise(item["metadata"]["name"]): item["metadata"] for item in report["install"]}


def exact_pins(metadata: dict, extra: str | None) -> dict[str, str]:
    """``name==version`` requirements of a package: its base ones (extra None) or those of one extra."""
    pins = {}
    for requirement in metadata.get("requires_dist", []):
        match = _PIN.match(requirement)
        if not match:
            continue
        name, version, marker = match.groups()
        marker_extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker or "")
        if (marker_extra.group(1) if marker_extra else None) == extra:
            pins[normalise(name)] = version
    return pins


def extras_named(metadata: dict, prefix: str) -> list[str]:
    return [e for e in metadata.get("provides_extra", []) if e.startswith(prefix)]


def check(report_dir: Path) -> tuple[list[tuple[bool, str]], list[tuple[str, str, str]]]:
    torch_step = resolved(json.loads((report_dir / "step1.json").read_text()))
    rest = resolved(json.loads((report_dir / "step3.json").read_text()))
    index_versions = (report_dir / "flash-attn-versions.txt").read_text()
    results: list[tuple[bool, str]] = []
    for name in ("torch", "torchvision", "torchaudio"):
        first, last = torch_step[name]["version"], rest[name]["version"]
        results.append((first == last, f"{name}: step 1 resolves {first}, step 3 resolves {last}"))

    verl = rest["verl"]
    wanted: dict[str, tuple[str, str]] = {}
    for extra in ["vllm", *extras_named(verl, "flash-attn")]:
        for name, version in exact_pins(verl, extra).items():
            wanted[name] = (version, f"verl {verl['version']} [{extra}]")
    for name, version in exact_pins(rest["vllm"], None).items():
        if name.startswith("torch"):
            wanted.setdefault(name, (version, f"vllm {rest['vllm']['version']}"))
    for name, version in exact_pins(rest["revisual"], "gpu").items():
        wanted.setdefault(name, (version, "revisual [gpu] (setup.py)"))
    for name, (version, source) in sorted(wanted.items()):
        if name == "flash-attn":
            listed = re.search(rf"(^|[\s,:]){re.escape(version)}(,|\s|$)", index_versions) is not None
            results.append((listed, f"flash-attn {version} ({source}) is on the index: {listed}"))
            continue
        got = rest.get(name, {}).get("version")
        results.append((got == version, f"{name}: {source} pins {version}, resolved {got}"))

    table = []
    for name in STACK:
        if name == "flash-attn":
            pin = wanted.get(name, ("?", ""))[0]
            table.append((name, f"{pin} (built from source in step 2, or FLASH_ATTN_WHEEL)", wanted.get(name, ("", ""))[1]))
        elif name in rest:
            table.append((name, rest[name]["version"], wanted.get(name, ("", ""))[1]))
    return results, table


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    results, table = check(Path(argv[0]))
    for ok, line in results:
        print(f"{'ok  ' if ok else 'FAIL'} {line}")
    print("\n| package | GPU set | pinned by |\n|---|---|---|")
    for name, version, source in table:
        print(f"| {name} | {version} | {source} |")
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
