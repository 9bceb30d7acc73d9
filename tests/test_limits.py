"""
A socket's limits act in the right order, through a real server (uvicorn).

Throttle used to run after the socket's queue: a flood filled MAX_PENDING_MESSAGES first and
was closed with 4000 (too many `overloaded` errors), not 4429, and up to 100 frames of 1 MiB
each could wait per socket before any throttling. Now frames are rate-limited as they arrive,
and the frames waiting for a busy handler are bounded in bytes too (MAX_PENDING_BYTES).
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from easy_channels import JSONWebSocket, agroup_call_event, server_only, stats
from tests.liveserver import serve
from tests.utils import communicator

pytestmark = pytest.mark.timeout(60)


APP = "tests.servers.asgi:application"
ORIGIN = {"origin": "http://127.0.0.1"}


@pytest.fixture(scope="module")
def server():
    with serve(APP, kind="uvicorn") as running:
        yield running


async def _frames(ws) -> list[dict]:
    frames = []
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(20):
            while True:
                frames.append(json.loads(await ws.recv()))
    return frames


async def test_a_flood_is_throttled_as_it_arrives_and_closed_with_4429(server):
    async with connect(f"{server.ws}/ws/throttled/", **ORIGIN) as ws:
        for n in range(1000):
            await ws.send(json.dumps({"event": "work", "ack": n}))
        frames = await _frames(ws)
    codes = [f.get("code") for f in frames if f["event"] == "error"]
    assert ws.close_code == 4429, (ws.close_code, codes[:30])
    assert codes and set(codes) == {"rate_limited"}, set(codes)
    limited = [f for f in frames if f.get("code") == "rate_limited"]
    assert all(isinstance(f.get("ack"), int) for f in limited)  # answered with its ack
    async with connect(f"{server.ws}/ws/throttled/", **ORIGIN) as probe:
        await probe.send(json.dumps({"event": "runs", "ack": 1}))
        runs = json.loads(await probe.recv())["data"]
    # The burst (20 + 20) and what refilled while they ran, never the queue's 100.
    assert runs <= 60, runs


async def test_waiting_frames_are_bounded_in_bytes(server):
    data = "x" * (512 * 1024)
    async with connect(f"{server.ws}/ws/slow/", max_size=None, **ORIGIN) as ws:
        for n in range(15):
            await ws.send(json.dumps({"event": "hold", "ack": n, "data": data}))
        replies = []
        async with asyncio.timeout(20):
            while len(replies) < 15:
                replies.append(json.loads(await ws.recv()))
        overloaded = [r for r in replies if r.get("code") == "overloaded"]
        handled = [r for r in replies if r["event"] == "ack"]
        # One frame runs, one waits (512 KiB); the others would pass MAX_PENDING_BYTES (1 MiB).
        assert len(handled) <= 3 and len(overloaded) >= 12, (len(handled), len(overloaded))
        assert len(handled) + len(overloaded) == 15
        await ws.send(json.dumps({"event": "hold", "ack": 99, "data": "ok"}))
        async with asyncio.timeout(5):
            while (reply := json.loads(await ws.recv()))["ack"] != 99:
                pass
        assert reply == {"event": "ack", "ack": 99, "data": 2}  # still open and serving


class Busy(JSONWebSocket):
    groups = ["busy"]

    @server_only
    async def on_tick(self, payload):
        await asyncio.sleep(30)


async def test_server_calls_waiting_for_a_busy_socket_are_bounded(channel_layer, settings):
    """group_call_event to a socket whose handler is busy: at most 2 x MAX_PENDING wait."""
    settings.EASY_CHANNELS = {"MAX_PENDING_MESSAGES": 10}
    comm = communicator(Busy)
    assert (await comm.connect())[0]
    before = stats()["drops"].get("overloaded", 0)
    for n in range(100):
        await agroup_call_event("busy", "tick", {"n": n})
    await asyncio.sleep(0.5)
    dropped = stats()["drops"].get("overloaded", 0) - before
    # One runs, 20 wait, the rest are dropped and counted.
    assert 100 - 2 * 10 - 3 <= dropped <= 100 - 2 * 10, dropped
    await comm.disconnect()
