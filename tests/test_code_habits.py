"""The habits the code keeps: ruff's configured rules pass, and every blind `except` says why."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TREES = ["src", "tests", "benchmarks", "examples"]


def test_ruff_finds_nothing_under_the_project_configuration():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed; it is part of the dev extra (`make setup`)")
    done = subprocess.run([ruff, "check", "--no-cache", *TREES], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout[-3000:]


def test_every_blind_except_gives_its_reason_on_the_line():
    bare = []
    for path in (ROOT / "src").rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "noqa: BLE001" in line and not re.search(r"noqa: BLE001\s*[-—:]\s*\S", line):
                bare.append(f"{path.relative_to(ROOT)}:{number}")
    assert not bare, "say why on the line (`# noqa: BLE001 - reason`): " + ", ".join(bare)
