"""
The one load generator: asyncio clients on the ``websockets`` package, speaking either
easy_channels' JSON frames or Engine.IO 4 / Socket.IO 5 over a raw WebSocket, so that the
client side costs the same whichever server it drives.

Each load checks what it measures: every echo reply matches its request, every fan-out
member gets every broadcast exactly once and in order, and a connect storm counts who joined
and who got the broadcast. A measurement that fails or times out raises; the harness records
it as failed ("—") and goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.frames import Frame, Opcode

from .members import Members, processes_for
from .servers import Server, cpu_seconds, cpu_split, rss_kib

#: Text carried by echo requests and broadcasts (same size for every server).
TEXT = "x" * 64
#: How many sockets connect at once when a load is setting up (not in the connect storm).
CONNECT_CONCURRENCY = 100
#: How many joins are in flight at once while a fan-out load sets up. Raw Channels on
#: channels-redis 4.3 + redis-py 8 crashes sockets with MaxConnectionsError (a pool of 100)
#: at 100 concurrent group_add calls; the connect storm is where concurrency is tested.
JOIN_CONCURRENCY = 20


class MeasurementError(Exception):
    """A load found wrong or missing answers: the measurement doesn't count."""


# -- wire formats --------------------------------------------------------------------------------


class JsonCodec:
    """easy_channels' frames: ``{"event": ..., "ack": id, ...payload}``; acks ``"event": "ack"``."""

    @staticmethod
    def request(event: str, ack: int, payload: dict[str, Any]) -> str:
        return json.dumps({"event": event, "ack": ack, **payload}, separators=(",", ":"))

    @staticmethod
    def parse(text: str) -> tuple[str, Any, Any]:
        """``("ack", id, data)``, ``("event", name, payload)`` or ``("ping", None, None)``."""
        frame = json.loads(text)
        event = frame.get("event")
        if event == "_session":  # a consumer with recovery tells its session first
            return "meta", None, None
        if event in ("presence_state", "presence_diff"):  # a consumer tracking presence
            return "presence", None, frame
        if event == "ack":
            return "ack", frame.get("ack"), frame.get("data")
        if event == "error":
            raise MeasurementError(f"server error frame: {text[:200]}")
        return "event", event, frame


class SocketIOCodec:
    """Socket.IO 5 over Engine.IO 4, WebSocket transport only, default namespace."""

    @staticmethod
    async def handshake(ws: ClientConnection) -> None:
        opening = await ws.recv()
        if not opening.startswith("0"):
            raise MeasurementError(f"no Engine.IO open packet: {opening[:100]!r}")
        await ws.send("40")
        while True:
            text = await ws.recv()
            if text == "2":
                await ws.send("3")
            elif text.startswith("40"):
                return
            else:
                raise MeasurementError(f"no Socket.IO connect answer: {text[:100]!r}")

    @staticmethod
    def request(event: str, ack: int, payload: dict[str, Any]) -> str:
        return f"42{ack}" + json.dumps([event, payload], separators=(",", ":"))

    @staticmethod
    def parse(text: str) -> tuple[str, Any, Any]:
        if text == "2":
            return "ping", None, None
        if text.startswith("43"):
            body = text.index("[")
            data = json.loads(text[body:])
            return "ack", int(text[2:body]), data[0] if data else None
        if text.startswith("42"):
            name, *args = json.loads(text[2:])
            return "event", name, args[0] if args else None
        raise MeasurementError(f"unexpected Socket.IO packet: {text[:100]!r}")


CODECS = {"json": JsonCodec, "sio": SocketIOCodec}


# -- one client socket -----------------------------------------------------------------------


_TEXT = Opcode.TEXT


class _Connection(ClientConnection):
    """
    websockets' client connection, handing each complete text frame to ``on_text`` as it is
    parsed, once the client has set it (after its handshake). websockets would otherwise queue
    every message for ``recv()`` (an assembler, a queue, an ``await`` per message): half of
    what the load generator spent per fan-out delivery, so at 100 members the fastest servers
    measured the client, not themselves. Fragmented messages and control frames take
    websockets' own path.
    """

    on_text: Callable[[str], None] | None = None
    on_lost: Callable[[], None] | None = None

    def process_event(self, event: Any) -> None:
        on_text = self.on_text
        if on_text is not None and type(event) is Frame and event.opcode is _TEXT and event.fin:
            on_text(event.data.decode())
        else:
            super().process_event(event)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.on_lost is not None:
            self.on_lost()


