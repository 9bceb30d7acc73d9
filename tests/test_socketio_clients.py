"""
python-socketio's ``AsyncClient`` as an oracle: a real Socket.IO client, written by others,
against our consumers on real servers (uvicorn and daphne), over WebSocket and over HTTP
long-polling with its upgrade (the client's default), and across two processes on Redis.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import socketio
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import require_redis
from tests.liveserver import serve

APP = "tests.sio_site.asgi:application"
SETTINGS = "tests.sio_site.settings"


@pytest.fixture(scope="module", params=["uvicorn", "daphne"])
def server(request):
    with serve(APP, kind=request.param, settings=SETTINGS) as running:
        yield running


class Recorder:
    """The events one client got, by name, awaited with a timeout."""

    def __init__(self, client: socketio.AsyncClient, namespace: str = "/room"):
        self.events: dict[str, asyncio.Queue] = {}
        self.client = client
        self.namespace = namespace

    def listen(self, *names: str) -> None:
        for name in names:
            queue = self.events.setdefault(name, asyncio.Queue())

            async def handler(*args, _queue=queue):
                await _queue.put(args)

            self.client.on(name, handler, namespace=self.namespace)

    async def next(self, name: str, within: float = 5) -> tuple:
        return await asyncio.wait_for(self.events[name].get(), within)


async def _client(url: str, transports=None, auth=None, namespaces=("/room",)):
    client = socketio.AsyncClient(reconnection=False)
    recorder = Recorder(client)
    recorder.listen("welcome", "said", "whispered", "poked", "error")
    await client.connect(
        url, namespaces=list(namespaces), transports=transports, auth=auth, wait_timeout=5
    )
    return client, recorder


@pytest.mark.parametrize("transports", [["websocket"], None], ids=["websocket", "polling"])
async def test_events_acks_and_errors(server, transports):
    client, rec = await _client(server.url, transports, auth={"token": "t1"})
    try:
        assert await rec.next("welcome") == ({"auth": {"token": "t1"}},)
        assert await client.call("join", "lobby", namespace="/room", timeout=5) == ["lobby"]
        # An event name with a space, bound with @on.
        assert await client.call("new message", "hi", namespace="/room", timeout=5) == {
            "echo": "hi"
        }
        # A tuple is several arguments (call() gives them as a tuple).
        assert await client.call("two", namespace="/room", timeout=5) == ("a", 2)
        # A SocketError reaches the client through its ack.
        assert await client.call("refuse", namespace="/room", timeout=5) == {
            "error": {"code": "not_allowed", "message": "Nope.", "details": {"why": "test"}}
        }
        # Binary both ways.
        assert await client.call("binary", b"\x00\x01\xff", namespace="/room", timeout=5) == {
            "got": b"\x00\x01\xff",
            "size": 3,
        }
        # An unknown event, with an ack: an error object, the socket stays.
        reply = await client.call("nope", namespace="/room", timeout=5)
        assert reply["error"]["code"] == "unknown_event"
        if transports is None:  # the default client starts with polling, then upgrades
            await asyncio.sleep(0.5)
            assert client.transport() == "websocket"
    finally:
        await client.disconnect()


async def test_the_server_calls_the_client(server):
    client, _ = await _client(server.url, ["websocket"])

    @client.on("question", namespace="/room")
    async def question(data):
        return {"doubled": data * 2}

    try:
        assert await client.call("ask", 21, namespace="/room", timeout=5) == {"doubled": 42}
    finally:
        await client.disconnect()


async def test_presence_reaches_socketio_clients(server):
    a, rec_a = await _client(server.url, ["websocket"])
    b, rec_b = await _client(server.url)
    for rec in (rec_a, rec_b):
        rec.listen("presence_state", "presence_diff")
    try:
        await a.emit("track", {"room": "p1", "name": "ana"}, namespace="/room")
        (state,) = await rec_a.next("presence_state")
        assert state["group"] == "p1" and list(state["members"]) == ["ana"]
        await b.emit("track", {"room": "p1", "name": "bob"}, namespace="/room")
        (state,) = await rec_b.next("presence_state")
        assert sorted(state["members"]) == ["ana", "bob"]
        (diff,) = await rec_a.next("presence_diff")
        assert list(diff["joins"]) == ["bob"] and diff["leaves"] == {}
        await b.emit("untrack", {"room": "p1"}, namespace="/room")
        (empty,) = await rec_b.next("presence_state")
        assert empty["members"] == {}
        (diff,) = await rec_a.next("presence_diff")
        assert list(diff["leaves"]) == ["bob"]
    finally:
        await a.disconnect()
        await b.disconnect()


async def test_rooms_exclude_self_send_to_and_group_call_event(server):
    a, rec_a = await _client(server.url, ["websocket"])
    b, rec_b = await _client(server.url)  # polling, then WebSocket
    try:
        for client in (a, b):
            await client.call("join", "r1", namespace="/room", timeout=5)
        await a.emit("say", {"room": "r1", "text": "hello"}, namespace="/room")
        assert await rec_a.next("said") == ({"text": "hello"},)
        assert await rec_b.next("said") == ({"text": "hello"},)
        await a.emit("say", {"room": "r1", "text": "only b", "exclude_self": True}, "/room")
        assert await rec_b.next("said") == ({"text": "only b"},)
        with pytest.raises(asyncio.TimeoutError):
            await rec_a.next("said", within=0.3)
        channel = await b.call("whoami", namespace="/room", timeout=5)
        await a.emit("whisper", {"to": channel, "text": "psst"}, namespace="/room")
        assert await rec_b.next("whispered") == ({"text": "psst"},)
        await a.emit("poke", {"room": "r1", "by": "a"}, namespace="/room")
        assert await rec_a.next("poked") == ({"by": "a"},)
        assert await rec_b.next("poked") == ({"by": "a"},)
    finally:
        await a.disconnect()
        await b.disconnect()


async def test_a_group_of_both_protocols(server):
    """A JSON client and a Socket.IO client in one group each get the broadcast."""
    client, rec = await _client(server.url, ["websocket"])
    try:
        await client.call("join", "mixed", namespace="/room", timeout=5)
        async with connect(f"{server.ws}/ws/room/", origin="http://127.0.0.1") as ws:
            await ws.send(json.dumps({"event": "join", "ack": 1, "room": "mixed"}))
            joined = None
            while joined is None:
                frame = json.loads(await ws.recv())
                if frame.get("event") == "ack":
                    joined = frame
            await client.emit("say", {"room": "mixed", "text": "to all"}, namespace="/room")
            assert await rec.next("said") == ({"text": "to all"},)
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if frame.get("event") == "said":
                    break
            assert frame == {"event": "said", "text": "to all"}
    finally:
        await client.disconnect()


async def test_group_sends_carry_any_payload(server):
    """
    A tuple is several arguments, any other value one, ``bytes`` a binary attachment, from a
    consumer and from the module functions; a JSON member of the group gets only the dict
    frame (the others are counted and logged once for it).
    """
    client, rec = await _client(server.url, ["websocket"])
    rec.listen("shouted")
    try:
        await client.call("join", "any", namespace="/room", timeout=5)
        me = await client.call("whoami", namespace="/room", timeout=5)
        async with connect(f"{server.ws}/ws/room/", origin="http://127.0.0.1") as ws:
            await ws.send(json.dumps({"event": "join", "ack": 1, "room": "any"}))
            while json.loads(await ws.recv()).get("event") != "ack":
                pass
            await client.emit("shout", {"room": "any", "to": me}, namespace="/room")
            got = [await rec.next("shouted") for _ in range(6)]
            assert got == [
                ("x", 2, {"k": 1}),
                ("a string",),
                ([1, 2],),
                ({"blob": b"\x00\xffbin"},),
                ("to", "you"),
                ({"last": True},),
            ]
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert frame == {"event": "shouted", "last": True}
            await client.emit("shout_from_thread", {"room": "any"}, namespace="/room")
            got = {await rec.next("shouted"), await rec.next("shouted")}
            assert got == {("from", "thread"), (b"\x01raw",)}
        assert server.output().count("carries dict payloads only") == 1
    finally:
        await client.disconnect()


async def test_connect_error_and_unknown_namespace(server):
    client = socketio.AsyncClient(reconnection=False)
    errors = []
    client.on("connect_error", lambda data: errors.append(data), namespace="/room")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(
            server.url, namespaces=["/room"], transports=["websocket"], auth={"token": "bad"}
        )
    # Reject(code, reason) is CONNECT_ERROR {"message": reason, "data": {"code": code}}.
    assert errors == [{"message": "Bad token.", "data": {"code": 4401}}]
    client = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(server.url, namespaces=["/nowhere"], transports=["websocket"])


async def test_several_namespaces_share_one_connection(server):
    client = socketio.AsyncClient(reconnection=False)
    got = asyncio.Queue()

    @client.on("auth", namespace="/custom")
    async def custom_auth(data):
        await got.put(("custom", data))

    @client.on("auth")
    async def main_auth(data):
        await got.put(("main", data))

    await client.connect(server.url, namespaces=["/", "/custom", "/room"], auth={"k": 1})
    try:
        seen = sorted([await asyncio.wait_for(got.get(), 5) for _ in range(2)])
        assert seen == [("custom", {"k": 1}), ("main", {"k": 1})]
        assert await client.call("two", namespace="/room", timeout=5) == ("a", 2)
        assert client.get_sid("/") != client.get_sid("/custom")
        # One Engine.IO connection carries them all.
        assert client.eio.sid is not None
    finally:
        await client.disconnect()


async def test_the_attachments_of_one_event_are_bounded(server):
    """Each frame fits maxPayload, but one event's attachments are MAX_MESSAGE_SIZE in all."""
    async with connect(f"{server.ws}/socket.io/?EIO=4&transport=websocket") as ws:
        await ws.recv()
        await ws.send("40/room,")
        await ws.recv()
        await ws.send('452-/room,["binary",{"_placeholder":true,"num":0}]')
        await ws.send(b"x" * 600_000)
        await ws.send(b"y" * 600_000)  # 1.2 MB in all: over the 1 MiB default
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 5)


