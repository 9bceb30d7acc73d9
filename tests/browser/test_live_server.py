"""
Channels' ChannelsLiveServerTestCase works with easy_channels, checks and all.

System check W004 used to import ASGI_APPLICATION while ``manage.py test`` ran its checks, so
``AllowedHostsOriginValidator`` copied ``ALLOWED_HOSTS`` before the live-server test case added
``localhost``; the server then refused every handshake with 403. Checks must not change what
the application does: here a real ``manage.py test`` run drives Chromium against the live
server (tests/livetest, set up as Channels' tutorial part 4 does).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.browser.conftest import CHROMIUM, REQUIRE_BROWSER, _browser_unavailable
from tests.liveserver import ROOT

pytestmark = pytest.mark.timeout(180)


def test_channels_live_server_test_case_with_a_browser(tmp_path):
    reason = _browser_unavailable()
    if reason is not None:  # skipped already, unless REQUIRE_BROWSER (see conftest)
        assert not REQUIRE_BROWSER, reason
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CHROMIUM": CHROMIUM,
        "LIVETEST_DB": str(tmp_path / "live.sqlite3"),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-m", "django", "test", "tests.livetest.tests",
         "--settings=tests.livetest.settings", "-v", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=150,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Ran 1 test" in output and "OK" in output, output
