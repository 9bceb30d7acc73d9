"""
docs/topics/presence.rst's JavaScript in Chromium, against the page's own room on a real
server: the page's listeners see a second socket join and go, and its title counts who is
online.
"""

from __future__ import annotations

import pytest

from tests.browser.test_client import WAIT, open_page
from tests.liveserver import serve
from tests.utils import DOCS, code_blocks

PAGE = DOCS / "topics" / "presence.rst"


@pytest.fixture(scope="module")
def site():
    app = "tests.browser.client_site.presence_asgi:application"
    with serve(app, settings="tests.browser.client_site.settings") as server:
        yield server


def test_the_pages_listeners_follow_who_is_online(new_page, site):
    [(_, snippet)] = code_blocks(PAGE, "javascript")
    page = open_page(new_page, site)
    page.evaluate(f"() => {{ {snippet}\n window.socket = socket; window.here = here; }}")
    page.wait_for_function("() => document.title === '1 online'", timeout=WAIT)
    me = page.evaluate("() => here.list()[0].key")

    other = open_page(new_page, site)
    other.evaluate("() => { window.s = EasyChannels.connect('/ws/room/lobby/?phone'); }")
    page.wait_for_function("() => document.title === '2 online'", timeout=WAIT)
    visitor = page.evaluate(f"() => here.list().map((e) => e.key).find((k) => k !== {me!r})")
    assert page.evaluate("(k) => here.get(k)", visitor) == [{"device": "phone"}]

    other.evaluate("() => s.close()")
    page.wait_for_function("() => document.title === '1 online'", timeout=WAIT)
    logs = [text for kind, text in page.console if kind == "log"]
    assert logs == [f"{me} now has 1 tabs", f"{visitor} now has 1 tabs", f"{visitor} has gone"]
    assert page.js_errors == []
