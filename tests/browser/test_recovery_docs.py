"""
docs/topics/recovery.rst's JavaScript in Chromium, against the page's own chat on a real server,
through a TCP proxy whose network the test takes down and brings back (tests/proxy.py).

A page that resumes its session gets what was said meanwhile from the replay. After a gap
longer than the window, or one in which the room got more messages than the history keeps, it
starts a new session (``recovered`` false) and the page's ``history`` request reloads the room:
the page shows every message once either way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from tests.browser.test_client import WAIT, open_page
from tests.liveserver import ROOT, serve
from tests.proxy import Proxy
from tests.utils import DOCS, code_blocks

PAGE = DOCS / "topics" / "recovery.rst"
SETTINGS = "tests.browser.client_site.settings_recovery"
WINDOW, HISTORY = 2, 3  # as that settings module sets them


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    env = {"CLIENT_SITE_DB": str(tmp_path_factory.mktemp("recovery_docs") / "db.sqlite3")}
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--run-syncdb", "--verbosity", "0"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": SETTINGS, "PYTHONPATH": str(ROOT), **env},
        check=True,
        timeout=120,
    )
    app = "tests.browser.client_site.recovery_asgi:application"
    with serve(app, settings=SETTINGS, env=env) as server:
        yield server


def _page(new_page, site, proxy: Proxy, room: str):
    """A page running the docs' snippet, its socket through the proxy, into ``room``."""
    [(_, snippet)] = code_blocks(PAGE, "javascript")
    url = f"ws://127.0.0.1:{proxy.port}/ws/chat/{room}/"
    code = snippet.replace(
        'EasyChannels.connect("/ws/chat/lobby/")',
        f'EasyChannels.connect("{url}", {{reconnectDelay: 100, reconnectDelayMax: 200}})',
    )
    assert code != snippet
    page = open_page(new_page, site)
    # Another socket in the room, not through the proxy: it says things while the page is away.
    page.evaluate(
        f"""() => {{
            {code}
            window.socket = socket;
            window.shown = shown;
            window.connects = [];
            socket.on("connect", (info) => connects.push(info));
            window.other = EasyChannels.connect("/ws/chat/{room}/");
        }}"""
    )
    page.wait_for_function("() => socket.connected && other.connected", timeout=WAIT)
    return page


def _say(page, *texts: str) -> None:
    for text in texts:
        page.evaluate("(text) => other.request('say', {text})", text)


def _shown(page, count: int) -> list[str]:
    """The texts the page shows, by message id, once it shows ``count`` of them."""
    page.wait_for_function(f"() => shown.size >= {count}", timeout=WAIT)
    return page.evaluate("() => [...shown].sort((a, b) => a[0] - b[0]).map(([, text]) => text)")


def _connects(page, count: int) -> list[dict]:
    page.wait_for_function(f"() => connects.length >= {count}", timeout=WAIT)
    return page.evaluate("() => connects")


def test_a_page_that_resumes_gets_what_was_said_from_the_replay(new_page, site):
    room = uuid.uuid4().hex[:8]
    with Proxy(site.port) as proxy:
        page = _page(new_page, site, proxy, room)
        _say(page, "before")
        assert _shown(page, 1) == ["before"]
        proxy.down()
        page.wait_for_function("() => socket.state === 'reconnecting'", timeout=WAIT)
        _say(page, "one", "two")
        proxy.up()
        assert _connects(page, 2)[1] == {"reconnect": True, "recovered": True}
        assert _shown(page, 3) == ["before", "one", "two"]
    assert page.js_errors == []


@pytest.mark.parametrize("gap", ["longer than the window", "longer than the history"])
def test_after_a_gap_recovery_cannot_bridge_the_page_reloads_the_room(new_page, site, gap):
    room = uuid.uuid4().hex[:8]
    with Proxy(site.port) as proxy:
        page = _page(new_page, site, proxy, room)
        _say(page, "before")
        assert _shown(page, 1) == ["before"]
        proxy.down()
        page.wait_for_function("() => socket.state === 'reconnecting'", timeout=WAIT)
        if gap == "longer than the window":
            missed = ["meanwhile"]
            _say(page, *missed)
            time.sleep(WINDOW + 1)  # the page keeps retrying against the dead network
        else:
            missed = [f"meanwhile {n}" for n in range(HISTORY + 1)]  # the first one is trimmed
            _say(page, *missed)
        proxy.up()
        assert _connects(page, 2)[1] == {"reconnect": True, "recovered": False}
        assert page.evaluate("() => socket.recovered") is False
        assert _shown(page, 1 + len(missed)) == ["before", *missed]
        _say(page, "after")  # the new session is in the room: on_connect joined it
        assert _shown(page, 2 + len(missed)) == ["before", *missed, "after"]
    assert page.js_errors == []
