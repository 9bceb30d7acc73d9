"""
Node.js packages the tests run (the official conformance suites, socket.io-client), installed
with ``npm ci`` once per content of their package files into a cache directory
(``~/.cache/easy_channels/<name>-<hash>/``), and the skip-or-fail rule for when they can't be.

Without Node.js or npm, the tests that need them skip with the reason, unless
EASY_CHANNELS_REQUIRE_BROWSER=1 (CI), which makes them fail.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

REQUIRE_BROWSER = os.environ.get("EASY_CHANNELS_REQUIRE_BROWSER") == "1"
NPM_CI_TIMEOUT = 240
#: The official socket.io-client, pinned for the tests that run it in Node.js.
SOCKETIO_CLIENT = Path(__file__).parent / "sio_docs_site" / "client"


def unavailable(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail when EASY_CHANNELS_REQUIRE_BROWSER=1 forbids skipping."""
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason}, and EASY_CHANNELS_REQUIRE_BROWSER=1 forbids skipping.")
    pytest.skip(reason)


def node(what: str, minimum: int = 18) -> str:
    """The node executable, at least version ``minimum`` (``what`` needs it, for the reason)."""
    found = shutil.which("node")
    if found is None:
        unavailable(f"Node.js {minimum}+ is required by {what}")
    version = subprocess.run(
        [found, "-e", "process.stdout.write(process.versions.node)"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    if int(version.split(".")[0]) < minimum:
        unavailable(f"{what} needs Node.js {minimum}+, not {version}")
    return found


def npm(what: str) -> str:
    found = shutil.which("npm")
    if found is None:
        unavailable(f"npm is required by {what}")
    return found


def _cache_root() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    for root in (base / "easy_channels", Path(tempfile.gettempdir()) / "easy_channels-npm"):
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(root, os.W_OK):
            return root
    unavailable(f"no writable cache directory for Node.js packages (tried {base})")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` across processes (where fcntl exists; else none)."""
    try:
        import fcntl
    except ImportError:  # Windows: the atomic rename alone keeps concurrent installs apart
        yield
        return
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def installed(source: Path, files: tuple[str, ...], name: str, marker: str) -> Path:
    """
    ``files`` of the folder ``source`` with their node_modules, installed by ``npm ci`` once
    per content of those files; ``marker`` (a path inside the install) says it is complete.
    """
    command = npm(f"the {name} tests")
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.encode() + b"\0" + (source / file).read_bytes() + b"\0")
    cache = _cache_root()
    target = cache / f"{name}-{digest.hexdigest()[:16]}"
    if (target / marker).exists():
        return target
    with _locked(cache / f"{target.name}.lock"):
        if (target / marker).exists():  # another run installed it while we waited
            return target
        shutil.rmtree(target, ignore_errors=True)  # a broken leftover (node_modules deleted)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache))
        try:
            # File by file, not copytree: the source may be read-only, its modes must not follow.
            for file in files:
                shutil.copyfile(source / file, staging / file)
            env = {**os.environ, "npm_config_update_notifier": "false"}
            try:
                result = subprocess.run(
                    [command, "ci", "--no-audit", "--no-fund"],
                    cwd=staging, env=env, capture_output=True, text=True, timeout=NPM_CI_TIMEOUT,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                unavailable(f"npm ci of {name} took more than {NPM_CI_TIMEOUT}s")
            if result.returncode != 0:
                unavailable(
                    f"npm ci of {name} failed ({result.returncode}):\n"
                    f"{result.stdout[-2000:]}{result.stderr[-3000:]}"
                )
            try:
                staging.rename(target)  # atomic: a target directory is always complete
            except OSError:  # a concurrent run (without flock) got there first
                if not (target / marker).exists():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def socketio_client() -> Path:
    """socket.io-client as SOCKETIO_CLIENT pins it, installed once per content of its files."""
    files = ("package.json", "package-lock.json")
    return installed(
        SOCKETIO_CLIENT, files, "socketio-docs-client", "node_modules/socket.io-client"
    )


def run_module(
    directory: Path, code: str, env: dict[str, str], what: str, timeout: float = 30
) -> list[str]:
    """
    Run ``code`` as an ES module in ``directory`` (where its imports resolve), with ``env``
    added to the environment; the lines it printed, once it exited 0 (asserted).
    """
    script = directory / f"run-{os.getpid()}-{secrets.token_hex(3)}.mjs"
    script.write_text(code)
    try:
        result = subprocess.run(
            [node(what), script.name], cwd=directory, env={**os.environ, **env},
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
    finally:
        script.unlink(missing_ok=True)
    assert result.returncode == 0, f"node exited with {result.returncode}:\n{result.stdout}\n" + (
        result.stderr
    )
    return result.stdout.splitlines()
