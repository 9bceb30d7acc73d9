"""Groups, broadcasts, server-side calls and direct sends, on the in-memory layer and Redis."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

import easy_channels
from easy_channels import JSONWebSocket, server_only
from tests.utils import communicator, group_members, local_members, receive, request, send


class SyncRoom(JSONWebSocket):
    """Every action from plain ``def`` handlers."""

    def on_join(self, payload):
        self.group_add(payload["group"])
        return sorted(self.joined_groups)

    def on_leave(self, payload):
        self.group_discard(payload["group"])
        return sorted(self.joined_groups)

    def on_say(self, payload):
        self.group_send(payload["group"], "said", {"text": payload["text"]})

    def on_say_others(self, payload):
        self.group_send(payload["group"], "said", {"text": payload["text"]}, exclude_self=True)

    def on_call(self, payload):
        self.group_call_event(payload["group"], "notified", {"by": self.channel_name})

    def on_whisper(self, payload):
        self.send_to(payload["to"], "whispered", {"text": payload["text"]})

    def on_whoami(self):
        return self.channel_name

    def on_bye(self):
        self.close(4001, "bye")

    @server_only
    def on_notified(self, payload):
        self.emit("notified", payload)


class AsyncRoom(JSONWebSocket):
    """Every action from ``async def`` handlers."""

    async def on_join(self, payload):
        await self.group_add(payload["group"])
        return sorted(self.joined_groups)

    async def on_leave(self, payload):
        await self.group_discard(payload["group"])
        return sorted(self.joined_groups)

    async def on_say(self, payload):
        await self.group_send(payload["group"], "said", {"text": payload["text"]})

    async def on_say_others(self, payload):
        await self.group_send(
            payload["group"], "said", {"text": payload["text"]}, exclude_self=True
        )

    async def on_call(self, payload):
        await self.group_call_event(payload["group"], "notified", {"by": self.channel_name})

    async def on_whisper(self, payload):
        await self.send_to(payload["to"], "whispered", {"text": payload["text"]})

    async def on_whoami(self):
        return self.channel_name

    async def on_bye(self):
        await self.close(4001, "bye")

    @server_only
    async def on_notified(self, payload):
        await self.emit("notified", payload)


ROOMS = pytest.mark.parametrize("room", [SyncRoom, AsyncRoom], ids=["sync", "async"])


async def join(room, group, n=2):
    comms = []
    for _ in range(n):
        comm = communicator(room)
        assert (await comm.connect())[0]
        assert group in (await request(comm, "join", group=group))["data"]
        comms.append(comm)
    return comms


@ROOMS
async def test_group_send_reaches_every_member(channel_layer, room):
    a, b = await join(room, "room1")
    outsider = communicator(room)
    await outsider.connect()
    await send(a, "say", group="room1", text="hi")
    assert await receive(a) == {"event": "said", "text": "hi"}
    assert await receive(b) == {"event": "said", "text": "hi"}
    assert await outsider.receive_nothing(0.2)
    for c in (a, b, outsider):
        await c.disconnect()


@ROOMS
async def test_exclude_self(channel_layer, room):
    a, b = await join(room, "room2")
    await send(a, "say_others", group="room2", text="hi")
    assert await receive(b) == {"event": "said", "text": "hi"}
    assert await a.receive_nothing(0.2)
    await a.disconnect()
    await b.disconnect()


@ROOMS
async def test_group_discard(channel_layer, room):
    a, b = await join(room, "room3")
    assert (await request(b, "leave", group="room3"))["data"] == []
    await send(a, "say", group="room3", text="hi")
    assert await receive(a) == {"event": "said", "text": "hi"}
    assert await b.receive_nothing(0.2)
    await a.disconnect()
    await b.disconnect()


@ROOMS
async def test_send_to_one_socket(channel_layer, room):
    a, b = await join(room, "room4")
    b_name = (await request(b, "whoami"))["data"]
    await send(a, "whisper", to=b_name, text="psst")
    assert await receive(b) == {"event": "whispered", "text": "psst"}
    assert await a.receive_nothing(0.2)
    await a.disconnect()
    await b.disconnect()


@ROOMS
async def test_group_call_event_runs_server_side_handlers(channel_layer, room):
    a, b = await join(room, "room5")
    a_name = (await request(a, "whoami"))["data"]
    await send(a, "call", group="room5")
    # on_notified is @server_only: reached by group_call_event, it emits to its own client.
    assert await receive(a) == {"event": "notified", "by": a_name}
    assert await receive(b) == {"event": "notified", "by": a_name}
    # ...and a client can't call it.
    assert (await request(b, "notified"))["code"] == "unknown_event"
    await a.disconnect()
    await b.disconnect()


@ROOMS
async def test_close_from_a_handler(channel_layer, room):
    (a,) = await join(room, "room6", n=1)
    await send(a, "bye")
    assert await a.receive_output(1) == {"type": "websocket.close", "code": 4001, "reason": "bye"}
    await a.disconnect()
    assert await group_members(channel_layer, "room6") == set()


async def test_group_call_event_to_a_member_lacking_the_handler(channel_layer, caplog):
    class Bare(JSONWebSocket):
        groups = ["mixed"]

        def on_echo(self, payload):
            return payload

    (a,) = await join(SyncRoom, "mixed", n=1)
    bare = communicator(Bare)
    assert (await bare.connect())[0]
    with caplog.at_level(logging.DEBUG, logger="easy_channels"):
        await send(a, "call", group="mixed")
        assert (await receive(a))["event"] == "notified"
        assert await bare.receive_nothing(0.3)
    assert "has no handler for server event 'notified'" in caplog.text
    # The member lacking the handler is still open and answering.
    assert (await request(bare, "echo", x=1))["data"] == {"x": 1}
    await a.disconnect()
    await bare.disconnect()


async def test_class_groups_and_joined_groups(channel_layer):
    class Lobby(JSONWebSocket):
        groups = ["lobby", "everyone"]

        def on_groups(self):
            return sorted(self.joined_groups)

    comm = communicator(Lobby)
    assert (await comm.connect())[0]
    assert (await request(comm, "groups"))["data"] == ["everyone", "lobby"]
    assert len(await group_members(channel_layer, "lobby")) == 1
    await comm.disconnect()
    assert await group_members(channel_layer, "lobby") == set()
    assert await group_members(channel_layer, "everyone") == set()


async def test_groups_are_left_on_disconnect(channel_layer):
    a, b = await join(SyncRoom, "room7")
    assert len(local_members(channel_layer, "room7")) == 2
    # The process is one member of the layer's group, whatever its number of sockets.
    assert len(await group_members(channel_layer, "room7")) == 1
    await a.disconnect()
    assert len(local_members(channel_layer, "room7")) == 1
    assert len(await group_members(channel_layer, "room7")) == 1
    await b.disconnect()
    assert local_members(channel_layer, "room7") == set()
    assert await group_members(channel_layer, "room7") == set()


async def test_a_group_send_is_encoded_once_by_the_sender(channel_layer):
    """Members receive the finished frame text: nothing is re-encoded per member."""
    (a,) = await join(SyncRoom, "room8", n=1)
    probe = await channel_layer.new_channel()
    await channel_layer.group_add("room8", probe)
    await send(a, "say", group="room8", text="hi")
    message = await asyncio.wait_for(channel_layer.receive(probe), 2)
    # Its position, for sockets that recover (sent whenever a consumer class with
    # recovery = True exists, as tests/test_recovery.py's do).
    position = message.pop("_pos", None)
    assert position is None or position[0] == "room8"
    assert message == {"type": "easy_channels.frame", "text": '{"event":"said","text":"hi"}'}
    await channel_layer.group_discard("room8", probe)
    await a.disconnect()


async def test_channels_style_layer_messages_reach_plain_methods(channel_layer, caplog):
    class Legacy(JSONWebSocket):
        groups = ["legacy"]

        async def chat_message(self, message):
            await self.emit("chat", {"text": message["text"]})

        def on_echo(self, payload):
            return payload

    comm = communicator(Legacy)
    assert (await comm.connect())[0]
    await channel_layer.group_send("legacy", {"type": "chat.message", "text": "hi"})
    assert await receive(comm) == {"event": "chat", "text": "hi"}
    # Unknown types and types naming library methods are ignored, not fatal.
    for kind in ("no.such.handler", "accept", "group.add", "on.echo", "websocket.disconnect"):
        await channel_layer.group_send("legacy", {"type": kind})
    assert await comm.receive_nothing(0.3)
    assert "no handler for layer message type 'accept'" in caplog.text
    assert (await request(comm, "echo", x=1))["data"] == {"x": 1}
    await comm.disconnect()


async def test_bad_group_names_are_a_clear_error_at_the_caller():
    class Bad(JSONWebSocket):
        def on_join(self, payload):
            try:
                self.group_add(payload["group"])
            except ValueError as exc:
                return str(exc)

    comm = communicator(Bad)
    await comm.connect()
    for group in ("has space", "", "x" * 100, "émoji"):
        reply = await request(comm, "join", group=group)
        assert reply["data"].startswith("Invalid group name")
    await comm.disconnect()


async def test_group_send_from_a_foreign_thread_runs_on_the_consumer_loop(channel_layer):
    """Consumer methods called from a plain thread (not a handler) still work."""
    import threading

    holder = {}

    class Threaded(JSONWebSocket):
        def on_connect(self):
            holder["consumer"] = self

    comm = communicator(Threaded)
    await comm.connect()
    consumer = holder["consumer"]
    thread = threading.Thread(target=lambda: consumer.emit("from_thread", {"ok": True}))
    await asyncio.get_running_loop().run_in_executor(None, lambda: (thread.start(), thread.join()))
    assert await receive(comm) == {"event": "from_thread", "ok": True}
    await comm.disconnect()


async def test_group_call_event_payload_is_a_fresh_dict_per_member(channel_layer):
    seen = []

    class Mutator(JSONWebSocket):
        groups = ["mut"]

        @server_only
        def on_touch(self, payload):
            payload["count"] += 1
            seen.append(payload["count"])

    comms = [communicator(Mutator) for _ in range(3)]
    for c in comms:
        await c.connect()
    await channel_layer.group_send(
        "mut", {"type": "easy_channels.call", "event": "touch", "payload": json.dumps({"count": 0})}
    )
    for _ in range(50):
        if len(seen) == 3:
            break
        await asyncio.sleep(0.02)
    assert seen == [1, 1, 1]
    for c in comms:
        await c.disconnect()


@pytest.mark.redis
async def test_idle_redis_receive_timeouts_are_not_errors(settings, caplog):
    """
    redis-py 8 times a read out after 5 s, exactly when channels-redis' blocking receive ends:
    an idle socket must neither log errors nor stop receiving. A 1 s timeout makes it quick.
    """
    import uuid

    from channels.layers import get_channel_layer

    from tests.conftest import REDIS_URL, require_redis

    require_redis()
    prefix = f"easytest{uuid.uuid4().hex}"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 1}], "prefix": prefix},
        }
    }
    layer = get_channel_layer()
    try:
        a, b = await join(SyncRoom, "idle")
        await asyncio.sleep(2.5)
        await send(a, "say", group="idle", text="still here")
        assert await receive(b) == {"event": "said", "text": "still here"}
        await a.disconnect()
        await b.disconnect()
    finally:
        await layer.flush()
        await layer.close_pools()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.redis
async def test_redis_sockets_disconnect_promptly_and_leave_no_task_behind(channel_layer):
    """
    redis-py can swallow a cancel that lands in BZPOPMIN (redis/redis-py#2028); a consumer that
    waited for its reader, or looped after such a cancel, took seconds per disconnect or leaked
    a task per socket.
    """
    import time

    channel_layer.brpop_timeout = 1  # how long a stray reader may live; 5 s by default
    comms = [communicator(SyncRoom) for _ in range(12)]
    for comm in comms:
        assert (await comm.connect())[0]
        await request(comm, "join", group="many")
    await asyncio.sleep(0.3)  # every reader is now blocked in the layer
    for comm in comms:
        started = time.monotonic()
        await comm.disconnect(timeout=5)
        assert time.monotonic() - started < 1
    assert await group_members(channel_layer, "many") == set()

    def readers():
        return [
            t
            for t in asyncio.all_tasks()
            if getattr(t.get_coro(), "__qualname__", "") == "Hub._read_socket"
        ]

    for _ in range(60):
        if not readers():
            break
        await asyncio.sleep(0.05)
    assert readers() == []


async def test_channel_layer_setting_and_class_alias(settings):
    from channels.layers import get_channel_layer

    memory = {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    settings.CHANNEL_LAYERS = {"default": memory, "sockets": memory, "special": memory}
    settings.EASY_CHANNELS = {"CHANNEL_LAYER": "sockets"}

    class Member(JSONWebSocket):
        groups = ["aliased"]

    class Special(Member):
        channel_layer_alias = "special"

    for cls, alias in ((Member, "sockets"), (Special, "special")):
        comm = communicator(cls)
        assert (await comm.connect())[0]
        assert len(await group_members(get_channel_layer(alias), "aliased")) == 1
        assert await group_members(get_channel_layer("default"), "aliased") == set()
        await comm.disconnect()


# -- fan-out inside the process (easy_channels.hub) ------------------------------------------


async def test_a_group_message_crosses_the_layer_once_per_process(channel_layer):
    """Members of one process share one layer membership; each still gets every message."""
    clients = await join(AsyncRoom, "fan", n=5)
    assert len(local_members(channel_layer, "fan")) == 5
    [process_channel] = await group_members(channel_layer, "fan")
    assert process_channel not in local_members(channel_layer, "fan")
    for n in range(30):  # a sender's messages reach every member in order
        await easy_channels.agroup_send("fan", "n", {"n": n})
    for client in clients:
        assert [(await receive(client))["n"] for _ in range(30)] == list(range(30))
    for client in clients:
        await client.disconnect()
    assert local_members(channel_layer, "fan") == set()
    assert await group_members(channel_layer, "fan") == set()


async def test_concurrent_joins_and_leaves_keep_the_layer_in_step(channel_layer):
    """The layer holds the process while it has members, and nothing once they are all gone."""
    clients = [communicator(AsyncRoom) for _ in range(20)]
    await asyncio.gather(*(c.connect() for c in clients))
    await asyncio.gather(*(request(c, "join", group="churn") for c in clients))
    assert len(await group_members(channel_layer, "churn")) == 1
    # Half leave while the other half leave and join again, all at once.
    await asyncio.gather(
        *(request(c, "leave", group="churn") for c in clients[:10]),
        *(request(c, "leave", group="churn") for c in clients[10:]),
    )
    await asyncio.gather(*(request(c, "join", group="churn") for c in clients[10:]))
    assert len(local_members(channel_layer, "churn")) == 10
    assert len(await group_members(channel_layer, "churn")) == 1
    await easy_channels.agroup_send("churn", "still", {})
    for client in clients[10:]:
        assert (await receive(client))["event"] == "still"
    for client in clients[:10]:
        assert await client.receive_nothing(0.05)
    await asyncio.gather(*(c.disconnect() for c in clients))
    assert await group_members(channel_layer, "churn") == set()


async def test_a_failing_member_does_not_stop_the_others(channel_layer, caplog):
    class Fussy(JSONWebSocket):
        groups = ["fussy"]

        def chat_message(self, message):
            if message["to"] == self.channel_name:
                raise RuntimeError("only me")
            self.emit("got", {})

    a, b, c = (communicator(Fussy) for _ in range(3))
    for comm in (a, b, c):
        assert (await comm.connect())[0]
    victim = next(iter(local_members(channel_layer, "fussy")))
    await channel_layer.group_send("fussy", {"type": "chat.message", "to": victim})
    got = 0
    for comm in (a, b, c):
        if not await comm.receive_nothing(0.3):
            assert (await receive(comm))["event"] == "got"
            got += 1
    assert got == 2
    assert "Fussy.chat_message() failed" in caplog.text
    for comm in (a, b, c):
        await comm.disconnect()


@pytest.mark.redis
async def test_a_long_lived_group_outlives_the_layers_group_expiry(settings, monkeypatch):
    """channels-redis forgets memberships after group_expiry; the process re-adds its own."""
    import uuid

    from channels.layers import get_channel_layer

    from easy_channels import hub
    from tests.conftest import redis_layer_config, require_redis

    require_redis()
    config = redis_layer_config(f"easytest{uuid.uuid4().hex}")
    config["CONFIG"]["group_expiry"] = 1
    settings.CHANNEL_LAYERS = {"default": config}
    monkeypatch.setattr(hub, "REFRESH_SECONDS", 0.3)
    layer = get_channel_layer()
    try:
        a, b = await join(AsyncRoom, "lasting")
        await asyncio.sleep(2.5)  # twice the expiry: without the refresh the group is empty
        await send(a, "say", group="lasting", text="still together")
        assert await receive(b) == {"event": "said", "text": "still together"}
        await a.disconnect()
        await b.disconnect()
    finally:
        await layer.flush()
        await layer.close_pools()


async def test_a_member_whose_writes_are_paused_does_not_hold_up_the_others(channel_layer):
    """
    A server pauses writes to a client that stops reading. Its group deliveries then wait on
    their own: the other members get every message at once, and past MAX_PENDING_MESSAGES
    waiting deliveries the stuck member's messages are dropped and counted; once it reads
    again it gets the ones that waited, in order.
    """
    writable = asyncio.Event()

    def paused(app):
        """An ASGI server whose writes to this client block until ``writable`` is set."""

        async def wrapper(scope, receive, send):
            async def paused_send(message):
                if message["type"] == "websocket.send":
                    await writable.wait()
                await send(message)

            await app(scope, receive, paused_send)

        return wrapper

    class Member(JSONWebSocket):
        groups = ["paused"]

    stuck = communicator(paused(Member.as_asgi()))
    others = [communicator(Member) for _ in range(2)]
    for comm in (stuck, *others):
        assert (await comm.connect())[0]
    before = easy_channels.stats()["drops"].get("slow_client", 0)
    for n in range(150):
        await easy_channels.agroup_send("paused", "n", {"n": n})
    for comm in others:
        assert [(await receive(comm))["n"] for _ in range(150)] == list(range(150))
    assert easy_channels.stats()["drops"]["slow_client"] == before + 50
    writable.set()
    assert [(await receive(stuck))["n"] for _ in range(100)] == list(range(100))
    assert await stuck.receive_nothing(0.1)
    for comm in (stuck, *others):
        await comm.disconnect()
