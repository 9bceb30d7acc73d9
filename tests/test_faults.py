"""
Faults users meet in production, reproduced against real servers and a real Redis.

The scale-out test project (tests/scaleout) runs in uvicorn and daphne processes on
RedisChannelLayer; clients are real WebSocket clients (the websockets package).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
import redis.asyncio as redis
from websockets.asyncio.client import connect

from tests.conftest import REDIS_URL, require_redis
from tests.liveserver import scaleout_server

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]

SOCKETS = 200


async def _request(ws, event: str, **payload):
    await ws.send(json.dumps({"event": event, "ack": 1, **payload}))
    async with asyncio.timeout(10):
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("ack") == 1:
                assert frame["event"] == "ack", frame
                return frame["data"]


@pytest.mark.parametrize(
    "socket_timeout", ["plain", "default", "15"], ids=["plain-url", "redis-py-default", "readme"]
)
@pytest.mark.parametrize("kind", ["uvicorn", "daphne"])
async def test_200_idle_redis_sockets_disconnect_promptly(kind, socket_timeout):
    """
    channels-redis 4.3 blocks each receive in BZPOPMIN for 5 s, and redis-py 8 gives up on a
    read after 5 s by default. A raw Channels consumer then raised TimeoutError on disconnect,
    or (with a longer timeout) took 10 s per disconnect. Here 200 sockets that sat idle past
    the 5 s mark leave one by one, each application ending at once, the group is left in Redis
    with the last one, and no timeout reaches the log as an error, with redis-py's default and
    with README's host configuration.
    """
    require_redis()
    prefix = f"faults{uuid.uuid4().hex[:8]}"
    env = {"SCALEOUT_PREFIX": prefix, "SCALEOUT_SOCKET_TIMEOUT": socket_timeout}
    client = redis.Redis.from_url(REDIS_URL)
    group_key = f"{prefix}:group:idle"
    try:
        with scaleout_server(kind, env) as server:
            url = f"{server.ws}/ws/room/?name=s"
            sockets = []
            for _ in range(SOCKETS // 50):
                batch = await asyncio.gather(
                    *(connect(url, origin="http://127.0.0.1", open_timeout=20) for _ in range(50))
                )
                await asyncio.gather(*(_request(ws, "join", group="idle") for ws in batch))
                sockets.extend(batch)
            # The process is the group's one member in Redis, whatever its number of sockets.
            assert await client.zcard(group_key) == 1
            await asyncio.sleep(6)  # every blocking receive has passed its 5 s mark

            async with connect(url, origin="http://127.0.0.1") as probe:
                slowest = 0.0
                for remaining, ws in zip(range(SOCKETS - 1, -1, -1), sockets, strict=True):
                    started = time.monotonic()
                    await ws.close()
                    # The socket's application has ended: no longer counted as open.
                    while (await _request(probe, "stats"))["sockets_open"] != remaining + 1:
                        assert time.monotonic() - started < 1, f"disconnect {SOCKETS - remaining}"
                        await asyncio.sleep(0.005)
                    slowest = max(slowest, time.monotonic() - started)
                assert slowest < 1
                assert (await _request(probe, "stats"))["sockets_accepted"] == SOCKETS + 1
            assert await client.zcard(group_key) == 0  # the last member left: so did the process
            output = server.output()
        assert "Traceback" not in output and "TimeoutError" not in output, output[-3000:]
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


class _Client:
    """A test client of the scale-out project's Room consumer."""

    def __init__(self, ws):
        self.ws = ws
        self.acks = 0
        self.events: list[dict] = []

    async def call(self, event: str, **payload) -> dict:
        """Send with an ack; the answer (ack or error frame). Other frames go to ``events``."""
        self.acks += 1
        await self.ws.send(json.dumps({"event": event, "ack": self.acks, **payload}))
        async with asyncio.timeout(15):
            while True:
                frame = json.loads(await self.ws.recv())
                if frame.get("ack") == self.acks:
                    return frame
                self.events.append(frame)

    async def next(self, event: str) -> dict:
        for frame in self.events:
            if frame["event"] == event:
                self.events.remove(frame)
                return frame
        async with asyncio.timeout(15):
            while True:
                frame = json.loads(await self.ws.recv())
                if frame["event"] == event:
                    return frame
                self.events.append(frame)


