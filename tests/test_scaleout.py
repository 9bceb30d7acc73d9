"""
Every way of sending crosses the process boundary over channels-redis.

A cluster is two real ASGI server processes (uvicorn and daphne, alone or mixed; see
``tests.liveserver``) serving ``tests/scaleout`` on loopback ports with one Redis channel layer
under a key prefix of its own. Real WebSocket clients connect to each process; a client of one
process triggers a send and clients of both processes receive it. Frames carry the pid of the
process that sent or handled them, so each assertion also says *where* the work was done.

The broadcast is repeated on ``RedisPubSubChannelLayer`` and on a layer sharded over two Redis
servers (the second one started here and stopped by its pid). After every test the keys under
the cluster's prefix are deleted, on every Redis server it used, and nothing else is.

Tests wait for events (acks, frames, closes) with timeouts instead of sleeping: a client joins a
group with a request whose ack says it is in, and "nothing else arrived" is proven by a marker
sent afterwards arriving first.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from django.test import override_settings
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from easy_channels.layer import user_group
from tests.conftest import REDIS_URL, REQUIRE_REDIS, require_redis
from tests.liveserver import ROOT, SCALEOUT_SETTINGS, RedisServer, Server, scaleout_server

pytestmark = pytest.mark.redis

ORIGIN = "http://127.0.0.1"
#: Seconds to wait for anything that should arrive: only a failing test waits this long.
TIMEOUT = 10

#: Server kinds of the two processes of a cluster, by test id.
CLUSTERS = {
    "uvicorn": ("uvicorn", "uvicorn"),
    "daphne": ("daphne", "daphne"),
    "uvicorn+daphne": ("uvicorn", "daphne"),
}


# -- Redis -----------------------------------------------------------------------------------------


def delete_keys(hosts: list[str], prefix: str) -> None:
    """Delete the keys under ``prefix`` (and only those) on every server."""
    for url in hosts:
        client = redis.Redis.from_url(url, socket_timeout=5)
        try:
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


@contextlib.contextmanager
def second_redis() -> Iterator[str]:
    """A throwaway redis-server on a free loopback port (nothing on disk), stopped by its pid."""
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed: can't start a second Redis for sharding."
        if REQUIRE_REDIS:
            pytest.fail(message)
        pytest.skip(message)
    with RedisServer() as server:
        yield server.url


async def poll(condition, what: str) -> None:
    """Wait until ``condition()`` (a quick Redis query) holds; fail after TIMEOUT seconds."""
    try:
        async with asyncio.timeout(TIMEOUT):
            while True:
                if condition():
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"not true within {TIMEOUT}s: {what}") from None


def redis_call(url: str, command: str, *args: Any) -> Any:
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        return client.execute_command(command, *args)
    finally:
        client.close()


# -- the cluster -----------------------------------------------------------------------------------


@dataclass
class Cluster:
    """Two (or more) server processes sharing one channel layer."""

    layer: str
    hosts: list[str]
    prefix: str
    env: dict[str, str]
    servers: list[Server] = field(default_factory=list)
    _seen: list[int] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [server.proc.pid for server in self.servers]

    async def manage(self, *args: str) -> str:
        """Run ``python -m django scaleout_send *args`` in a plain process; its stdout."""
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "django", "scaleout_send", *args],
            cwd=ROOT,
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": SCALEOUT_SETTINGS,
                "PYTHONPATH": str(ROOT),
                **self.env,
            },
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, f"scaleout_send {args} failed:\n{result.stderr}"
        return result.stdout

    def group_size(self, group: str, host: int = 0) -> int:
        """Members of ``group`` in Redis (RedisChannelLayer's group key on shard ``host``)."""
        return redis_call(self.hosts[host], "ZCARD", f"{self.prefix}:group:{group}")

    async def wait_for_group_size(self, group: str, size: int, host: int = 0) -> None:
        await poll(lambda: self.group_size(group, host) == size, f"{group} has {size} members")

    async def wait_for_subscribers(self, group: str, count: int) -> None:
        """RedisPubSubChannelLayer: until ``count`` processes subscribe to ``group``'s channel."""
        channel = f"{self.prefix}__group__{group}"
        await poll(
            lambda: redis_call(self.hosts[0], "PUBSUB", "NUMSUB", channel)[1] == count,
            f"{count} processes subscribe to {channel}",
        )

    def mark_logs(self) -> None:
        self._seen = [len(server.output()) for server in self.servers]

    def new_tracebacks(self) -> list[str]:
        """What each server printed since mark_logs(), if it contains a traceback."""
        found = []
        for server, seen in zip(self.servers, self._seen, strict=True):
            new = server.output()[seen:]
            if "Traceback" in new:
                found.append(f"{server.kind} (pid {server.proc.pid}) printed:\n{new}")
        return found


@contextlib.contextmanager
def start_cluster(kinds: tuple[str, ...], layer: str = "redis") -> Iterator[Cluster]:
    require_redis()
    prefix = f"scaleout{uuid.uuid4().hex[:16]}"
    with contextlib.ExitStack() as stack:
        hosts = [REDIS_URL]
        if layer == "sharded":
            hosts.append(stack.enter_context(second_redis()))
        env = {
            "SCALEOUT_LAYER": layer,
            "SCALEOUT_HOSTS": ",".join(hosts),
            "SCALEOUT_PREFIX": prefix,
        }
        # Exits run in reverse: servers stop, then the keys go, then the second Redis stops.
        stack.callback(delete_keys, hosts, prefix)
        cluster = Cluster(layer, hosts, prefix, env)
        for kind in kinds:
            cluster.servers.append(stack.enter_context(scaleout_server(kind, env)))
        cluster.mark_logs()
        yield cluster


@pytest.fixture(scope="module", params=list(CLUSTERS))
def cluster_processes(request):
    with start_cluster(CLUSTERS[request.param]) as cluster:
        yield cluster


@pytest.fixture
def cluster(cluster_processes):
    """Two server processes on RedisChannelLayer; this test's keys are deleted after it."""
    cluster_processes.mark_logs()
    yield cluster_processes
    delete_keys(cluster_processes.hosts, cluster_processes.prefix)
    tracebacks = cluster_processes.new_tracebacks()
    assert not tracebacks, "\n".join(tracebacks)


# -- clients ---------------------------------------------------------------------------------------


class Client:
    """
    A real WebSocket client speaking the easy_channels protocol.

    Frames that arrive while it waits for an ack are kept, in order, for ``receive()``.
    """

    _acks = itertools.count(1)

    def __init__(self, ws, name: str, server: Server):
        self.ws = ws
        self.name = name
        self.server = server
        self.pending: deque[dict[str, Any]] = deque()
        self.me: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<Client {self.name} pid={self.me.get('pid')}>"

    async def _recv(self) -> dict[str, Any]:
        try:
            return json.loads(await asyncio.wait_for(self.ws.recv(), TIMEOUT))
        except TimeoutError:
            raise AssertionError(f"{self!r} received nothing within {TIMEOUT}s") from None

    async def call(self, event: str, ack: Any = None, **payload: Any) -> dict[str, Any]:
        """Send a frame with an ack id and return the ack or error frame answering it."""
        ack = next(self._acks) if ack is None else ack
        await self.ws.send(json.dumps({"event": event, "ack": ack, **payload}))
        while True:
            frame = await self._recv()
            if frame.get("ack") == ack and frame["event"] in ("ack", "error"):
                return frame
            self.pending.append(frame)

    async def request(self, event: str, **payload: Any) -> Any:
        """The ack's data; an error frame fails the test."""
        frame = await self.call(event, **payload)
        assert frame["event"] == "ack", f"{self!r}: {event} answered {frame}"
        return frame["data"]

    async def receive(self) -> dict[str, Any]:
        if self.pending:
            return self.pending.popleft()
        return await self._recv()

    async def closed(self) -> tuple[int, str]:
        """Wait for the server to close the socket: its (code, reason). Frames are kept."""
        try:
            while True:
                self.pending.append(await self._recv())
        except ConnectionClosed as exc:
            assert exc.rcvd is not None, f"{self!r} was closed without a close frame"
            return exc.rcvd.code, exc.rcvd.reason

    async def is_open(self) -> bool:
        """The socket still works: the server answers a request."""
        return (await self.request("whoami"))["name"] == self.name


async def open_client(
    stack: contextlib.AsyncExitStack, server: Server, name: str, user: int | None = None
) -> Client:
    query = {"name": name} if user is None else {"name": name, "user": user}
    ws = await stack.enter_async_context(
        connect(
            f"{server.ws}/ws/room/?{urlencode(query)}",
            origin=ORIGIN,
            open_timeout=TIMEOUT,
            close_timeout=2,
        )
    )
    client = Client(ws, name, server)
    client.me = await client.request("whoami")
    assert client.me["pid"] == server.proc.pid  # the socket is served by that process
    return client


async def all_closed(clients: list[Client], code: int, reason: str) -> None:
    """
    Each client is closed by its server with ``code`` and ``reason``, and got nothing before.

    daphne drops the reason of an application's ``websocket.close`` (django/daphne#374; ASGI
    added ``reason`` in spec 2.3, uvicorn sends it): its clients get the code only.
    """
    closes = await asyncio.gather(*(c.closed() for c in clients))
    for client, close in zip(clients, closes, strict=True):
        expected = [(code, reason)]
        if client.server.kind == "daphne":
            expected.append((code, ""))
        assert close in expected, f"{client!r} was closed with {close}"
        assert client.pending == deque(), f"{client!r} got {list(client.pending)} first"


async def join(group: str, *clients: Client) -> None:
    """Each client is in ``group`` once its join is acknowledged."""
    replies = await asyncio.gather(*(c.request("join", group=group) for c in clients))
    for client, reply in zip(clients, replies, strict=True):
        assert group in reply["groups"]
        client.me = reply


async def all_receive(clients: list[Client], expected: dict[str, Any]) -> None:
    frames = await asyncio.gather(*(c.receive() for c in clients))
    for client, frame in zip(clients, frames, strict=True):
        assert frame == expected, f"{client!r} received {frame}"


def new_group() -> str:
    return f"room.{uuid.uuid4().hex[:12]}"


def said(sender: Client, text: str) -> dict[str, Any]:
    return {"event": "said", "text": text, "from": sender.name, "pid": sender.me["pid"]}


async def four_in_a_group(stack, cluster: Cluster, group: str) -> list[Client]:
    """a1 and a2 on the first process, b1 and b2 on the second, all in ``group``."""
    a, b = cluster.servers[:2]
    clients = [
        await open_client(stack, a, "a1"),
        await open_client(stack, a, "a2"),
        await open_client(stack, b, "b1"),
        await open_client(stack, b, "b2"),
    ]
    await join(group, *clients)
    return clients


# -- RedisChannelLayer, two processes --------------------------------------------------------------


async def test_the_cluster_is_two_processes_on_one_layer(cluster):
    async with contextlib.AsyncExitStack() as stack:
        a1, a2, b1, b2 = await four_in_a_group(stack, cluster, new_group())
        assert a1.me["pid"] == a2.me["pid"] != b1.me["pid"] == b2.me["pid"]
        # channels-redis names a process's channels after it: "specific.<process>!<socket>"
        process = {c.name: c.me["channel"].split("!")[0] for c in (a1, a2, b1, b2)}
        assert process["a1"] == process["a2"] != process["b1"] == process["b2"]


async def test_group_send_crosses_processes_both_ways(cluster):
    group = new_group()
    async with contextlib.AsyncExitStack() as stack:
        clients = await four_in_a_group(stack, cluster, group)
        a1, _, _, b2 = clients
        await cluster.wait_for_group_size(group, 2)  # one member per process
        for sender in (a1, b2):
            for handler in ("say", "say_sync"):  # from an async def and from a def handler
                text = f"{handler} from {sender.name}"
                assert await sender.request(handler, group=group, text=text) == "sent"
                await all_receive(clients, said(sender, text))


async def test_group_send_exclude_self_skips_only_the_sender(cluster):
    group = new_group()
    async with contextlib.AsyncExitStack() as stack:
        clients = await four_in_a_group(stack, cluster, group)
        a1, _, b1, _ = clients
        for sender in (a1, b1):
            others = [c for c in clients if c is not sender]
            for handler in ("say", "say_sync"):
                text = f"{handler} from {sender.name}, not to itself"
                await sender.request(handler, group=group, text=text, exclude_self=True)
                await all_receive(others, said(sender, text))
                # The sender's channel got the frame too (exclusion happens at the receiver):
                # a later broadcast arriving first proves it was dropped, not late.
                await sender.request(handler, group=group, text="marker")
                await all_receive(clients, said(sender, "marker"))


async def test_group_call_event_runs_the_handler_in_each_process(cluster):
    group = new_group()
    async with contextlib.AsyncExitStack() as stack:
        clients = await four_in_a_group(stack, cluster, group)
        a1, _, _, b2 = clients
        for caller in (a1, b2):
            assert await caller.request("call", group=group, text="hear ye") == "called"
            frames = await asyncio.gather(*(c.receive() for c in clients))
            for client, frame in zip(clients, frames, strict=True):
                # on_announce ran in the process that serves the socket, whoever called
                assert frame == {
                    "event": "announced",
                    "text": "hear ye",
                    "from": caller.name,
                    "to": client.name,
                    "pid": client.me["pid"],
                }
        for client in (a1, b2):  # @server_only: clients of either process can't call it
            reply = await client.call("announce", ack="x", text="forged")
            assert (reply["event"], reply["code"], reply["ack"]) == ("error", "unknown_event", "x")


async def test_send_to_crosses_processes_both_ways(cluster):
    a, b = cluster.servers
    async with contextlib.AsyncExitStack() as stack:
        a1 = await open_client(stack, a, "a1")
        a2 = await open_client(stack, a, "a2")
        b1 = await open_client(stack, b, "b1")
        b2 = await open_client(stack, b, "b2")
        for sender, receiver in ((a1, b1), (b1, a1), (b2, a2)):
            await sender.request("whisper", to=receiver.me["channel"], text="psst")
            assert await receiver.receive() == {
                "event": "whispered",
                "text": "psst",
                "from": sender.name,
                "pid": sender.me["pid"],
            }
        # Nobody else got a whisper: the marker is the first frame of each.
        for sender, receiver in ((b1, a2), (a2, b2), (b2, b1), (a1, a1)):
            await sender.request("whisper", to=receiver.me["channel"], text="marker")
            assert (await receiver.receive())["text"] == "marker"
        assert [c.pending for c in (a1, a2, b1, b2)] == [deque()] * 4


def servers_user_group(pk: int) -> str:
    """The group of user ``pk`` in the servers: its name is keyed by *their* SECRET_KEY."""
    secret_key = importlib.import_module(SCALEOUT_SETTINGS).SECRET_KEY
    with override_settings(SECRET_KEY=secret_key):
        return user_group(pk)


async def test_user_send_reaches_every_socket_of_the_user(cluster):
    a, b = cluster.servers
    async with contextlib.AsyncExitStack() as stack:
        ana_a = await open_client(stack, a, "ana-a", user=7)
        ana_b = await open_client(stack, b, "ana-b", user=7)
        bob = await open_client(stack, b, "bob", user=8)
        anon = await open_client(stack, a, "anon")
        assert servers_user_group(7) in ana_a.me["groups"]
        assert servers_user_group(7) in ana_b.me["groups"]
        assert [g for g in anon.me["groups"] if g.startswith("easy_channels.user.")] == []
        for sender in (anon, bob):
            await sender.request("notify_user", user=7, text=f"hi from {sender.name}")
            await all_receive(
                [ana_a, ana_b],
                {"event": "notified", "text": f"hi from {sender.name}", "from": sender.name},
            )
        await ana_b.request("notify_user", user=8, text="marker")
        assert await bob.receive() == {"event": "notified", "text": "marker", "from": "ana-b"}
        assert [c.pending for c in (ana_a, ana_b, bob, anon)] == [deque()] * 4


async def test_close_group_closes_sockets_on_both_processes(cluster):
    a, b = cluster.servers
    async with contextlib.AsyncExitStack() as stack:
        for here, there in ((a, b), (b, a)):
            group = new_group()
            trigger = await open_client(stack, here, "trigger")  # neither is in the group
            bystander = await open_client(stack, there, "bystander")
            members = [
                await open_client(stack, a, "in-a1"),
                await open_client(stack, a, "in-a2"),
                await open_client(stack, b, "in-b1"),
                await open_client(stack, b, "in-b2"),
            ]
            await join(group, *members)
            await cluster.wait_for_group_size(group, 2)  # one member per process
            await trigger.request("close_group", group=group, code=4321, reason="Room closed")
            await all_closed(members, 4321, "Room closed")
            assert await trigger.is_open()
            assert await bystander.is_open()
            # Each closed socket left the group, in its own process.
            await cluster.wait_for_group_size(group, 0)


async def test_close_user_closes_the_users_sockets_on_both_processes(cluster):
    a, b = cluster.servers
    async with contextlib.AsyncExitStack() as stack:
        ana_a = await open_client(stack, a, "ana-a", user=7)
        ana_b = await open_client(stack, b, "ana-b", user=7)
        bob = await open_client(stack, a, "bob", user=8)
        anon = await open_client(stack, b, "anon")
        await cluster.wait_for_group_size(servers_user_group(7), 2)
        await anon.request("close_user", user=7, code=4001, reason="Logged out")
        await all_closed([ana_a, ana_b], 4001, "Logged out")
        await cluster.wait_for_group_size(servers_user_group(7), 0)
        # Bob's socket is open and still in his group.
        assert await bob.is_open()
        await anon.request("notify_user", user=8, text="still here?")
        assert await bob.receive() == {"event": "notified", "text": "still here?", "from": "anon"}


async def test_acks_answer_each_frame_on_each_process(cluster):
    """
    Frames pipelined without waiting get their acks in order, with the client's ids (integer
    or string); a frame without an ack gets nothing, an error carries its ack id.
    """
    group = new_group()
    async with contextlib.AsyncExitStack() as stack:
        clients = await four_in_a_group(stack, cluster, group)
        for client in clients:
            frames = [
                {"event": "whoami", "ack": 1},
                {"event": "say", "group": group, "text": f"{client.name} says"},  # no ack
                {"event": "announce", "ack": "two", "text": "forged"},
                {"event": "say", "ack": "three", "group": group, "text": f"{client.name} acks"},
                {"event": "nope", "ack": 4},
            ]
            for frame in frames:
                await client.ws.send(json.dumps(frame))
            replies, own = [], []
            while len(replies) < 4 or len(own) < 2:  # its own copies of the broadcasts too
                frame = await client.receive()
                (own if frame["event"] == "said" else replies).append(frame)
            assert own == [said(client, f"{client.name} says"), said(client, f"{client.name} acks")]
            assert replies[0] == {"event": "ack", "ack": 1, "data": client.me}
            assert (replies[1]["event"], replies[1]["code"], replies[1]["ack"]) == (
                "error",
                "unknown_event",
                "two",
            )
            assert replies[2] == {"event": "ack", "ack": "three", "data": "sent"}
            assert (replies[3]["event"], replies[3]["code"], replies[3]["ack"]) == (
                "error",
                "unknown_event",
                4,
            )
            # The others got both broadcasts, in order (the sender's copies may be anywhere).
            others = [c for c in clients if c is not client]
            await all_receive(others, said(client, f"{client.name} says"))
            await all_receive(others, said(client, f"{client.name} acks"))
            assert [c.pending for c in clients] == [deque()] * 4


async def test_a_management_command_reaches_sockets_on_both_processes(cluster):
    """The module-level senders, from a process that serves no socket."""
    a, b = cluster.servers
    group = new_group()
    async with contextlib.AsyncExitStack() as stack:
        ana_a = await open_client(stack, a, "ana-a", user=7)
        a2 = await open_client(stack, a, "a2")
        ana_b = await open_client(stack, b, "ana-b", user=7)
        b2 = await open_client(stack, b, "b2")
        clients = [ana_a, a2, ana_b, b2]
        await join(group, *clients)

        await cluster.manage("group_send", group, "said", "--payload", '{"text": "from cmd"}')
        await all_receive(clients, {"event": "said", "text": "from cmd"})

        await cluster.manage(
            "group_call_event", group, "announce", "--payload", '{"text": "cmd", "from": "cmd"}'
        )
        frames = await asyncio.gather(*(c.receive() for c in clients))
        for client, frame in zip(clients, frames, strict=True):
            assert frame == {
                "event": "announced",
                "text": "cmd",
                "from": "cmd",
                "to": client.name,
                "pid": client.me["pid"],
            }

        for receiver in (b2, a2):
            await cluster.manage(
                "send_to", receiver.me["channel"], "whispered", "--payload", '{"text": "one"}'
            )
            assert await receiver.receive() == {"event": "whispered", "text": "one"}

        # on_commit=True inside a transaction: sent when it commits.
        await cluster.manage("user_send", "7", "notified", "--payload", "{}", "--on-commit")
        await all_receive([ana_a, ana_b], {"event": "notified"})

        await cluster.manage("close_user", "7", "--code", "4001", "--reason", "Logged out")
        await all_closed([ana_a, ana_b], 4001, "Logged out")

        await cluster.manage("close_group", group, "--code", "4002", "--reason", "Bye")
        await all_closed([a2, b2], 4002, "Bye")  # and nothing else reached anyone before


# -- the broadcast on other layers -----------------------------------------------------------------


async def broadcast_both_ways(cluster: Cluster, group: str, clients: list[Client]) -> None:
    a1, _, b1, b2 = clients
    for sender in (a1, b2):
        for handler in ("say", "say_sync"):
            text = f"{handler} from {sender.name} on {cluster.layer}"
            await sender.request(handler, group=group, text=text)
            await all_receive(clients, said(sender, text))
    await b1.request("say", group=group, text="not to b1", exclude_self=True)
    await all_receive([c for c in clients if c is not b1], said(b1, "not to b1"))
    await b1.request("say", group=group, text="marker")
    await all_receive(clients, said(b1, "marker"))
    await cluster.manage("group_send", group, "said", "--payload", '{"text": "from cmd"}')
    await all_receive(clients, {"event": "said", "text": "from cmd"})
    assert [c.pending for c in clients] == [deque()] * 4


@pytest.fixture
def pubsub_cluster():
    """uvicorn and daphne on channels_redis.pubsub.RedisPubSubChannelLayer."""
    with start_cluster(CLUSTERS["uvicorn+daphne"], layer="pubsub") as cluster:
        yield cluster
        assert not cluster.new_tracebacks(), cluster.new_tracebacks()


async def test_broadcast_across_processes_on_the_pubsub_layer(pubsub_cluster):
    cluster, group = pubsub_cluster, new_group()
    async with contextlib.AsyncExitStack() as stack:
        clients = await four_in_a_group(stack, cluster, group)
        # A pub/sub group is a Redis channel each process subscribes to once; the join's ack
        # doesn't wait for Redis to confirm the subscription, so wait for both processes here.
        await cluster.wait_for_subscribers(group, 2)
        await broadcast_both_ways(cluster, group, clients)


def group_on_shard(shard: int, shards: int = 2) -> str:
    """A group name RedisChannelLayer keeps on Redis server ``shard``."""
    from channels_redis.utils import _consistent_hash

    while True:
        group = new_group()
        if _consistent_hash(group, shards) == shard:
            return group


@pytest.fixture
def sharded_cluster():
    """uvicorn and daphne on RedisChannelLayer with two hosts: the second Redis is started here."""
    with start_cluster(CLUSTERS["uvicorn+daphne"], layer="sharded") as cluster:
        yield cluster
        assert not cluster.new_tracebacks(), cluster.new_tracebacks()


async def test_broadcast_across_processes_on_a_layer_sharded_over_two_redis_servers(
    sharded_cluster,
):
    """Group keys are spread over the servers by name: one group is kept on each here."""
    cluster = sharded_cluster
    assert len(cluster.hosts) == 2
    async with contextlib.AsyncExitStack() as stack:
        for shard in (0, 1):  # a group kept on each server
            group = group_on_shard(shard)
            clients = await four_in_a_group(stack, cluster, group)
            assert cluster.group_size(group, host=shard) == 2  # one member per process
            assert cluster.group_size(group, host=1 - shard) == 0
            await broadcast_both_ways(cluster, group, clients)


async def test_send_to_on_a_layer_sharded_over_two_redis_servers(sharded_cluster):
    """
    channels-redis 4.3's send() picks the server by the full channel name and its receive() by
    the process part, so with stock channel names about half the sends to a socket are never
    received (django/channels#1492, django/channels_redis#94). easy_channels draws its socket
    channels so both pick the same server: every whisper arrives, across both processes.
    """
    cluster = sharded_cluster
    a, b = cluster.servers
    async with contextlib.AsyncExitStack() as stack:
        clients = [await open_client(stack, server, f"s{n}") for n in range(6) for server in (a, b)]
        for sender in clients[:4]:
            for receiver in clients:
                await sender.request("whisper", to=receiver.me["channel"], text=sender.name)
                assert (await receiver.receive())["text"] == sender.name
        assert [c.pending for c in clients] == [deque()] * len(clients)
