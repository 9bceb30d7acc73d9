"""
``recovery = True`` over Socket.IO: the official clients' connection state recovery. The
CONNECT reply carries the session (``pid``); every group frame ends with an offset saying how
far the socket has read each of its groups; a client that reconnects with ``pid`` and its last
offset in CONNECT's auth is resumed, and gets what it missed. This test speaks the protocol
by hand, exactly as socket.io-client does (its ``_pid`` and ``_lastOffset``).
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import socketio
from websockets.asyncio.client import connect

from tests.conftest import require_redis
from tests.liveserver import serve

NS = "/recovering"


@pytest.fixture(scope="module", params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def server(request):
    """The in-memory layer, and Redis (whose recovery log is JSON: binary goes as base64)."""
    env = {"SIO_PING": "25,20"}
    if request.param == "redis":
        require_redis()
        env["SIO_REDIS_PREFIX"] = f"ec-csr-{uuid.uuid4().hex[:8]}"
    with serve("tests.sio_site.asgi:application", settings="tests.sio_site.settings",
               env=env) as running:  # fmt: skip
        yield running


async def _open(server, auth):
    ws = await connect(f"{server.ws}/socket.io/?EIO=4&transport=websocket")
    assert (await ws.recv()).startswith("0")
    await ws.send(f"40{NS},{json.dumps(auth)}")
    reply = await ws.recv()
    assert reply.startswith(f"40{NS},")
    return ws, json.loads(reply[len(NS) + 3 :])


async def _event(ws):
    while True:
        packet = await asyncio.wait_for(ws.recv(), 5)
        if packet.startswith(f"42{NS},"):
            return json.loads(packet[len(NS) + 3 :])
        if packet.startswith(f"43{NS},"):
            continue


async def _speaker(server):
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(server.url, namespaces=["/room"], transports=["websocket"])
    return client


async def test_a_dropped_socket_resumes_with_what_it_missed(server):
    ws, hello = await _open(server, {})
    pid = hello["pid"]
    assert await _event(ws) == ["welcome", {"recovered": False}]
    await ws.send(f'42{NS},1["join","csr"]')
    speaker = await _speaker(server)
    try:
        await speaker.emit("say", {"room": "csr", "text": "one"}, namespace="/room")
        name, payload, offset = await _event(ws)
        assert (name, payload) == ("said", {"text": "one"})
        assert offset.startswith("csr@")
        ws.transport.abort()  # dropped, no close frame: the session is kept
        await asyncio.sleep(0.3)
        for text in ("two", "three"):
            await speaker.emit("say", {"room": "csr", "text": text}, namespace="/room")
        await asyncio.sleep(0.3)
        ws, hello = await _open(server, {"pid": pid, "offset": offset})
        assert hello["pid"] == pid  # resumed: socket.io-client sets socket.recovered
        got = [await _event(ws) for _ in range(3)]
        # What it missed comes first (as with the JSON protocol), then on_connect's events.
        assert [event[:2] for event in got[:2]] == [
            ["said", {"text": "two"}],
            ["said", {"text": "three"}],
        ]
        assert got[2] == ["welcome", {"recovered": True}]
        # Back in the group: live frames come, their offsets go on.
        await speaker.emit("say", {"room": "csr", "text": "four"}, namespace="/room")
        name, payload, later = await _event(ws)
        assert payload == {"text": "four"} and later > got[1][2]
        await ws.close()
    finally:
        await speaker.disconnect()


async def test_missed_frames_of_any_payload_are_replayed(server):
    """Several arguments, one string, binary attachments: replayed as sent, offset last."""
    ws, hello = await _open(server, {})
    await _event(ws)  # welcome
    await ws.send(f'42{NS},1["join","csr-any"]')
    speaker = await _speaker(server)
    try:
        await speaker.emit("say", {"room": "csr-any", "text": "one"}, namespace="/room")
        offset = (await _event(ws))[-1]
        ws.transport.abort()
        await asyncio.sleep(0.3)
        to = await speaker.call("whoami", namespace="/room", timeout=5)
        await speaker.emit("shout", {"room": "csr-any", "to": to}, namespace="/room")
        await asyncio.sleep(0.3)
        ws, again = await _open(server, {"pid": hello["pid"], "offset": offset})
        assert again["pid"] == hello["pid"]
        packets = [await asyncio.wait_for(ws.recv(), 5) for _ in range(6)]
        texts = [json.loads(p[p.index("[") :]) for p in packets if isinstance(p, str)]
        assert [t[:-1] for t in texts] == [
            ["shouted", "x", 2, {"k": 1}],
            ["shouted", "a string"],
            ["shouted", [1, 2]],
            ["shouted", {"blob": {"_placeholder": True, "num": 0}}],
            ["shouted", {"last": True}],
        ]
        assert all(t[-1].startswith("csr-any@") for t in texts)
        assert packets[3].startswith(f"451-{NS},") and packets[4] == b"\x00\xffbin"
        await ws.close()
    finally:
        await speaker.disconnect()


async def test_an_offset_that_is_not_ours_starts_a_new_session(server):
    ws, hello = await _open(server, {})
    ws.transport.abort()
    await asyncio.sleep(0.3)
    ws, again = await _open(server, {"pid": hello["pid"], "offset": "an app's string"})
    assert again["pid"] != hello["pid"]
    assert await _event(ws) == ["welcome", {"recovered": False}]
    await ws.close()


async def test_reserved_event_names_are_refused_at_the_sender(server):
    """socket.io-client would close the connection on them: the server never sends them."""
    from easy_channels.socketio_codec import SocketIOCodec

    with pytest.raises(ValueError, match=r"reserved by Socket\.IO clients"):
        SocketIOCodec("/", 1000).event("connect", None)