@pytest.mark.parametrize("kind", ["uvicorn", "daphne"])
async def test_redis_outage_answers_unavailable_and_recovers_without_reconnecting(kind):
    """
    Redis stops under connected sockets of two processes: a handler that needs the layer
    answers with an `unavailable` error frame (its broadcast reached the members in its own
    process only, which got it before Redis was asked), sockets stay open, new sockets are
    refused with 4503; when Redis comes back (empty, as after a restart without persistence)
    both processes rejoin their groups and broadcasts flow between them again, without
    clients reconnecting.
    """
    from tests.liveserver import RedisServer

    require_redis()  # the same rules as the other Redis tests
    with RedisServer() as store:
        env = {
            "SCALEOUT_HOSTS": store.url,
            "SCALEOUT_PREFIX": "outage",
            "EASY_CHANNELS_LAYER_TIMEOUT": "1",
        }
        with scaleout_server(kind, env) as one, scaleout_server(kind, env) as two:
            here, there = f"{one.ws}/ws/room/?name=", f"{two.ws}/ws/room/?name="
            async with (
                connect(here + "ana", origin="http://127.0.0.1") as ana_ws,
                connect(here + "cyd", origin="http://127.0.0.1") as cyd_ws,
                connect(there + "bob", origin="http://127.0.0.1") as bob_ws,
            ):
                ana, cyd, bob = _Client(ana_ws), _Client(cyd_ws), _Client(bob_ws)
                for client in (ana, cyd, bob):
                    assert (await client.call("join", group="room"))["event"] == "ack"
                await ana.call("say", group="room", text="before")
                for client in (cyd, bob):
                    assert (await client.next("said"))["text"] == "before"

                store.stop()
                started = time.monotonic()
                reply = await ana.call("say", group="room", text="during")
                assert reply["event"] == "error" and reply["code"] == "unavailable", reply
                assert time.monotonic() - started < 5
                assert (await cyd.next("said"))["text"] == "during"  # same process as ana
                assert (await bob.call("whoami"))["event"] == "ack"  # still open and answering
                # A logged-in socket joins its user group on connect: refused, come back later.
                async with connect(here + "eve&user=5", origin="http://127.0.0.1") as eve:
                    refusal = json.loads(await asyncio.wait_for(eve.recv(), 15))
                    assert refusal["event"] == "connect_error" and refusal["code"] == 4503

                store.start()  # empty: every group membership is gone
                for sender, receiver in ((ana, bob), (bob, cyd)):  # each process rejoined
                    deadline = time.monotonic() + 20
                    while True:  # the readers notice, probe, and rejoin
                        reply = await sender.call("say", group="room", text="after")
                        if reply["event"] == "ack":
                            try:
                                said = await asyncio.wait_for(receiver.next("said"), 1)
                            except TimeoutError:
                                said = None
                            if said is not None:
                                assert said["text"] == "after"  # nothing from the outage
                                break
                        assert time.monotonic() < deadline, "broadcasts did not come back"
                        await asyncio.sleep(0.2)
                    sender.events.clear()
                    receiver.events.clear()
            outputs = [one.output(), two.output()]
        for output in outputs:
            assert "Traceback" not in output, output[-3000:]
            assert "the channel layer is back" in output


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@pytest.mark.timeout(180)
async def test_2000_sockets_in_waves_leave_no_state_behind(capsys):
    """
    Connect and disconnect 2,000 sockets in four waves of 500 against one process on Redis:
    afterwards the process holds no socket objects or extra tasks and Redis no memberships.
    Also measures what an idle socket costs in server memory (printed; README.rst quotes it).
    """
    require_redis()
    prefix = f"waves{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        with scaleout_server(env={"SCALEOUT_PREFIX": prefix}) as server:
            url = f"{server.ws}/ws/room/?name=w"
            async with connect(url, origin="http://127.0.0.1") as probe:
                baseline = await _request(probe, "objects")
                for wave in range(4):
                    before = _rss_kib(server.proc.pid)
                    sockets = []
                    for _ in range(10):
                        batch = await asyncio.gather(
                            *(connect(url, origin="http://127.0.0.1", open_timeout=30)
                              for _ in range(50))
                        )  # fmt: skip
                        await asyncio.gather(*(_request(ws, "join", group="wave") for ws in batch))
                        sockets.extend(batch)
                    assert await client.zcard(f"{prefix}:group:wave") == 1  # the process
                    if wave == 0:  # what 500 idle sockets cost a fresh process
                        per_socket = (_rss_kib(server.proc.pid) - before) / 500
                        with capsys.disabled():
                            print(f"\nmemory per idle socket (uvicorn): {per_socket:.0f} KiB")
                    await asyncio.gather(*(ws.close() for ws in sockets))
                    deadline = time.monotonic() + 20
                    while await client.zcard(f"{prefix}:group:wave") != 0:
                        assert time.monotonic() < deadline, "memberships left in Redis"
                        await asyncio.sleep(0.05)
                deadline = time.monotonic() + 20
                while not _same_state(now := await _request(probe, "objects"), baseline):
                    assert time.monotonic() < deadline, (baseline, now)
                    await asyncio.sleep(0.2)
                assert (await _request(probe, "stats"))["sockets_accepted"] == 2001
        assert [k async for k in client.scan_iter(match=f"{prefix}:group:*")] == []
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def _same_state(now: dict, baseline: dict) -> bool:
    """
    The same socket objects and tasks of ours as before the waves. channels-redis keeps up to
    two short-lived helper tasks per waiting receive (Lock.acquire, Queue.get), whatever the
    number of sockets: they are allowed.
    """

    def ours(state: dict) -> list[str]:
        return [t for t in state["tasks"] if t.split(".")[0] in ("JSONWebSocket", "_Responder")]

    return (
        now["sockets"] == baseline["sockets"]
        and ours(now) == ours(baseline)
        and len(now["tasks"]) <= len(baseline["tasks"]) + 2
    )


