"""
The browser client as an npm package (easy_channels/static/easy_channels/package.json): it packs
the files the Python package serves, at the same version, and its types compile for a user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import easy_channels

ROOT = Path(__file__).resolve().parent.parent
CLIENT = ROOT / "easy_channels" / "static" / "easy_channels"


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        if os.environ.get("CI"):
            pytest.fail("npm is required in CI (Node 20 with npm)")
        pytest.skip("npm is not installed")
    return npm


def test_npm_pack_holds_the_served_files_at_the_package_version():
    result = subprocess.run(
        [_npm(), "pack", "--dry-run", "--json"],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    (packed,) = json.loads(result.stdout)
    assert packed["version"] == easy_channels.__version__
    files = {f["path"] for f in packed["files"]}
    assert files == {
        "package.json",
        "easy-channels.js",
        "easy-channels.mjs",
        "easy-channels.d.ts",
        "easy-channels.d.mts",
    }


@pytest.mark.timeout(300)
def test_the_types_compile_for_a_user_of_the_package(tmp_path):
    """tsc --strict over a typed usage file that imports the packed package."""
    npm = _npm()
    subprocess.run(
        [npm, "pack", "--pack-destination", str(tmp_path)], cwd=CLIENT, check=True,
        capture_output=True, timeout=120,
    )  # fmt: skip
    (tarball,) = tmp_path.glob("*.tgz")
    project = tmp_path / "user"
    project.mkdir()
    (project / "package.json").write_text('{"name": "user", "private": true, "type": "module"}')
    for name in ("usage.mts", "tsconfig.json"):
        shutil.copy(ROOT / "tests" / "js" / name, project / name)
    install = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "typescript@5", str(tarball)],
        cwd=project, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    compiled = subprocess.run(
        [str(project / "node_modules" / ".bin" / "tsc"), "-p", "."],
        cwd=project, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert compiled.returncode == 0, compiled.stdout[-3000:]