class Client:
    """
    One socket. ``call`` sends an event with an ack id and returns the ack's data; ``send``
    returns the ack's future without waiting. Frames are handled as they are parsed (see
    :class:`_Connection`): acks resolve their callers, events go to ``on_event``.
    """

    def __init__(self, ws: _Connection, codec: Any):
        self.ws, self.codec = ws, codec
        self._ids = itertools.count(1)
        self._waiting: dict[Any, asyncio.Future] = {}
        self._tasks: set[asyncio.Task] = set()
        self.on_event: Callable[[str, Any], None] | None = None
        #: presence_state / presence_diff frames (a consumer tracking presence), if wanted
        self.on_presence: Callable[[dict[str, Any]], None] | None = None
        self.error: BaseException | None = None
        ws.on_text = self._on_text
        ws.on_lost = self._on_lost

    @classmethod
    async def open(cls, server: Server, limit: float = 20.0) -> Client:
        ws = await connect(
            server.url,
            compression=None,  # every server gets plain frames (daphne offers no deflate)
            ping_interval=None,
            max_size=1 << 22,
            open_timeout=limit,
            close_timeout=2,
            create_connection=_Connection,
        )
        codec = CODECS[server.spec.codec]
        if codec is SocketIOCodec:
            try:
                async with asyncio.timeout(limit):
                    await codec.handshake(ws)
            except BaseException:
                ws.transport.abort()
                raise
        return cls(ws, codec)

    def listen(self) -> None:
        """Kept for the loads' symmetry: frames are handled from the start (see the class)."""

    def stop_reading(self) -> None:
        """Read nothing more: the server's writes to this socket back up (a stalled client)."""
        self.ws.transport.pause_reading()

    def _on_text(self, text: str) -> None:
        try:
            kind, key, data = self.codec.parse(text)
            if kind == "event":
                if self.on_event is not None:
                    self.on_event(key, data)
            elif kind == "ack":
                future = self._waiting.pop(key, None)
                if future is not None and not future.done():
                    future.set_result(data)
            elif kind == "presence":
                if self.on_presence is not None:
                    self.on_presence(data)
            elif kind == "ping":
                task = asyncio.ensure_future(self.ws.send("3"))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except Exception as exc:  # a wrong frame ends the socket; its callers hear why
            self.error = exc
            self.ws.transport.abort()
            self._on_lost()

    def _on_lost(self) -> None:
        why = f"socket closed before its ack ({self.error})" if self.error else None
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(MeasurementError(why or "socket closed before its ack"))
                future.exception()  # retrieved: no "never retrieved" noise if unawaited
        self._waiting.clear()

    async def call(self, event: str, payload: dict[str, Any]) -> Any:
        return await (await self.send(event, payload))

    async def send(self, event: str, payload: dict[str, Any]) -> asyncio.Future:
        """Send with an ack id without waiting; the returned future gets the ack's data."""
        if self.error is not None:
            raise MeasurementError(f"socket failed earlier: {self.error}")
        ack = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._waiting[ack] = future
        await self.ws.send(self.codec.request(event, ack, payload))
        return future

    async def close(self) -> None:
        await self.ws.close()


async def open_many(server: Server, count: int, concurrency: int = CONNECT_CONCURRENCY):
    """Open ``count`` sockets, ``concurrency`` handshakes at a time; all or an error."""
    semaphore = asyncio.Semaphore(concurrency)
    clients: list[Client] = []

    async def one() -> None:
        async with semaphore:
            clients.append(await Client.open(server))

    results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        await close_all(clients)
        raise MeasurementError(f"{len(failures)}/{count} sockets failed to open: {failures[0]!r}")
    return clients


async def close_all(clients: list[Client], limit: float = 10.0) -> None:
    """Close every socket (with a close handshake); abort whatever is left after ``limit`` s."""
    if not clients:
        return
    try:
        async with asyncio.timeout(limit):
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    except TimeoutError:
        for client in clients:
            client.ws.transport.abort()


# -- loads ---------------------------------------------------------------------------------------


@dataclass
class Sample:
    """What one measurement found. ``value`` is the headline number (msgs/s, deliveries/s...)."""

    value: float
    extra: dict[str, Any] = field(default_factory=dict)


