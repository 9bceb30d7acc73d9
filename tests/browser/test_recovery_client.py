"""
The browser client's recovery (a consumer with ``recovery = True``) in Chromium, through a
TCP proxy whose network the test takes down and brings back: the page resumes its session,
gets what its group was sent meanwhile, in order and once, and a request whose answer was
lost is answered without running twice.
"""

from __future__ import annotations

# key and site: tests/browser/test_client.py's fixtures (its site's server, a key per test).
from tests.browser.test_client import (  # noqa: F401
    WAIT,
    connect,
    key,
    open_page,
    site,
    stats,
    wait_seen,
)
from tests.proxy import Proxy


def test_a_page_resumes_its_session_after_a_network_loss(new_page, site, key):  # noqa: F811
    page = open_page(new_page, site)
    with Proxy(site.port) as proxy:
        lost = f"ws://127.0.0.1:{proxy.port}/ws/recovering/{key}/"
        connect(page, lost, {"reconnectDelay": 100, "reconnectDelayMax": 200}, ["said"])
        # Another page's socket in the same room, not through the proxy.
        page.evaluate(
            "(url) => { window.other = EasyChannels.connect(url); }",
            f"/ws/recovering/{key}/",
        )
        page.wait_for_function("() => window.other.connected", timeout=WAIT)
        page.evaluate("() => other.request('say', {text: 'before'})")
        assert wait_seen(page, "said") == [{"text": "before"}]
        assert page.evaluate("() => s.recovered") is False

        # A slow request is on its way when the network goes: its answer is lost.
        page.evaluate(
            "() => { window.answer = s.request('insert', {n: 7, seconds: 0.5})"
            ".then((data) => data, (e) => 'failed: ' + e.code); }"
        )
        page.wait_for_function(
            "(key) => fetch('/stats/' + key + '/').then((r) => r.json())"
            ".then((s) => s.records.length === 1)",
            arg=key,
            timeout=WAIT,
        )
        proxy.down()
        page.wait_for_function("() => s.state === 'reconnecting'", timeout=WAIT)
        for text in ("one", "two", "three"):  # sent while the page is away
            page.evaluate("(text) => other.request('say', {text})", text)
        proxy.up()

        connects = wait_seen(page, "connect", 2)
        assert connects[-1] == {"reconnect": True, "recovered": True}
        assert page.evaluate("() => s.recovered") is True
        texts = [said["text"] for said in wait_seen(page, "said", 4)]
        assert texts == ["before", "one", "two", "three"]
        assert page.evaluate("() => window.answer") == {"row": 7}
        page.evaluate("() => other.request('say', {text: 'after'})")
        texts = [said["text"] for said in wait_seen(page, "said", 5)]
        assert texts == ["before", "one", "two", "three", "after"]  # nothing twice
        server_side = stats(site, key)
        assert server_side["records"] == [7]  # the handler ran once
        assert server_side["recovered"] == [False, False, True]

        # A clean close ends the session: a socket that names it again gets a new one.
        session = page.evaluate("() => s._session")
        page.evaluate("() => s.close()")
        page.wait_for_function(
            "(key) => fetch('/stats/' + key + '/').then((r) => r.json())"
            ".then((s) => s.closes.includes(1000))",
            arg=key,
            timeout=WAIT,
        )
        first = page.evaluate(
            """async (url) => {
                const ws = new WebSocket(url);
                const frame = await new Promise((ok) => { ws.onmessage = (m) => ok(m.data); });
                ws.close();
                return JSON.parse(frame);
            }""",
            f"{site.ws}/ws/recovering/{key}/?ec_session={session}",
        )
        assert first["event"] == "_session" and first["recovered"] is False
        assert first["id"] != session
    assert page.js_errors == []
