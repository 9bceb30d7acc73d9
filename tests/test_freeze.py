"""
A client leaving at the wrong moment must never freeze the server process.

A handler still awaiting ``self.emit(...)`` or ``self.group_send(...)`` when its client left
made ``on_disconnect``'s settling of operations spin on that handler's operation without ever
yielding: the process used 100% CPU, refused new handshakes and ignored SIGTERM. Each test
reproduces one way it was reached through a real server, then proves the process is idle,
still accepts and serves a new socket, and stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from pathlib import Path

import pytest
import redis.asyncio as redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.liveserver import DeafClient, RedisServer, serve

pytestmark = pytest.mark.timeout(120)

APP = "tests.servers.asgi:application"
SETTINGS = "tests.servers.layers_settings"
ORIGIN = {"origin": "http://127.0.0.1"}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _assert_healthy(server) -> None:
    """The process is idle, serves a new socket at once, and stops on SIGTERM."""
    pid = server.proc.pid
    before = _cpu_seconds(pid)
    await asyncio.sleep(2)
    busy = _cpu_seconds(pid) - before
    assert busy < 1.0, f"the server used {busy:.1f}s of CPU in 2s while idle (a spinning loop)"
    async with asyncio.timeout(5):
        async with connect(f"{server.ws}/ws/echo/", open_timeout=5, **ORIGIN) as ws:
            await ws.send(json.dumps({"event": "echo", "ack": 1, "alive": True}))
            assert json.loads(await ws.recv()) == {
                "event": "ack",
                "ack": 1,
                "data": {"alive": True},
            }
    proc = server.proc
    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    while proc.poll() is None:
        assert time.monotonic() - started < 10, "the server ignored SIGTERM"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("kind", ["uvicorn", "daphne"])
async def test_client_that_reads_nothing_then_closes(kind):
    """(a) ``emit`` waits on the transport of a client that reads nothing; it sends close."""
    with serve(APP, kind=kind, settings=SETTINGS) as server:
        deaf = DeafClient(server.port, "/ws/flood/")
        deaf.send({"event": "flood", "ack": 1, "count": 2000, "size": 16 * 1024})
        await asyncio.sleep(1.5)  # the handler is stuck in emit by now
        deaf.send_close()
        await asyncio.sleep(0.5)  # the server handles the disconnect meanwhile
        deaf.drop()
        await _assert_healthy(server)
        assert "Traceback" not in server.output(), server.output()


@pytest.mark.redis
@pytest.mark.parametrize("layer", ["memory", "redis"])
async def test_client_leaves_while_its_handler_awaits_a_stalled_redis(layer):
    """(b) A handler awaits ``group_send`` while Redis is stalled; its client closes."""
    with RedisServer(debug_command=True) as stalled:
        env = {"TEST_LAYER": layer, "TEST_REDIS_URL": stalled.url, "TEST_PREFIX": "freeze"}
        with serve(APP, kind="uvicorn", settings=SETTINGS, env=env) as server:
            client = redis.Redis.from_url(stalled.url)
            try:
                async with connect(f"{server.ws}/ws/stall/", **ORIGIN) as ws:
                    await ws.send(json.dumps({"event": "send", "ack": 1, "text": "warm-up"}))
                    assert json.loads(await ws.recv())["data"] == "sent"
                    sleeping = asyncio.create_task(client.execute_command("DEBUG", "SLEEP", "4"))
                    await asyncio.sleep(0.3)
                    await ws.send(json.dumps({"event": "send", "ack": 2, "text": "stuck"}))
                    await asyncio.sleep(0.3)  # the handler now waits for Redis
                await sleeping  # Redis answers again
                await _assert_healthy(server)
            finally:
                await client.aclose()


async def test_fast_sender_closed_with_4000():
    """(c) A fast sender overflows its queue and is closed with 4000 (in-memory layer)."""
    with serve(APP, kind="uvicorn", settings=SETTINGS) as server:
        async with connect(f"{server.ws}/ws/flood/", **ORIGIN) as ws:
            frames = [json.dumps({"event": "spray", "n": n, "size": 20000}) for n in range(3000)]
            with contextlib.suppress(ConnectionClosed):
                for frame in frames:
                    await ws.send(frame)
            with contextlib.suppress(ConnectionClosed):
                while True:
                    await ws.recv()
        assert ws.close_code == 4000, ws.close_code
        await _assert_healthy(server)
