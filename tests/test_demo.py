"""``make demo``, the first command of README.rst's quick start, serves the example chat."""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.request

import pytest

from tests.liveserver import ROOT, free_port, wait_for_port

pytestmark = pytest.mark.timeout(180)


def test_make_demo_migrates_and_serves_the_chat(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "EXAMPLE_DB": str(tmp_path / "demo.sqlite3"),  # not the checkout's db.sqlite3
        "REDIS_URL": "",  # the demo's default: the in-memory channel layer
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)  # manage.py picks the example project's
    log = tmp_path / "make.log"
    with log.open("w") as out:
        make = subprocess.Popen(
            ["make", "--no-print-directory", "demo", f"DEMO_ADDR=127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # make and runserver in one group, stopped together
        )
    try:
        try:
            wait_for_port(port, make, timeout=150)
        except RuntimeError as exc:
            raise AssertionError(f"{exc}\n{log.read_text()}") from None
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read().decode()
        assert "Join a room" in page
        script = urllib.request.urlopen(
            f"http://127.0.0.1:{port}/static/easy_channels/easy-channels.js", timeout=10
        ).read()
        assert b"EasyChannels" in script
        assert (tmp_path / "demo.sqlite3").exists()  # migrated
        assert "Open http://127.0.0.1:" in log.read_text()
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        try:
            make.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
