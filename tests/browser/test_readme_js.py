"""
The JavaScript examples of the docs (docs/topics/client.rst) run in Chromium against the
docs' own consumers (tests/browser/client_site/readme.py), and do what the text around them
says.
"""

from __future__ import annotations

import pytest

from tests.liveserver import ROOT, serve
from tests.utils import readme_blocks


@pytest.fixture(scope="module")
def site():
    with serve(
        "tests.browser.client_site.asgi:application",
        settings="tests.browser.client_site.settings",
    ) as server:
        yield server


def test_readme_has_the_client_examples():
    blocks = readme_blocks("javascript")
    assert len(blocks) == 5
    [include] = readme_blocks("html+django")
    template = ROOT / "example_project/chat/templates/chat/chat.html"
    assert include in template.read_text()  # the example project loads it exactly so


def run_until_received(page, snippet: str, collected: str) -> list:
    """Run a snippet that fills the array ``collected`` from ``socket``: its first items."""
    return page.evaluate(
        f"""async () => {{
            {snippet}
            while ({collected}.length === 0) await new Promise((r) => setTimeout(r, 20));
            socket.close();
            return {collected};
        }}"""
    )


def test_chat_example(site, new_page):
    chat = readme_blocks("javascript")[0]
    page = new_page()
    page.goto(f"{site.url}/")
    assert run_until_received(page, chat, "messages") == ["Hello World!"]
    assert page.js_errors == []


def test_request_example(site, new_page):
    request = readme_blocks("javascript")[1]
    page = new_page()
    logs = []
    page.on("console", lambda message: logs.append((message.type, message.text)))
    page.goto(f"{site.url}/")
    page.evaluate(f"async () => {{ {request} }}")
    assert ("log", "count is now 5") in logs
    # The same code reports a server error: a payload the handler can't add up.
    page.evaluate(f"async () => {{ {request.replace('by: 5', 'by: [1]')} }}")
    assert ("error", "handler_error Internal server error. undefined") in logs


def test_lifecycle_example(site, new_page):
    chat, _, lifecycle, *_ = readme_blocks("javascript")
    page = new_page()
    logs = []
    page.on("console", lambda message: logs.append(message.text))
    page.goto(f"{site.url}/")
    page.evaluate(
        f"""async () => {{
            {chat}
            {lifecycle}
            while (messages.length === 0) await new Promise((r) => setTimeout(r, 20));
            socket.close();
        }}"""
    )
    assert logs[:2] == ["connected", "1000 false"]


def test_module_example(site, new_page):
    module = readme_blocks("javascript")[3].replace('"/static/', f'"{site.url}/static/')
    page = new_page()
    page.goto(f"{site.url}/module/")
    page.add_script_tag(type="module", content=f"{module}\nwindow.live = live;")
    page.wait_for_function("() => window.live && window.live.connected")
    assert page.evaluate("() => window.live.options.heartbeatInterval") == 10000


def test_raw_websocket_example_of_the_protocol_page(site, new_page):
    """docs/protocol.md's client without the browser client: JSON.parse(message.data), onopen."""
    from tests.utils import DOCS, fenced_blocks

    [raw] = fenced_blocks(DOCS / "protocol.md", "javascript")
    page = new_page()
    page.goto(f"{site.url}/")
    assert run_until_received(page, raw, "received") == ["Hello World!"]
    assert page.js_errors == []
