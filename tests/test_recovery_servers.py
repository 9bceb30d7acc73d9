"""
Recovery across real server processes on Redis, with a client written from docs/protocol.md:
the process that held the socket is SIGKILLed, the client comes back to another process, and
gets what was sent meanwhile from consumers, from another process's module functions and with
on_commit. Through a TCP proxy whose network the test cuts (tests/proxy.py): a gap longer than
the window, or one in which the group got more messages than the history keeps, gives a new
session.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid

import pytest
import redis.asyncio as redis
from websockets.asyncio.client import connect

from tests.conftest import REDIS_URL, require_redis
from tests.liveserver import ROOT, scaleout_server
from tests.proxy import Proxy

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]


class Client:
    """The easy_channels protocol with recovery, as docs/protocol.md describes it."""

    def __init__(self, base: str):
        self.base = base  # ws://host:port
        self.session: str | None = None
        self.positions: dict[str, str] = {}
        self.ws = None
        self.acks = 0
        self.frames: list[dict] = []

    async def open(self, base: str | None = None) -> dict:
        """Connect (resuming the session if there is one); the _session frame."""
        url = f"{base or self.base}/ws/recovering/?name=ana"
        if self.session:
            url += f"&ec_session={self.session}"
            if self.positions:
                url += "&ec_pos=" + ",".join(f"{g}@{p}" for g, p in self.positions.items())
        self.ws = await connect(url, origin="http://127.0.0.1")
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
        assert frame["event"] == "_session", frame
        self.session = frame["id"]
        if not frame["recovered"]:
            self.positions.clear()
        return frame

    async def next(self) -> dict:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
        position = frame.pop("_pos", None)
        if position:
            self.positions[position[0]] = position[1]
        return frame

    async def call(self, event: str, **payload) -> dict:
        self.acks += 1
        await self.ws.send(json.dumps({"event": event, "ack": self.acks, **payload}))
        while True:
            frame = await self.next()
            if frame.get("ack") == self.acks:
                return frame
            self.frames.append(frame)

    async def said(self, count: int) -> list[str]:
        texts = [frame["text"] for frame in self.frames if frame["event"] == "said"]
        self.frames = [frame for frame in self.frames if frame["event"] != "said"]
        while len(texts) < count:
            frame = await self.next()
            if frame["event"] == "said":
                texts.append(frame["text"])
        return texts


def _send_from_another_process(env: dict, text: str, on_commit: bool) -> None:
    """easy_channels.group_send from a process of its own (a worker, a management command)."""
    code = (
        "import django, easy_channels; django.setup()\n"
        "from django.db import transaction\n"
        "with transaction.atomic():\n"
        f"    easy_channels.group_send('room', 'said', {{'text': {text!r}}},"
        f" on_commit={on_commit})\n"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.scaleout.settings", **env},
        check=True,
        timeout=60,
    )


async def test_a_session_resumes_on_another_process_after_a_sigkill():
    require_redis()
    prefix = f"recover{uuid.uuid4().hex[:8]}"
    env = {"SCALEOUT_PREFIX": prefix}
    store = redis.Redis.from_url(REDIS_URL)
    try:
        with scaleout_server(env=env) as one, scaleout_server(env=env) as two:
            ana = Client(one.ws)
            assert (await ana.open())["recovered"] is False
            assert (await ana.next())["event"] == "hello"
            assert (await ana.call("join", group="room"))["event"] == "ack"
            async with connect(f"{two.ws}/ws/room/?name=bob", origin="http://127.0.0.1") as bob:
                await bob.send(json.dumps({"event": "join", "ack": 1, "group": "room"}))
                json.loads(await bob.recv())
                await bob.send(json.dumps({"event": "say", "group": "room", "text": "seen"}))
                assert await ana.said(1) == ["seen"]

                one.stop(signal.SIGKILL)  # ana's process dies: no disconnect, no cleanup
                await bob.send(json.dumps({"event": "say", "group": "room", "text": "gap1"}))
                await asyncio.to_thread(_send_from_another_process, env, "gap2", False)
                await asyncio.to_thread(_send_from_another_process, env, "gap3", True)

                resumed = await ana.open(two.ws)  # to the survivor
                assert resumed["recovered"] is True
                # What it missed, in the order sent, then what on_connect sent: it was back in
                # its group, and knew it had recovered, before on_connect ran.
                frames = [await ana.next() for _ in range(4)]
                assert [frame.get("text") for frame in frames[:3]] == ["gap1", "gap2", "gap3"]
                assert frames[3] == {"event": "hello", "recovered": True, "groups": ["room"]}
                await bob.send(json.dumps({"event": "say", "group": "room", "text": "new"}))
                assert await ana.said(1) == ["new"]  # and nothing twice
            await ana.ws.close()  # code 1000: the session ends
        assert await store.exists(f"{prefix}:ec:s:{ana.session}") == 0
    finally:
        keys = [key async for key in store.scan_iter(match=f"{prefix}*")]
        if keys:
            await store.delete(*keys)
        await store.aclose()


async def _call(ws, ack: int, event: str, **payload) -> dict:
    """Send a request on a plain (non-recovering) socket; its ack frame."""
    await ws.send(json.dumps({"event": event, "ack": ack, **payload}))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame.get("ack") == ack:
            return frame


WINDOW, HISTORY = 2, 3


@pytest.mark.parametrize("gap", ["longer than the window", "longer than the history"])
async def test_a_gap_recovery_cannot_bridge_gives_a_new_session(gap):
    require_redis()
    prefix = f"recover{uuid.uuid4().hex[:8]}"
    env = {"SCALEOUT_PREFIX": prefix, "SCALEOUT_RECOVERY": f"{WINDOW},{HISTORY}"}
    store = redis.Redis.from_url(REDIS_URL)
    try:
        with (
            scaleout_server(env=env) as one,
            scaleout_server(env=env) as two,
            Proxy(one.port) as proxy,
        ):
            ana = Client(f"ws://127.0.0.1:{proxy.port}")
            await ana.open()
            assert (await ana.next())["event"] == "hello"
            assert (await ana.call("join", group="room"))["event"] == "ack"
            async with connect(f"{two.ws}/ws/room/?name=bob", origin="http://127.0.0.1") as bob:
                await _call(bob, 1, "join", group="room")
                await _call(bob, 2, "say", group="room", text="seen")
                assert await ana.said(1) == ["seen"]
                old = ana.session

                proxy.down()  # no close frame: the server keeps ana's session
                if gap == "longer than the window":
                    await _call(bob, 3, "say", group="room", text="gap")
                    await asyncio.sleep(WINDOW + 1)
                    assert await store.exists(f"{prefix}:ec:s:{old}") == 0  # expired
                else:
                    for n in range(HISTORY + 1):  # the first of them is trimmed
                        await _call(bob, 3 + n, "say", group="room", text=f"gap{n}")
                    assert await store.exists(f"{prefix}:ec:s:{old}") == 1
                proxy.up()

                fresh = await ana.open()  # names the old session and its positions
                assert fresh["recovered"] is False and ana.session != old
                # A new session is in no group: on_connect saw it start from nothing.
                assert await ana.next() == {"event": "hello", "recovered": False, "groups": []}
                assert (await ana.call("join", group="room"))["event"] == "ack"
                await _call(bob, 10, "say", group="room", text="new")
                assert await ana.said(1) == ["new"]  # nothing of the gap came
            await ana.ws.close()
    finally:
        keys = [key async for key in store.scan_iter(match=f"{prefix}*")]
        if keys:
            await store.delete(*keys)
        await store.aclose()
