"""
Every message lost inside the server process is counted and logged, on every layer.

channels-redis' receive keeps a local queue per channel that drops the oldest message without a
word once a socket falls behind: 3,000 ``send_to`` messages to a socket that stopped reading
arrived 707 times, were counted 618 times (Redis capacity), and 1,675 vanished. Here a real
server's socket stops reading while another socket sends it 3,000 messages; afterwards what it
read plus what the counters say was dropped is all 3,000, and the drop was logged, once.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from websockets.asyncio.client import connect

from tests.conftest import REDIS_URL, require_redis
from tests.liveserver import DeafClient, serve

pytestmark = pytest.mark.timeout(120)

APP = "tests.servers.asgi:application"
SETTINGS = "tests.servers.layers_settings"
ORIGIN = {"origin": "http://127.0.0.1"}
MESSAGES = 3000

LAYERS = [
    pytest.param({"TEST_LAYER": "memory"}, id="memory"),
    pytest.param({"TEST_LAYER": "redis"}, id="redis", marks=pytest.mark.redis),
    # A plain URL, as every tutorial writes it: redis-py's own 5 s read timeout.
    pytest.param(
        {"TEST_LAYER": "redis", "TEST_REDIS_HOST": "plain"}, id="redis-url", marks=pytest.mark.redis
    ),
]


async def _request(ws, event: str, ack: int, **payload):
    await ws.send(json.dumps({"event": event, "ack": ack, **payload}))
    async with asyncio.timeout(10):
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("ack") == ack:
                return frame["data"]


@pytest.mark.parametrize("env", LAYERS)
async def test_messages_to_a_socket_that_stopped_reading_are_all_accounted_for(env):
    if env["TEST_LAYER"] == "redis":
        require_redis()
    env = {**env, "TEST_REDIS_URL": REDIS_URL, "TEST_PREFIX": f"losses{uuid.uuid4().hex[:8]}"}
    with serve(APP, kind="uvicorn", settings=SETTINGS, env=env) as server:
        deaf = DeafClient(server.port, "/ws/flood/")
        try:
            deaf.send({"event": "whoami", "ack": 1})
            reply = deaf.recv()
            assert reply is not None and reply["ack"] == 1, reply
            target = reply["data"]
            pad = "x" * 4000  # 12 MB in all: far more than the kernel's buffers hold
            async with connect(f"{server.ws}/ws/flood/", **ORIGIN) as sender:
                for n in range(MESSAGES):
                    frame = {"event": "whisper", "to": target, "n": n, "pad": pad}
                    await sender.send(json.dumps(frame))
                    if n % 50 == 49:  # keep under MAX_PENDING_MESSAGES frames in flight
                        await _request(sender, "whoami", ack=n)
                await asyncio.sleep(1)
                # The deaf socket reads again: everything still on its way arrives.
                seen = []
                while (frame := deaf.recv(timeout=3)) is not None:
                    if frame.get("event") == "whispered":
                        seen.append(frame["n"])
                stats = await _request(sender, "stats", ack=-1)
        finally:
            deaf.drop()
        output = server.output()
    drops = stats["drops"]
    lost = drops.get("channel_full", 0) + drops.get("slow_client", 0)
    assert len(seen) + lost == MESSAGES, (len(seen), drops)
    assert seen == sorted(seen), "what arrives arrives in order"
    assert len(seen) < MESSAGES, "the socket never fell behind: the test proves nothing"
    if drops.get("slow_client"):
        assert output.count("reads too slowly") == 1, output
    assert "Traceback" not in output, output


@pytest.mark.redis
async def test_a_plain_redis_url_loses_nothing_after_idling():
    """
    ``"hosts": ["redis://..."]``: redis-py 8's 5 s read timeout equals channels-redis' 5 s
    blocking receive, so an idle socket's reads timed out and a message handed out as one gave
    up was lost. easy_channels reads its channels itself, each wait well under that timeout:
    after sitting idle past it, every ``send_to`` and group message arrives, and nothing about
    a timeout reaches the log.
    """
    require_redis()
    env = {
        "TEST_LAYER": "redis",
        "TEST_REDIS_HOST": "plain",
        "TEST_REDIS_URL": REDIS_URL,
        "TEST_PREFIX": f"plain{uuid.uuid4().hex[:8]}",
    }
    with serve(APP, kind="uvicorn", settings=SETTINGS, env=env) as server:
        async with (
            connect(f"{server.ws}/ws/flood/", **ORIGIN) as a,
            connect(f"{server.ws}/ws/flood/", **ORIGIN) as b,
        ):
            target = await _request(b, "whoami", ack=1)
            await asyncio.sleep(7)  # past redis-py's 5 s read timeout, idle
            for n in range(200):
                await a.send(json.dumps({"event": "whisper", "to": target, "n": n}))
                await a.send(json.dumps({"event": "spray", "n": n, "size": 10}))
                if n % 20 == 19:  # under MAX_PENDING_MESSAGES frames in flight
                    await _request(a, "whoami", ack=100 + n)
            whispered, sprayed = [], 0
            async with asyncio.timeout(10):
                while len(whispered) < 200 or sprayed < 200:
                    frame = json.loads(await b.recv())
                    if frame["event"] == "whispered":
                        whispered.append(frame["n"])
                    elif frame["event"] == "sprayed":
                        sprayed += 1
            assert whispered == list(range(200))
            stats = await _request(a, "stats", ack=2)
        output = server.output()
    assert stats["drops"] == {}, stats["drops"]
    assert "Timeout" not in output and "Traceback" not in output, output
