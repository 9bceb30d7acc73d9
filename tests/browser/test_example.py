"""
The example chat in Chromium: two people chat through the page, as a newcomer would try it.

The project is served by daphne's runserver (what ``make demo`` runs) on a loopback port. Set
UPDATE_SCREENSHOTS=1 to refresh the README's screenshots under docs/.
"""

from __future__ import annotations

import os
import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.liveserver import ROOT, example_server

SCREENSHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory):
    with example_server(tmp_path_factory.mktemp("browser-example")) as server:
        yield server


def join(page, server, nickname: str, room: str):
    page.goto(f"{server.url}/")
    page.fill("#nickname", nickname)
    page.fill("#room", room)
    page.click("#join-form button")
    expect(page.locator("#status")).to_have_text("online")


def say(page, text: str):
    page.fill("#text", text)
    page.click("#say-form button")


def members(page) -> list[str]:
    return page.locator("#members li").all_inner_texts()


def test_two_pages_chat_both_ways(chat_server, new_page, tmp_path):
    room = f"r{uuid.uuid4().hex[:6]}"
    ana, bob = new_page(), new_page()
    join(ana, chat_server, "ana", room)
    say(ana, "Anyone here?")
    expect(ana.locator("#messages li")).to_have_count(1)

    # bob's history comes from request("history"); ana sees him join through "joined".
    join(bob, chat_server, "bob", room)
    expect(bob.locator("#messages li")).to_contain_text(["ana" + "Anyone here?"])
    expect(ana.locator("#members li")).to_have_text(["ana (you)", "bob"])
    expect(bob.locator("#members li")).to_have_text(["ana", "bob (you)"])

    bob.locator("#text").press_sequentially("Hi")  # typing indicator, exclude_self
    expect(ana.locator("#typing")).to_have_text("bob is typing…")
    expect(bob.locator("#typing")).to_have_text("")
    say(bob, "Hi ana!")
    say(ana, "Hi bob <b>bold</b>")
    for page in (ana, bob):
        expect(page.locator("#messages li span")).to_have_text(
            ["Anyone here?", "Hi ana!", "Hi bob <b>bold</b>"]  # shown as text, never as HTML
        )
    expect(ana.locator("#typing")).to_have_text("")

    # The server refuses an empty message with a ValidationError: request() rejects.
    say(bob, "   ")
    expect(bob.locator("#chat-error")).to_have_text("Not sent: Invalid data. Say something.")

    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        bob.locator("#chat-error").evaluate("e => e.hidden = true")
        ana.screenshot(path=SCREENSHOTS / "chat.png")
    else:
        ana.screenshot(path=tmp_path / "chat.png")
        assert (tmp_path / "chat.png").stat().st_size > 10_000

    bob.click("#leave")
    expect(bob.locator("#chat-view")).to_be_hidden()
    expect(ana.locator("#members li")).to_have_text(["ana (you)"])
    assert ana.js_errors == [] and bob.js_errors == []


def test_announcement_from_a_django_view_reaches_every_member(chat_server, new_page):
    room = f"r{uuid.uuid4().hex[:6]}"
    ana, bob, admin = new_page(), new_page(), new_page()
    join(ana, chat_server, "ana", room)
    join(bob, chat_server, "bob", room)
    admin.goto(f"{chat_server.url}/announce/")
    admin.fill("#id_text", "Pizza in the kitchen")
    admin.fill("#id_room", room)
    admin.click("#announce-form button")
    expect(admin.locator(".notice")).to_have_text(f"Announced in #{room}.")
    for page in (ana, bob):
        expect(page.locator("#announcement")).to_have_text("📣 Pizza in the kitchen")


def test_refused_connection_shows_its_reason(chat_server, new_page):
    page = new_page()
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws))
    page.goto(f"{chat_server.url}/")
    page.fill("#nickname", "no spaces please")
    page.click("#join-form button")
    expect(page.locator("#join-error")).to_have_text(
        "Could not join: Nicknames are 1-20 letters, digits, '-' or '_'."
    )
    expect(page.locator("#join-view")).to_be_visible()
    expect(page.locator("#chat-view")).to_be_hidden()
    # A refusal is final: the client doesn't knock again (its first retry would come in 0.5 s).
    page.wait_for_timeout(1500)
    assert len(sockets) == 1
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        page.screenshot(path=SCREENSHOTS / "refused.png")


def test_server_restart_is_survived_and_the_buffered_message_arrives(tmp_path, new_page):
    room = f"r{uuid.uuid4().hex[:6]}"
    with example_server(tmp_path) as server:
        ana, bob = new_page(), new_page()
        join(ana, server, "ana", room)
        join(bob, server, "bob", room)
        say(ana, "before the restart")
        expect(bob.locator("#messages li span")).to_have_text(["before the restart"])

        server.stop()
        expect(ana.locator("#status")).to_have_text(re.compile("^reconnecting"))
        say(ana, "sent while the server was down")  # buffered by the client
        server.start()

        for page in (ana, bob):
            expect(page.locator("#status")).to_have_text("online", timeout=20_000)
            expect(page.locator("#messages li span")).to_have_text(
                ["before the restart", "sent while the server was down"], timeout=20_000
            )
        expect(ana.locator("#members li")).to_have_text(["ana (you)", "bob"])
        expect(ana.locator("#chat-error")).to_be_hidden()
