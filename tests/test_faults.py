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
from tests.liveserver import serve

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


@pytest.mark.parametrize("socket_timeout", ["default", "15"], ids=["redis-py-default", "readme"])
@pytest.mark.parametrize("kind", ["uvicorn", "daphne"])
async def test_200_idle_redis_sockets_disconnect_promptly(kind, socket_timeout):
    """
    channels-redis 4.3 blocks each receive in BZPOPMIN for 5 s, and redis-py 8 gives up on a
    read after 5 s by default. A raw Channels consumer then raised TimeoutError on disconnect,
    or (with a longer timeout) took 10 s per disconnect. Here 200 sockets that sat idle past
    the 5 s mark leave one by one, each gone from its group at once, every application ends,
    and no timeout reaches the log as an error, with redis-py's default and with README's host
    configuration.
    """
    require_redis()
    prefix = f"faults{uuid.uuid4().hex[:8]}"
    env = {"SCALEOUT_PREFIX": prefix, "SCALEOUT_SOCKET_TIMEOUT": socket_timeout}
    client = redis.Redis.from_url(REDIS_URL)
    group_key = f"{prefix}:group:idle"
    try:
        with serve(
            "tests.scaleout.asgi:application",
            kind=kind,
            settings="tests.scaleout.settings",
            env=env,
        ) as server:
            url = f"{server.ws}/ws/room/?name=s"
            sockets = []
            for _ in range(SOCKETS // 50):
                batch = await asyncio.gather(
                    *(connect(url, origin="http://127.0.0.1", open_timeout=20) for _ in range(50))
                )
                await asyncio.gather(*(_request(ws, "join", group="idle") for ws in batch))
                sockets.extend(batch)
            assert await client.zcard(group_key) == SOCKETS
            await asyncio.sleep(6)  # every blocking receive has passed its 5 s mark

            slowest = 0.0
            for remaining, ws in zip(range(SOCKETS - 1, -1, -1), sockets, strict=True):
                started = time.monotonic()
                await ws.close()
                while await client.zcard(group_key) != remaining:
                    assert time.monotonic() - started < 1, f"disconnect {SOCKETS - remaining}"
                    await asyncio.sleep(0.005)
                slowest = max(slowest, time.monotonic() - started)
            assert slowest < 1

            # Every application has ended: its socket is no longer counted as open.
            async with connect(url, origin="http://127.0.0.1") as probe:
                deadline = time.monotonic() + 5
                while (stats := await _request(probe, "stats"))["sockets_open"] != 1:
                    assert time.monotonic() < deadline, stats
                    await asyncio.sleep(0.1)
                assert stats["sockets_accepted"] == SOCKETS + 1
            output = server.output()
        assert "Traceback" not in output and "TimeoutError" not in output, output[-3000:]
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
