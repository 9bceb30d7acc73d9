"""
The example chat project (``example_project/``, ``make demo``) served by real servers: daphne's
runserver, as ``make demo`` runs it, and uvicorn, with real WebSocket clients.

tests/browser/test_example.py drives the same project through its page in Chromium.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import re
import urllib.parse
import urllib.request
import uuid
from contextlib import AsyncExitStack

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import REDIS_URL, require_redis
from tests.liveserver import example_server

ORIGIN = "http://127.0.0.1"
pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module", params=["runserver", "uvicorn"])
def chat_server(request, tmp_path_factory):
    with example_server(tmp_path_factory.mktemp("example"), kind=request.param) as server:
        yield server


class Client:
    """A chat member over a real WebSocket, speaking the easy_channels protocol."""

    def __init__(self, ws):
        self.ws = ws
        self.acks = 0
        self.events: list[dict] = []

    async def next(self, event: str) -> dict:
        """The next frame named ``event`` (other frames are kept in ``events``)."""
        for frame in self.events:
            if frame["event"] == event:
                self.events.remove(frame)
                return frame
        async with asyncio.timeout(5):
            while True:
                frame = json.loads(await self.ws.recv())
                if frame["event"] == event:
                    return frame
                self.events.append(frame)

    async def request(self, event: str, **payload) -> dict:
        self.acks += 1
        await self.ws.send(json.dumps({"event": event, "ack": self.acks, **payload}))
        async with asyncio.timeout(5):
            while True:
                frame = json.loads(await self.ws.recv())
                if frame.get("ack") == self.acks:
                    return frame
                self.events.append(frame)

    async def quiet(self, seconds: float = 0.3) -> list[dict]:
        """Frames that arrive within ``seconds`` (nothing, usually)."""
        frames = []
        try:
            async with asyncio.timeout(seconds):
                while True:
                    frames.append(json.loads(await self.ws.recv()))
        except TimeoutError:
            return frames


async def join(server_ws: str, room: str, nickname: str, stack) -> Client:
    ws = await stack.enter_async_context(
        connect(f"{server_ws}/ws/chat/{room}/?nickname={nickname}", origin=ORIGIN)
    )
    client = Client(ws)
    welcome = await client.next("welcome")
    assert welcome["nickname"] == nickname and welcome["room"] == room
    client.id = welcome["id"]
    return client


def room() -> str:
    return f"room-{uuid.uuid4().hex[:8]}"


async def test_chat_members_history_and_typing(chat_server):
    lobby = room()
    async with AsyncExitStack() as stack:
        ana = await join(chat_server.ws, lobby, "ana", stack)
        assert (await ana.request("history"))["data"] == []
        bob = await join(chat_server.ws, lobby, "bob", stack)
        # group_send(exclude_self=True) tells ana; group_call_event makes ana introduce herself.
        assert await ana.next("joined") == {"event": "joined", "id": bob.id, "nickname": "bob"}
        assert await bob.next("member") == {"event": "member", "id": ana.id, "nickname": "ana"}

        reply = await bob.request("say", text="  hi ana  ")
        message_id = reply["data"]["id"]
        for member in (ana, bob):
            said = await member.next("message")
            assert (said["id"], said["nickname"], said["text"]) == (message_id, "bob", "hi ana")

        await ana.ws.send(json.dumps({"event": "typing"}))
        assert await bob.next("typing") == {"event": "typing", "id": ana.id, "nickname": "ana"}
        assert await ana.quiet() == []  # exclude_self: not to the typist

        # A third socket elsewhere hears nothing of this room; a newcomer gets the history.
        other = await join(chat_server.ws, room(), "cyd", stack)
        history = (await other.request("history"))["data"]
        assert history == []
        late = await join(chat_server.ws, lobby, "dee", stack)
        [old] = (await late.request("history"))["data"]
        assert (old["id"], old["text"]) == (message_id, "hi ana")

        await bob.ws.close()
        assert await ana.next("left") == {"event": "left", "id": bob.id}
        assert await other.quiet() == []


async def test_invalid_message_is_an_error_frame_with_details(chat_server):
    async with AsyncExitStack() as stack:
        ana = await join(chat_server.ws, room(), "ana", stack)
        reply = await ana.request("say", text="   ")
        assert reply == {
            "event": "error",
            "code": "invalid",
            "message": "Invalid data.",
            "details": {"text": ["Say something."]},
            "ack": ana.acks,
        }
        # Server-side handlers are not reachable from the browser.
        assert (await ana.request("announce", text="fake"))["code"] == "unknown_event"
        assert (await ana.request("say", text="still here"))["event"] == "ack"


@pytest.mark.parametrize(
    ("nickname", "code", "message"),
    [
        ("bad nick!", 4422, "Nicknames are 1-20 letters, digits, '-' or '_'."),
        ("", 4422, "Nicknames are 1-20 letters, digits, '-' or '_'."),
        ("Admin", 4409, "The nickname 'Admin' is reserved."),
    ],
)
async def test_refused_nickname_reaches_the_browser(chat_server, nickname, code, message):
    url = f"{chat_server.ws}/ws/chat/lobby/?nickname={urllib.parse.quote(nickname)}"
    async with connect(url, origin=ORIGIN) as ws:
        assert json.loads(await ws.recv()) == {
            "event": "connect_error",
            "code": code,
            "message": message,
        }
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == code


async def test_foreign_origin_is_refused(chat_server):
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus):
        async with connect(f"{chat_server.ws}/ws/chat/lobby/?nickname=x", origin="http://evil"):
            pass


def _announce(base_url: str, text: str, room: str = "") -> str:
    """Submit the announce form as a browser would (CSRF cookie and token)."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    page = opener.open(f"{base_url}/announce/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "text": text, "room": room})
    request = urllib.request.Request(
        f"{base_url}/announce/", data=data.encode(), headers={"Referer": f"{base_url}/announce/"}
    )
    return opener.open(request, timeout=10).read().decode()