async def echo(server: Server, clients: int, duration: float, warmup: float) -> Sample:
    """
    ``clients`` sockets, each in a loop: send an echo request, wait for its reply. The rate is
    counted over ``duration`` seconds after ``warmup``, as is the server's CPU time.
    """
    sockets = await open_many(server, clients)
    done = [0] * clients
    stop = asyncio.Event()

    async def loop(index: int, client: Client) -> None:
        n = 0
        while not stop.is_set():
            payload = {"n": n, "text": TEXT}
            data = await client.call("echo", payload)
            if data != payload:
                raise MeasurementError(f"echo reply {data!r} != request {payload!r}")
            n += 1
            done[index] = n

    tasks = [asyncio.create_task(loop(i, c)) for i, c in enumerate(sockets)]
    try:
        await asyncio.sleep(warmup)
        count0, cpu0, t0 = sum(done), cpu_seconds(server.pid), time.perf_counter()
        own0 = time.process_time()
        await asyncio.sleep(duration)
        count1, cpu1, t1 = sum(done), cpu_seconds(server.pid), time.perf_counter()
        own1 = time.process_time()
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
    finally:
        for task in tasks:
            task.cancel()
        await close_all(sockets)
    messages = count1 - count0
    if messages <= 0:
        raise MeasurementError("no echo completed in the measured window")
    return Sample(
        messages / (t1 - t0),
        {
            "cpu_us": (cpu1 - cpu0) * 1e6 / messages,
            "server_cpu": (cpu1 - cpu0) / (t1 - t0),
            "client_cpu": (own1 - own0) / (t1 - t0),
        },
    )


class _Tally:
    """Who got which broadcast: resolves a broadcast's future when its last member has it."""

    def __init__(self, members: int):
        self.members = members
        self.received: list[list[int]] = [[] for _ in range(members)]
        self.pending: dict[int, list] = {}  # seq -> [remaining, future]
        self.strays = 0

    def expect(self, seq: int, count: int | None = None) -> asyncio.Future:
        """A future set when ``count`` (default: all) members have broadcast ``seq``."""
        future = asyncio.get_running_loop().create_future()
        self.pending[seq] = [self.members if count is None else count, future]
        return future

    def handler(self, index: int) -> Callable[[str, Any], None]:
        received = self.received[index]
        pending = self.pending

        def on_event(name: str, data: Any) -> None:
            if name != "msg":
                self.strays += 1
                return
            seq = data["seq"]
            received.append(seq)
            entry = pending.get(seq)
            if entry is not None:
                entry[0] -= 1
                if entry[0] == 0:
                    entry[1].set_result(time.perf_counter())

        return on_event

    def check(self, sent: list[int]) -> None:
        """Every member got every broadcast exactly once, in the order sent."""
        bad = [i for i, got in enumerate(self.received) if got != sent]
        if bad:
            got = self.received[bad[0]]
            missing = len(set(sent) - set(got))
            dupes = len(got) - len(set(got))
            raise MeasurementError(
                f"{len(bad)}/{self.members} members got a wrong sequence (e.g. member {bad[0]}: "
                f"{len(got)} frames for {len(sent)} sent, {missing} missing, {dupes} duplicated)"
            )
        if self.strays:
            raise MeasurementError(f"{self.strays} unexpected events")


async def join_group(server: Server, members: int, group: str):
    """Open ``members`` listening sockets and join them all to ``group`` (all acks awaited)."""
    tally = _Tally(members)
    sockets = await open_many(server, members)
    for index, client in enumerate(sockets):
        client.on_event = tally.handler(index)
        client.listen()
    try:
        semaphore = asyncio.Semaphore(JOIN_CONCURRENCY)

        async def join(client: Client) -> None:
            async with semaphore:
                await client.call("join", {"group": group})

        await asyncio.gather(*(join(c) for c in sockets))
    except BaseException:
        await close_all(sockets)
        raise
    return sockets, tally