async def test_max_payload_counts_utf8_bytes():
    """A frame of 600 characters is 1,200 bytes in UTF-8 when each is "é": over 1,000."""
    with serve(APP, settings=SETTINGS, env={"SIO_MAX_PAYLOAD": "1000"}) as small:
        url = f"{small.ws}/socket.io/?EIO=4&transport=websocket"
        async with connect(url) as ws:
            assert json.loads((await ws.recv())[1:])["maxPayload"] == 1000
            await ws.send("40/room,")
            assert (await ws.recv()).startswith("40/room,")
            await ws.recv()  # welcome
            await ws.send('42/room,1["new message","' + "a" * 900 + '"]')  # 925 bytes: fine
            assert (await asyncio.wait_for(ws.recv(), 5)).startswith("43/room,1[")
            await ws.send('42/room,2["new message","' + "é" * 600 + '"]')  # 625 characters
            with pytest.raises(ConnectionClosed):  # not answered: the session is closed
                while True:
                    await asyncio.wait_for(ws.recv(), 5)


async def test_server_close_is_a_namespace_disconnect(server):
    client, _ = await _client(server.url, ["websocket"])
    gone = asyncio.Event()
    client.on("disconnect", lambda *args: gone.set(), namespace="/room")
    await client.emit("leave", namespace="/room")
    await asyncio.wait_for(gone.wait(), 5)
    await client.disconnect()


