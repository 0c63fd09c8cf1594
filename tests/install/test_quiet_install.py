"""The editable install says nothing when it succeeds (issue 21, item 5).

pip shows every warning the build backend raises, even with ``--quiet``; before the fix, setuptools
raised one per YAML-only config folder and one about the editable strategy (215 console lines of
command 1). The test runs the backend hook pip calls (``build_editable``) with this environment's
setuptools on a copy of the tracked files, in a child process, and fails on any warning it raises.
No network: the hook builds from the local files only.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# What the hook needs: setup.py and the packages it lists (data files included).
_PACKAGES = ("verl_ext", "reward_fns", "data_preprocess", "revisual_eval")

_HOOK = """
import json, sys, warnings
from setuptools import build_meta
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    name = build_meta.build_editable(sys.argv[1])
print(json.dumps({"wheel": name, "warnings": [f"{w.category.__name__}: {str(w.message).strip().splitlines()[0]}"
                                             for w in caught]}))
"""


def _tracked_copy(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "setup.py", *_PACKAGES], cwd=REPO, check=True, capture_output=True,
                           text=True).stdout.split()
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)


def test_the_editable_build_raises_no_setuptools_warning(tmp_path):
    project, wheels = tmp_path / "project", tmp_path / "wheels"
    project.mkdir()
    wheels.mkdir()
    _tracked_copy(project)
    proc = subprocess.run([sys.executable, "-c", _HOOK, str(wheels)], cwd=project, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["warnings"] == []
    assert (wheels / result["wheel"]).is_file()
