"""
The official Socket.IO and Engine.IO conformance suites pass against our server, unmodified.

The suites are the ``test-suite/`` folders of socketio/socket.io-protocol and
socketio/engine.io-protocol, the protocols' own executable specification (see the README of the
shared ``conformance`` folder). Passing them, as they are, on uvicorn and daphne is the proof
that any Socket.IO v5 / Engine.IO v4 client can talk to ``easy_channels``: a test written here
would only show that the server agrees with our reading of the protocol.

Each suite is copied once into a cache directory keyed by a hash of its package files
(``~/.cache/easy_channels/<suite>-<hash>/``, see tests/node_packages.py) and installed there
with ``npm ci``;
every run then rewrites the suite's ``http://localhost:3000`` to the live server's URL in a new
file and runs it with mocha, the suite's own runner. Without Node.js, npm or the suites the
tests skip with the reason, unless EASY_CHANNELS_REQUIRE_BROWSER=1 (CI), which makes them fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.liveserver import serve
from tests.node_packages import installed, node, unavailable

ROOT = Path(__file__).resolve().parent.parent

#: Suite folder -> (the application served to it, how many tests it holds).
SUITES = {
    "socket.io-protocol": ("tests.sio_site.asgi:application", 32),
    "engine.io-protocol": ("tests.sio_site.asgi:engineio_application", 24),
}
SETTINGS = "tests.sio_site.settings"
#: What each suite connects to; rewritten to the live server (localhost may resolve to ::1).
SUITE_URL = "http://localhost:3000"
#: The files of a suite folder that the install depends on (test-suite.js is read fresh).
PACKAGE_FILES = ("package.json", "package-lock.json", "node-imports.js")
MOCHA_TIMEOUT = 120
MIN_NODE = 18


def _conformance_roots() -> list[Path]:
    """Where the shared ``conformance`` folder may be, the first existing one wins."""
    override = os.environ.get("EASY_CHANNELS_CONFORMANCE")
    if override:
        return [Path(override)]
    # Beside the repository (a checkout in /work/main), or at the fixed place when the repository
    # is a clone elsewhere (CI clones it into a temporary directory).
    return [ROOT.parent / "shared" / "conformance", Path("/work/shared/conformance")]


def _suite_source(suite: str) -> Path:
    roots = _conformance_roots()
    for root in roots:
        if (root / suite / "package-lock.json").is_file():
            return root / suite
    where = ", ".join(str(root / suite) for root in roots)
    unavailable(
        f"the {suite} conformance suite is not at {where} (set EASY_CHANNELS_CONFORMANCE to the "
        "folder that holds it)"
    )


def _mocha_script(directory: Path) -> Path:
    return directory / "node_modules" / "mocha" / "bin" / "mocha"


def _install(source: Path) -> Path:
    """The suite's files with its node_modules, installed once per content of its package files."""
    return installed(source, PACKAGE_FILES, source.name, "node_modules/mocha/bin/mocha")


@dataclass(frozen=True)
class Suite:
    name: str
    source: Path  # the shared, read-only folder (test-suite.js is read from it)
    directory: Path  # the installed copy, where mocha runs
    node: str
    app: str
    expected: int


@pytest.fixture(scope="session", params=list(SUITES))
def suite(request) -> Suite:
    """One conformance suite, installed (once per session and per content of its package)."""
    name = request.param
    source = _suite_source(name)
    node_path = node("the conformance suites", MIN_NODE)
    directory = _install(source)
    app, expected = SUITES[name]
    declared = len(re.findall(r"^\s*it\(", (source / "test-suite.js").read_text(), re.M))
    assert declared == expected, f"{name} declares {declared} tests, not {expected}"
    return Suite(name, source, directory, node_path, app, expected)


@dataclass
class MochaRun:
    returncode: int | None  # None: killed after MOCHA_TIMEOUT
    report: dict | None  # mocha's JSON report (None when it wrote none)
    output: str  # what mocha printed (the JSON report goes to a file)


def _run_mocha(suite: Suite, url: str, tag: str) -> MochaRun:
    """Run ``suite`` against ``url`` with mocha's JSON reporter; kill it after MOCHA_TIMEOUT."""
    text = (suite.source / "test-suite.js").read_text()
    assert SUITE_URL in text, f"{suite.name}/test-suite.js no longer connects to {SUITE_URL}"
    # Beside node_modules and node-imports.js, which the suite imports; unique per run.
    local = suite.directory / f"local-{tag}-{os.getpid()}.js"
    report = suite.directory / f"report-{tag}-{os.getpid()}.json"
    local.write_text(text.replace(SUITE_URL, url))
    report.unlink(missing_ok=True)
    command = [
        suite.node, str(_mocha_script(suite.directory)), "--exit",
        "--reporter", "json", "--reporter-option", f"output={report}", local.name,
    ]  # fmt: skip
    # A session of its own, so that a timeout kills mocha and any child it forks.
    proc = subprocess.Popen(
        command, cwd=suite.directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        try:
            output, _ = proc.communicate(timeout=MOCHA_TIMEOUT)
            returncode: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            returncode = None
        try:
            parsed = json.loads(report.read_text())
        except (OSError, ValueError):
            parsed = None
        return MochaRun(returncode, parsed, output)
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        local.unlink(missing_ok=True)
        report.unlink(missing_ok=True)


def _verdict(suite: Suite, run: MochaRun) -> list[str]:
    """What is wrong with ``run`` (empty when every test of the suite passed)."""
    if run.returncode is None:
        return [f"mocha did not finish within {MOCHA_TIMEOUT}s:\n{run.output[-3000:]}"]
    if run.report is None:
        return [f"mocha exited with {run.returncode} and no report:\n{run.output[-3000:]}"]
    stats = run.report["stats"]
    problems = [
        f"FAILED {failure.get('fullTitle', '?')}: {failure.get('err', {}).get('message', '')}"
        for failure in run.report.get("failures", [])
    ]
    counts = {key: stats.get(key) for key in ("tests", "passes", "failures", "pending")}
    if counts != {"tests": suite.expected, "passes": suite.expected, "failures": 0, "pending": 0}:
        problems.append(f"expected {suite.expected} tests, all passing; mocha counted {counts}")
    return problems


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["uvicorn", "daphne"])
def test_the_official_conformance_suite_passes(suite, kind):
    with serve(suite.app, kind=kind, settings=SETTINGS) as server:
        run = _run_mocha(suite, server.url, kind)
        log = server.output()
    problems = _verdict(suite, run)
    assert not problems, (
        f"{suite.name} on {kind} ({len(problems)} problems):\n"
        + "\n".join(problems)
        + f"\n--- {kind} log (tail) ---\n{log[-4000:]}"
    )
