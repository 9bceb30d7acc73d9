"""The distributions: built without setuptools warnings, and an sdist the tests run from."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _build(kind: str, out: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "build", f"--{kind}", "-o", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.mark.timeout(600)
def test_sdist_holds_what_the_tests_need_and_they_run_from_it(tmp_path):
    output = _build("sdist", tmp_path)
    assert "Warning" not in output, output[-3000:]
    (sdist,) = tmp_path.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
        tar.extractall(tmp_path / "x", filter="data")
    tracked = subprocess.run(
        ["git", "ls-files", "tests", "example_project", "docs"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    missing = [name for name in tracked if name not in names]
    assert missing == [], missing
    (unpacked,) = (tmp_path / "x").iterdir()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_protocol.py", "tests/test_conf.py"],
        cwd=unpacked,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]


@pytest.mark.timeout(600)
def test_wheel_builds_without_setuptools_warnings(tmp_path):
    output = _build("wheel", tmp_path)
    assert "Warning" not in output, output[-3000:]
    assert "absent from the `packages` configuration" not in output