async def fanout(
    server: Server,
    members: int,
    group: str,
    duration: float,
    warmup: int = 2,
    min_messages: int = 5,
    per_message_timeout: float = 10.0,
    on_measure: tuple[Callable[[], None], Callable[[], None]] | None = None,
    settle: float = 0.0,
) -> Sample:
    """
    ``members`` sockets join ``group``; one more socket (not a member) broadcasts to it one
    message at a time, each sent once the previous one reached its last member, for
    ``duration`` seconds (at least ``min_messages``) after ``warmup`` messages, ``settle``
    seconds after the last member joined.

    deliveries/s = members x messages / elapsed; latency = send -> last member has it.
    ``on_measure`` is called (start, end) around the measured window (the profiler uses it).
    """
    processes = processes_for(members)
    remote: Members | None = None
    if processes > 1:  # members in worker processes (benchmarks/members.py)
        remote = Members(server, members, group, processes)
        try:
            await remote.ready()
        except BaseException:
            await remote.close()
            raise
        sockets: list[Client] = []
        tally: Any = remote
    else:
        sockets, tally = await join_group(server, members, group)

    def client_cpu() -> float:
        return time.process_time() + (remote.cpu() if remote is not None else 0.0)

    if settle:
        await asyncio.sleep(settle)
    sender = await Client.open(server)
    sender.listen()
    sent: list[int] = []
    acks: list[asyncio.Future] = []
    latencies: list[float] = []
    try:
        seq = 0
        cpu0 = t0 = 0.0
        deadline = None
        while True:
            if seq == warmup:
                if on_measure is not None:
                    on_measure[0]()
                cpu0, t0 = cpu_seconds(server.pid), time.perf_counter()
                own0, sys0 = client_cpu(), cpu_split(server.pid)[1]
                deadline = t0 + duration
            measured = seq - warmup
            if deadline is not None and measured >= min_messages and time.perf_counter() > deadline:
                break
            done = tally.expect(seq)
            start = time.perf_counter()
            acks.append(await sender.send("broadcast", {"group": group, "seq": seq, "text": TEXT}))
            sent.append(seq)
            try:
                last = await asyncio.wait_for(done, per_message_timeout)
            except TimeoutError:
                if remote is not None:
                    reached = remote.reached(seq)
                else:
                    reached = f"{members - tally.pending[seq][0]}/{members} members"
                raise MeasurementError(
                    f"broadcast {seq} reached {reached} in {per_message_timeout:g}s"
                ) from None
            if seq >= warmup:
                latencies.append(last - start)
            seq += 1
        t1, cpu1, own1 = time.perf_counter(), cpu_seconds(server.pid), client_cpu()
        sys1 = cpu_split(server.pid)[1]
        # Members may have the last broadcast before its send to other processes is done
        # (easy_channels hands it to local members first): let it finish before a profiler
        # stops, which can hold the server's event loop for seconds.
        await asyncio.wait_for(asyncio.gather(*acks), per_message_timeout)
        if on_measure is not None:
            on_measure[1]()
        await asyncio.sleep(0.05)  # a duplicate would arrive about now
        if remote is not None:
            await remote.check(sent)
        else:
            tally.check(sent)
    finally:
        await close_all([*sockets, sender])
        if remote is not None:
            await remote.close()
    count = len(latencies)
    deliveries = members * count
    quantiles = statistics.quantiles(latencies, n=20) if count >= 2 else latencies * 19
    return Sample(
        deliveries / (t1 - t0),
        {
            "messages": count,
            "lat_ms": statistics.median(latencies) * 1e3,
            "p95_ms": quantiles[18] * 1e3,
            "cpu_us": (cpu1 - cpu0) * 1e6 / deliveries,
            "server_cpu": (cpu1 - cpu0) / (t1 - t0),
            "client_cpu": (own1 - own0) / (t1 - t0),
            "server_sys_share": (sys1 - sys0) / max(cpu1 - cpu0, 1e-9),
            "client_processes": processes,
        },
    )


async def slow_member(
    server: Server,
    group: str,
    members: int = 10,
    messages: int = 3000,
    size: int = 4096,
    patience: float = 3.0,
) -> Sample:
    """
    One member of ``members`` stops reading (a stalled browser tab, a dead mobile link);
    ``messages`` broadcasts of ``size`` bytes follow, each sent once the *other* members have
    the previous one. Value: how many the others got before one took longer than ``patience``
    seconds to reach them (``messages`` when none did). A server that writes to its members
    one after the other, waiting for each, stalls the whole group once the slow socket's
    buffers are full.
    """
    sockets, tally = await join_group(server, members, group)
    slow = sockets[0]
    slow.stop_reading()  # the server's writes to it back up
    sender = await Client.open(server)
    sender.listen()
    text = "y" * size
    reached = messages
    try:
        for seq in range(messages):
            done = tally.expect(seq, members - 1)
            await sender.send("broadcast", {"group": group, "seq": seq, "text": text})
            try:
                await asyncio.wait_for(asyncio.shield(done), patience)
            except TimeoutError:
                reached = seq
                break
    finally:
        slow.ws.transport.abort()
        await close_all([*sockets[1:], sender])
    return Sample(reached, {"messages": messages, "stalled": reached < messages})