async def test_announce_view_runs_the_server_only_handler_in_every_member(chat_server):
    here, there = room(), room()
    async with AsyncExitStack() as stack:
        ana = await join(chat_server.ws, here, "ana", stack)
        bob = await join(chat_server.ws, here, "bob", stack)
        cyd = await join(chat_server.ws, there, "cyd", stack)
        page = await asyncio.to_thread(_announce, chat_server.url, "Tea time", here)
        assert f"Announced in #{here}." in page
        for member in (ana, bob):
            announcement = await member.next("announcement")
            assert announcement == {"event": "announcement", "text": "Tea time", "room": here}
        assert [f for f in await cyd.quiet() if f["event"] == "announcement"] == []

        await asyncio.to_thread(_announce, chat_server.url, "Closing soon")
        for member, its_room in ((ana, here), (bob, here), (cyd, there)):
            announcement = await member.next("announcement")
            assert (announcement["text"], announcement["room"]) == ("Closing soon", its_room)


@pytest.mark.redis
async def test_redis_url_switches_to_channels_redis_across_processes(tmp_path):
    """With REDIS_URL, members on two server processes chat as if on one."""
    import redis.asyncio as redis

    require_redis()
    prefix = f"example{uuid.uuid4().hex[:8]}"
    with (
        example_server(tmp_path, redis_url=REDIS_URL, prefix=prefix) as first,
        example_server(tmp_path, kind="uvicorn", redis_url=REDIS_URL, prefix=prefix) as second,
    ):
        lobby = room()
        try:
            async with AsyncExitStack() as stack:
                ana = await join(first.ws, lobby, "ana", stack)
                bob = await join(second.ws, lobby, "bob", stack)
                assert (await ana.next("joined"))["nickname"] == "bob"
                assert (await bob.next("member"))["nickname"] == "ana"
                await ana.request("say", text="across processes")
                assert (await bob.next("message"))["text"] == "across processes"
                await asyncio.to_thread(_announce, second.url, "both", lobby)
                assert (await ana.next("announcement"))["text"] == "both"
        finally:
            client = redis.Redis.from_url(REDIS_URL)
            keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()
