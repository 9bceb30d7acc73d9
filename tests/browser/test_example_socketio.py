"""
The example chat's Socket.IO page (``/socketio/``, the official socket.io-client vendored under
example_project/chat/static/chat/vendor/) in Chromium, beside the easy_channels client's page:
one consumer serves both, in the same rooms.

The project is served by daphne's runserver (what ``make demo`` runs) on a loopback port, as in
tests/browser/test_example.py.
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.liveserver import example_server

JSON_PAGE = "/"
SOCKETIO_PAGE = "/socketio/"


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory):
    with example_server(tmp_path_factory.mktemp("browser-example-socketio")) as server:
        yield server


def open_page(page, server, path: str, nickname: str, room: str):
    page.goto(f"{server.url}{path}")
    page.fill("#nickname", nickname)
    page.fill("#room", room)
    page.click("#join-form button")


def join(page, server, path: str, nickname: str, room: str):
    open_page(page, server, path, nickname, room)
    expect(page.locator("#status")).to_have_text("online")


def say(page, text: str):
    page.fill("#text", text)
    page.click("#say-form button")


def engine_requests(page) -> list[str]:
    """The URLs of the page's Socket.IO requests (HTTP and WebSocket), in order."""
    urls: list[str] = []
    page.on("request", lambda request: "/socket.io/" in request.url and urls.append(request.url))
    page.on("websocket", lambda ws: "/socket.io/" in ws.url and urls.append(ws.url))
    return urls


def room_name() -> str:
    return f"r{uuid.uuid4().hex[:6]}"


def test_both_clients_chat_in_one_room(chat_server, new_page):
    room = room_name()
    ana, bob, cyd = new_page(), new_page(), new_page()
    requests = engine_requests(bob)
    join(ana, chat_server, JSON_PAGE, "ana", room)
    join(bob, chat_server, SOCKETIO_PAGE, "bob", room)
    # ana hears of bob through his group_send (a Socket.IO consumer's, to a JSON one); cyd, on
    # the JSON page, of bob through his send_to. (bob's own list: see the newcomer test below.)
    join(cyd, chat_server, JSON_PAGE, "cyd", room)
    expect(ana.locator("#members li")).to_have_text(["ana (you)", "bob", "cyd"])
    expect(cyd.locator("#members li")).to_have_text(["ana", "bob", "cyd (you)"])
    expect(bob.locator("#members li")).to_contain_text(["bob (you)", "cyd"])

    bob.locator("#text").press_sequentially("Hi")  # typing indicator, exclude_self
    expect(ana.locator("#typing")).to_have_text("bob is typing…")
    expect(bob.locator("#typing")).to_have_text("")
    say(bob, "Hi from socket.io-client")
    say(ana, "Hi from easy_channels <b>bold</b>")
    for page in (ana, bob, cyd):
        expect(page.locator("#messages li span")).to_have_text(
            ["Hi from socket.io-client", "Hi from easy_channels <b>bold</b>"]
        )

    # The client's default transports: HTTP long-polling first, then the upgrade.
    bob.wait_for_function("() => chatSocket.io.engine.transport.name === 'websocket'")
    assert "transport=polling" in requests[0], requests
    assert any(url.startswith("ws://") and "sid=" in url for url in requests), requests
    say(bob, "over the WebSocket now")
    expect(ana.locator("#messages li span").last).to_have_text("over the WebSocket now")

    # on_say raises a ValidationError: it reaches the ack callback as {error: {...}}.
    say(bob, "   ")
    expect(bob.locator("#chat-error")).to_have_text("Not sent: Invalid data. Say something.")

    bob.click("#leave")
    expect(bob.locator("#chat-view")).to_be_hidden()
    expect(ana.locator("#members li")).to_have_text(["ana (you)", "cyd"])
    assert ana.js_errors == [] and bob.js_errors == [] and cyd.js_errors == []


@pytest.mark.parametrize(
    ("nickname", "reason"),
    [
        ("no spaces please", "Nicknames are 1-20 letters, digits, '-' or '_'."),
        ("Admin", "The nickname 'Admin' is reserved."),
    ],
)
def test_refused_nickname_shows_the_reject_reason(chat_server, new_page, nickname, reason):
    page = new_page()
    requests = engine_requests(page)
    open_page(page, chat_server, SOCKETIO_PAGE, nickname, "lobby")
    expect(page.locator("#join-error")).to_have_text(f"Could not join: {reason}")
    expect(page.locator("#join-view")).to_be_visible()
    expect(page.locator("#chat-view")).to_be_hidden()
    # A CONNECT_ERROR is final: the client opens no new session (it would retry in 0.5 s).
    page.wait_for_timeout(1500)
    handshakes = [url for url in requests if "sid=" not in url]
    assert len(handshakes) == 1, requests
    assert page.js_errors == []


def test_announcement_reaches_the_socketio_page(chat_server, new_page):
    room = room_name()
    bob, admin = new_page(), new_page()
    join(bob, chat_server, SOCKETIO_PAGE, "bob", room)
    admin.goto(f"{chat_server.url}/announce/")
    admin.fill("#id_text", "Pizza in the kitchen")
    admin.fill("#id_room", room)
    admin.click("#announce-form button")
    expect(admin.locator(".notice")).to_have_text(f"Announced in #{room}.")
    expect(bob.locator("#announcement")).to_have_text("📣 Pizza in the kitchen")


def test_the_socketio_page_loads_the_history(chat_server, new_page):
    room = room_name()
    ana, bob = new_page(), new_page()
    join(ana, chat_server, JSON_PAGE, "ana", room)
    say(ana, "Anyone here?")
    expect(ana.locator("#messages li")).to_have_count(1)
    join(bob, chat_server, SOCKETIO_PAGE, "bob", room)
    expect(bob.locator("#messages li span")).to_have_text(["Anyone here?"], timeout=3000)
    expect(bob.locator("#chat-error")).to_be_hidden()


def test_a_socketio_newcomer_sees_the_members_already_here(chat_server, new_page):
    room = room_name()
    ana, bob = new_page(), new_page()
    join(ana, chat_server, JSON_PAGE, "ana", room)
    join(bob, chat_server, SOCKETIO_PAGE, "bob", room)
    expect(bob.locator("#members li")).to_have_text(["ana", "bob (you)"], timeout=3000)
