"""
Presence across real server processes on Redis (the scale-out project), with plain WebSocket
clients: users with tabs on both processes, a tab closing, the last tab closing, a SIGKILLed
process whose entries leave within ``TIMEOUT`` + 5 s, a Redis that restarts empty, and
visibility.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid

import pytest
import redis.asyncio as redis
from websockets.asyncio.client import connect

from tests.conftest import REDIS_URL, require_redis
from tests.liveserver import RedisServer, scaleout_server

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]

TIMEOUT = 3  # PRESENCE["TIMEOUT"] of these servers: a heartbeat every second


class Client:
    """A socket of the scale-out room that keeps the presence view its frames build."""

    def __init__(self, ws):
        self.ws = ws
        self.acks = 0
        self.view: dict[str, list] = {}
        self.frames = 0  # presence frames received

    async def call(self, event: str, **payload):
        self.acks += 1
        await self.ws.send(json.dumps({"event": event, "ack": self.acks, **payload}))
        while True:
            frame = await self._next()
            if frame.get("ack") == self.acks:
                assert frame["event"] == "ack", frame
                return frame.get("data")

    async def _next(self) -> dict:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), 15))
        if frame["event"] == "presence_state":
            self.frames += 1
            self.view = {key: list(metas) for key, metas in frame["members"].items()}
        elif frame["event"] == "presence_diff":
            self.frames += 1
            for key, metas in frame["joins"].items():
                self.view.setdefault(key, []).extend(metas)
            for key, metas in frame["leaves"].items():
                for meta in metas:
                    self.view[key].remove(meta)
                if not self.view[key]:
                    del self.view[key]
        return frame

    async def until(self, view: dict, within: float = 15) -> float:
        """Read frames until the view is ``view`` (metas in any order); the seconds it took."""
        started = time.monotonic()

        def same() -> bool:
            return {k: sorted(map(json.dumps, v)) for k, v in self.view.items()} == {
                k: sorted(map(json.dumps, v)) for k, v in view.items()
            }

        while not same():
            left = within - (time.monotonic() - started)
            assert left > 0, f"view {self.view} never became {view}"
            await asyncio.wait_for(self._next(), left)
        return time.monotonic() - started


async def _open(server, name: str, path: str = "room"):
    ws = await connect(f"{server.ws}/ws/{path}/?name={name}", origin="http://127.0.0.1")
    return Client(ws)


async def _cleanup(prefix: str, url: str = REDIS_URL) -> list[bytes]:
    store = redis.Redis.from_url(url)
    try:
        keys = [key async for key in store.scan_iter(match=f"{prefix}*")]
        if keys:
            await store.delete(*keys)
        return keys
    finally:
        await store.aclose()


async def test_tabs_across_two_processes_and_a_sigkilled_one():
    require_redis()
    prefix = f"presence{uuid.uuid4().hex[:8]}"
    env = {"SCALEOUT_PREFIX": prefix, "SCALEOUT_PRESENCE_TIMEOUT": str(TIMEOUT)}
    try:
        with scaleout_server(env=env) as one, scaleout_server(env=env) as two:
            watcher = await _open(two, "watcher")
            await watcher.call("track", group="lobby", key="watcher")
            assert watcher.view == {"watcher": [{}]}
            tab1, bob = await _open(one, "ana"), await _open(one, "bob")
            tab2 = await _open(two, "ana")
            await tab1.call("track", group="lobby", key="ana", meta={"tab": 1})
            await tab2.call("track", group="lobby", key="ana", meta={"tab": 2})
            await bob.call("track", group="lobby", key="bob")
            everyone = {"watcher": [{}], "ana": [{"tab": 1}, {"tab": 2}], "bob": [{}]}
            await watcher.until(everyone)
            await tab1.until(everyone)  # its state, then the diffs from the other process
            assert await bob.call("presence", group="lobby") == await watcher.call(
                "presence", group="lobby"
            )
            await tab2.ws.close()  # a tab closes: the key stays, with the other tab's meta
            await watcher.until({"watcher": [{}], "ana": [{"tab": 1}], "bob": [{}]})
            carl = await _open(two, "carl")  # one tab, on the watcher's process this time
            await carl.call("track", group="lobby", key="carl")
            await tab1.until({"watcher": [{}], "ana": [{"tab": 1}], "bob": [{}], "carl": [{}]})
            await carl.ws.close()  # its last tab closes: the key leaves, on both processes
            await tab1.until({"watcher": [{}], "ana": [{"tab": 1}], "bob": [{}]})
            await watcher.until({"watcher": [{}], "ana": [{"tab": 1}], "bob": [{}]})

            one.stop(signal.SIGKILL)  # ana's last tab and bob: no disconnect, no cleanup
            killed = time.monotonic()
            await watcher.until({"watcher": [{}]}, within=TIMEOUT + 5)
            assert time.monotonic() - killed < TIMEOUT + 5
            assert await watcher.call("presence", group="lobby") == {"watcher": [{}]}
            await watcher.ws.close()
            await asyncio.sleep(0.5)  # the last discard and the heartbeat's end reach Redis
        left = await _cleanup(prefix)
        assert [key for key in left if b":ec:p" in key] == []  # presence left nothing
    finally:
        await _cleanup(prefix)


async def test_a_join_storm_ends_the_same_for_every_member():
    require_redis()
    prefix = f"presence{uuid.uuid4().hex[:8]}"
    env = {"SCALEOUT_PREFIX": prefix}
    try:
        with scaleout_server(env=env) as one, scaleout_server(env=env) as two:
            clients = [await _open(one if n % 2 else two, f"u{n}") for n in range(100)]
            await asyncio.gather(
                *(c.call("track", group="storm", key=f"u{n}") for n, c in enumerate(clients))
            )
            everyone = {f"u{n}": [{}] for n in range(100)}
            await asyncio.gather(*(c.until(everyone) for c in clients))
            assert max(c.frames for c in clients) <= 50
            for c in clients:
                await c.ws.close()
    finally:
        await _cleanup(prefix)


async def test_visibility_through_real_servers():
    require_redis()
    prefix = f"presence{uuid.uuid4().hex[:8]}"
    env = {"SCALEOUT_PREFIX": prefix}
    try:
        with scaleout_server(env=env) as one, scaleout_server(env=env) as two:
            seer = await _open(one, "seer", path="discreet")
            await seer.call("track", group="lobby", key="seer")
            shy, loud = await _open(two, "shy"), await _open(two, "loud")
            await shy.call("track", group="lobby", key="shy", meta={"invisible": True})
            await loud.call("track", group="lobby", key="loud")
            await seer.until({"seer": [{}], "loud": [{}]})
            await loud.until({"seer": [{}], "shy": [{"invisible": True}], "loud": [{}]})
            assert set(await seer.call("presence", group="lobby")) == {"seer", "shy", "loud"}
            for client in (seer, shy, loud):
                await client.ws.close()
    finally:
        await _cleanup(prefix)


async def test_a_redis_that_restarts_empty_is_told_again_within_a_heartbeat():
    require_redis()  # the same rules as the other Redis tests
    with RedisServer() as store:
        env = {
            "SCALEOUT_HOSTS": store.url,
            "SCALEOUT_PREFIX": "presence",
            "SCALEOUT_PRESENCE_TIMEOUT": str(TIMEOUT),
            "EASY_CHANNELS_LAYER_TIMEOUT": "1",
        }
        with scaleout_server(env=env) as one, scaleout_server(env=env) as two:
            ana, bob = await _open(one, "ana"), await _open(two, "bob")
            await ana.call("track", group="lobby", key="ana")
            await bob.call("track", group="lobby", key="bob")
            await ana.until({"ana": [{}], "bob": [{}]})
            store.stop()
            store.start()  # empty: the entries are gone
            restarted = time.monotonic()
            while True:  # each process writes its entries again at its next heartbeat
                try:
                    members = await ana.call("presence", group="lobby")
                except AssertionError:  # an `unavailable` error while Redis comes back
                    members = None
                if members == {"ana": [{}], "bob": [{}]}:
                    break
                assert time.monotonic() - restarted < TIMEOUT / 3 + 5, members
                await asyncio.sleep(0.2)
            await bob.ws.close()  # and changes flow again between the processes
            await ana.until({"ana": [{}]})
            await ana.ws.close()