@pytest.mark.timeout(180)
async def test_1000_sockets_connecting_at_once_across_two_processes():
    """
    With channels-redis' and redis-py's defaults (no hand tuning), 1,000 sockets connecting at
    once across two processes all join, one broadcast reaches 1000/1000, and once they leave
    Redis holds no membership. (Raw Channels exhausted redis-py's 100-connection pool here.)
    """
    require_redis()
    prefix = f"storm{uuid.uuid4().hex[:8]}"
    env = {"SCALEOUT_PREFIX": prefix, "SCALEOUT_SOCKET_TIMEOUT": "default"}
    client = redis.Redis.from_url(REDIS_URL)
    try:
        with (
            scaleout_server(env=env) as one,
            scaleout_server(env=env) as two,
        ):
            urls = [f"{server.ws}/ws/room/?name=s" for server in (one, two)]
            sockets = await asyncio.gather(
                *(
                    connect(urls[i % 2], origin="http://127.0.0.1", open_timeout=60)
                    for i in range(1000)
                )
            )
            joined = await asyncio.gather(*(_request(ws, "join", group="storm") for ws in sockets))
            assert all("storm" in me["groups"] for me in joined)
            assert await client.zcard(f"{prefix}:group:storm") == 2  # one per process

            # Not _request: its reply may come after the broadcast, which it would skip.
            await sockets[0].send(
                json.dumps({"event": "say", "group": "storm", "text": "all of you"})
            )

            async def said(ws):
                async with asyncio.timeout(20):
                    while True:
                        frame = json.loads(await ws.recv())
                        if frame["event"] == "said":
                            return frame["text"]

            texts = await asyncio.gather(*(said(ws) for ws in sockets))
            assert texts.count("all of you") == 1000

            await asyncio.gather(*(ws.close() for ws in sockets))
            deadline = time.monotonic() + 20
            while await client.zcard(f"{prefix}:group:storm") != 0:
                assert time.monotonic() < deadline, "memberships left in Redis"
                await asyncio.sleep(0.1)
            output = one.output() + two.output()
        assert "Traceback" not in output and "MaxConnectionsError" not in output, output[-3000:]
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_500_pubsub_sockets_leaving_at_once_unsubscribe_cleanly():
    """
    On RedisPubSubChannelLayer a socket's channel is unsubscribed after its reader is
    cancelled, each unsubscribe waiting its turn. 500 sockets leaving at once used to have
    their readers cancelled a second time in that wait: channels-redis logged "Unexpected
    exception while cleaning-up channel" for about half of them.
    """
    require_redis()
    prefix = f"psleave{uuid.uuid4().hex[:8]}"
    env = {"SCALEOUT_LAYER": "pubsub", "SCALEOUT_PREFIX": prefix}
    client = redis.Redis.from_url(REDIS_URL)

    async def subscribed() -> int:
        return len(await client.pubsub_channels(f"{prefix}*"))

    try:
        with scaleout_server(env=env) as server:
            url = f"{server.ws}/ws/room/?name=s"
            sockets = await asyncio.gather(
                *(connect(url, origin="http://127.0.0.1", open_timeout=60) for _ in range(500))
            )
            await asyncio.gather(*(_request(ws, "join", group="leaving") for ws in sockets))
            assert await subscribed() >= 500  # one channel per socket, and the group's
            await asyncio.gather(*(ws.close() for ws in sockets))
            deadline = time.monotonic() + 30
            while await subscribed():
                assert time.monotonic() < deadline, "channels left subscribed"
                await asyncio.sleep(0.2)
            output = server.output()
        assert "cleaning-up channel" not in output, output[-3000:]
        assert "Traceback" not in output, output[-3000:]
    finally:
        await client.aclose()