async def idle_memory(server: Server, sockets: int) -> Sample:
    """
    Resident memory of a fresh server before and after ``sockets`` idle connected sockets.
    A first batch of 20 sockets opens and closes first, so one-time initialisation (imports,
    caches) isn't counted per socket.
    """
    await close_all(await open_many(server, 20))
    await asyncio.sleep(0.5)
    before = rss_kib(server.pid)
    clients = await open_many(server, sockets)
    try:
        await asyncio.sleep(1.0)
        server.quiesce()
        after = rss_kib(server.pid)
    finally:
        await close_all(clients)
    return Sample((after - before) / sockets, {"rss_before_mib": before / 1024})


async def storm(
    servers: list[Server],
    sockets: int,
    group: str,
    redis_url: str,
    prefix: str,
    settle: float = 10.0,
) -> Sample:
    """
    ``sockets`` sockets connect all at once, spread over ``servers`` (processes sharing one
    Redis channel layer) and each join ``group``; then one broadcast must reach every one of
    them; then they all disconnect and Redis must forget them: the members of every group
    sorted set under the layer's ``prefix`` (``<prefix>:group:*``, whatever group names the
    server uses) must drop to 0 within ``settle`` seconds. Failures are counted, not raised:
    they are the result.
    """
    import redis.asyncio as aioredis

    tally = _Tally(sockets)
    opened: list[Client | None] = [None] * sockets
    joined = [False] * sockets
    start = time.perf_counter()

    async def connect_and_join(index: int) -> float:
        client = await Client.open(servers[index % len(servers)], limit=30)
        opened[index] = client
        client.on_event = tally.handler(index)
        client.listen()
        await asyncio.wait_for(client.call("join", {"group": group}), 30)
        joined[index] = True
        return time.perf_counter() - start

    results = await asyncio.gather(
        *(connect_and_join(i) for i in range(sockets)), return_exceptions=True
    )
    joined_times = sorted(r for r in results if isinstance(r, float))
    errors = [r for r in results if not isinstance(r, float)]
    clients = [c for c in opened if c is not None]
    redis = aioredis.from_url(redis_url)

    async def group_members() -> int:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}:group:*", count=1000)]
        return sum([await redis.zcard(k) for k in keys])

    try:
        # The broadcast's group only: easy_channels processes are also in the stats group.
        members_after_join = await redis.zcard(f"{prefix}:group:{group}")
        delivered = 0
        sender = next((c for c, ok in zip(opened, joined, strict=True) if ok), None)
        if sender is not None:  # a member that joined broadcasts
            done = tally.expect(0, len(joined_times))  # every socket that joined
            await sender.send("broadcast", {"group": group, "seq": 0, "text": TEXT})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done, 10)
            await asyncio.sleep(0.2)
            delivered = sum(1 for got in tally.received if got)
        duplicated = sum(1 for got in tally.received if len(got) > 1)
        await close_all(clients, limit=20)
        left_at = time.perf_counter()
        leftover = await group_members()
        while leftover and time.perf_counter() - left_at < settle:
            await asyncio.sleep(0.25)
            leftover = await group_members()
        cleared = time.perf_counter() - left_at
        keys_left = len([k async for k in redis.scan_iter(match=f"{prefix}:*", count=1000)])
    finally:
        await redis.aclose()
    first_error = repr(errors[0])[:200] if errors else ""
    kinds = Counter(type(e).__name__ for e in errors)
    return Sample(
        joined_times[-1] if joined_times else float("nan"),
        {
            "joined": len(joined_times),
            "sockets": sockets,
            "members_in_redis": members_after_join,
            "delivered": delivered,
            "duplicated": duplicated,
            "leftover": leftover,
            "keys_left": keys_left,
            "cleared_s": cleared,
            "join_p50_s": statistics.median(joined_times) if joined_times else float("nan"),
            "errors": len(errors),
            "error_kinds": dict(kinds),
            "first_error": first_error,
        },
    )