@pytest.mark.redis
async def test_rooms_across_two_processes_on_redis():
    require_redis()
    prefix = f"ec-sio-{uuid.uuid4().hex[:8]}"
    env = {"SIO_REDIS_PREFIX": prefix}
    with (
        serve(APP, settings=SETTINGS, env=env) as one,
        serve(APP, kind="daphne", settings=SETTINGS, env=env) as two,
    ):
        a, rec_a = await _client(one.url, ["websocket"])
        b, rec_b = await _client(two.url)
        try:
            for client in (a, b):
                await client.call("join", "far", namespace="/room", timeout=5)
            await a.emit("say", {"room": "far", "text": "across"}, namespace="/room")
            assert await rec_b.next("said") == ({"text": "across"},)
            assert await rec_a.next("said") == ({"text": "across"},)
        finally:
            await a.disconnect()
            await b.disconnect()


@pytest.mark.redis
async def test_long_polling_needs_no_sticky_sessions():
    """Each request of one session lands on either of two processes: all are answered."""
    import aiohttp

    require_redis()
    prefix = f"ec-sio-{uuid.uuid4().hex[:8]}"
    env = {"SIO_REDIS_PREFIX": prefix, "SIO_PING": "25,20"}
    with (
        serve(APP, settings=SETTINGS, env=env) as one,
        serve(APP, kind="daphne", settings=SETTINGS, env=env) as two,
    ):
        path = "/socket.io/?EIO=4&transport=polling"
        async with aiohttp.ClientSession() as http:

            async def get(server, sid, within=5.0):
                async with http.get(
                    f"{server.url}{path}&sid={sid}", timeout=aiohttp.ClientTimeout(within)
                ) as response:
                    return response.status, await response.text()

            async def post(server, sid, body):
                async with http.post(f"{server.url}{path}&sid={sid}", data=body) as response:
                    return response.status, await response.text()

            async with http.get(f"{one.url}{path}") as response:
                sid = json.loads((await response.text())[1:])["sid"]
            assert await post(two, sid, "40/room,") == (200, "ok")
            status, body = await get(two, sid)
            assert status == 200
            packets = body.split("\x1e")
            assert packets[0].startswith('40/room,{"sid":')
            if len(packets) == 1:  # the welcome event came after the reply
                packets += (await get(one, sid))[1].split("\x1e")
            assert packets[1] == '42/room,["welcome",{"auth":{}}]'
            # A poll waiting on one process gets what a push to the other one caused.
            waiting = asyncio.ensure_future(get(two, sid))
            await asyncio.sleep(0.2)
            assert await post(one, sid, '42/room,1["join","x"]') == (200, "ok")
            assert await waiting == (200, '43/room,1[["x"]]')
            # A relayed poll whose client gives up: its packets are not lost.
            with pytest.raises(asyncio.TimeoutError):
                await get(two, sid, within=0.2)
            assert await post(two, sid, '42/room,2["two"]') == (200, "ok")
            status, body = await get(one, sid)
            assert (status, body) == (200, '43/room,2["a",2]')
            # A forged sid is refused, not relayed.
            forged = sid.split(".", 1)[0] + ".specific.x!y:forged"
            assert (await get(two, forged))[0] == 400
