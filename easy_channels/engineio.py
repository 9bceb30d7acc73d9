"""
:class:`EngineSocket`: one Engine.IO v4 session, whichever transport carries it now.

An Engine.IO session outlives its HTTP requests: with long-polling, each GET takes the packets
queued since the last one and each POST brings the client's; with WebSocket, packets are
written as they are sent; an upgrade moves a polling session onto a WebSocket. The socket
keeps the heartbeat (the server pings, the client must answer within ``PING_TIMEOUT``) and
tells its :class:`EngineApp` (the Socket.IO server, or the test kit's echo) what arrives.
The ASGI side (query checks, requests, frames) is :mod:`easy_channels.engineio_asgi`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from . import counters
from .engineio_packets import (
    CLOSE,
    MESSAGE,
    NOOP,
    PING,
    PONG,
    UPGRADE,
    InvalidPacket,
    Packet,
    parse,
)
from .engineio_settings import EngineSettings

__all__ = ["DuplicatePoll", "EngineApp", "EngineSettings", "EngineSocket", "sockets"]

logger = logging.getLogger("easy_channels")

Send = Callable[[dict[str, Any]], Awaitable[None]]

#: Packets a polling client may leave unread before more are dropped (a client that stopped
#: polling is closed by the heartbeat within PING_INTERVAL + PING_TIMEOUT anyway).
MAX_QUEUED_PACKETS = 10_000


class EngineApp(Protocol):
    """What runs on Engine.IO sessions: told of each one, of its messages and of its end."""

    async def opened(self, socket: EngineSocket) -> None: ...

    async def message(self, socket: EngineSocket, data: str | bytes) -> None: ...

    async def closed(self, socket: EngineSocket, reason: str) -> None: ...


class DuplicatePoll(Exception):
    """A second GET while one waits: the protocol says the session ends."""


class Upgraded(Exception):
    """A GET for a session that has moved onto a WebSocket meanwhile."""


#: Seconds a GET that comes during an upgrade waits before it is answered (the reference
#: server checks every 100 ms; a busy server needs longer): a NOOP if the upgrade still runs,
#: and if the client sent UPGRADE meanwhile, it has left polling: the GET is refused as any
#: later one is. (Official clients send no GET while they upgrade: their pending one gets a
#: NOOP at once when the probe comes.)
UPGRADE_SETTLE = 0.25
#: Seconds a probing WebSocket may take to send UPGRADE (the reference server's default).
UPGRADE_TIMEOUT = 10.0


#: Open sessions of this process, by sid (a session leaves it as it closes).
sockets: dict[str, EngineSocket] = {}


class EngineSocket:
    """One Engine.IO session (see the module docstring)."""

    def __init__(
        self,
        app: EngineApp,
        settings: EngineSettings,
        transport: str,
        scope: dict[str, Any],
        owner: str | None = None,
    ):
        #: ``owner``: this process's signed relay channel, when polls may reach other
        #: processes (see engineio_relay).
        token = secrets.token_urlsafe(15)
        self.sid = token if owner is None else f"{token}.{owner}"
        self.app = app
        self.settings = settings
        self.transport = transport
        #: The scope of the request that opened the session (headers, user, cookies).
        self.scope = scope
        self.closed = False
        #: True between the upgrade probe and the client's UPGRADE packet.
        self.upgrading = False
        self._queue: list[Packet] = []  # for the next poll
        self._poll: asyncio.Future[list[Packet]] | None = None  # the GET waiting for packets
        self._ws_send: Send | None = None
        self._loop = asyncio.get_running_loop()
        self._ping_handle: asyncio.TimerHandle | None = None
        self._ping_due = self._pong_deadline = 0.0
        #: When the session moved onto a WebSocket (loop time; 0: it didn't).
        self.upgraded_at = 0.0
        self._timeout_handle: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Done when the running upgrade attempt ends, either way.
        self._upgrade_ended: asyncio.Future[None] | None = None
        sockets[self.sid] = self

    def open_packet(self) -> str:
        upgrades = ["websocket"] if self.transport == "polling" else []
        return self.settings.open_packet(self.sid, upgrades)

    async def start(self, send: Send | None = None) -> None:
        """The session is open (``send``: its WebSocket's); the app hears of it, pings start."""
        self._ws_send = send
        await self.app.opened(self)
        self._schedule_ping()

    # -- writes -----------------------------------------------------------------------------------

    async def send(self, data: str | bytes) -> None:
        """Send one message (text or binary) to the client."""
        await self.send_packets([MESSAGE + data if isinstance(data, str) else data])

    async def send_packet(self, packet: Packet) -> None:
        """One packet: :meth:`send_packets`' fast path, for a WebSocket (a fan-out's step)."""
        send = self._ws_send
        if send is not None and self.transport == "websocket" and not self.closed:
            await _ws_write(send, packet)
        else:
            await self.send_packets([packet])

    async def send_packets(self, packets: list[Packet]) -> None:
        """Write ``packets`` on the WebSocket, or queue them for the next poll."""
        if self.closed:
            counters.drop("client_gone", len(packets))
            return
        send = self._ws_send
        if send is not None and self.transport == "websocket":
            for packet in packets:
                await _ws_write(send, packet)
            return
        if len(self._queue) + len(packets) > MAX_QUEUED_PACKETS:
            counters.drop("overloaded", len(packets))
            logger.warning(
                "easy_channels: dropped %d packet(s) for Engine.IO session %s: its client has "
                "not polled for %d queued packets",
                len(packets),
                self.sid,
                len(self._queue),
            )
            return
        self._queue.extend(packets)
        self._flush_poll()

    def _flush_poll(self) -> None:
        poll = self._poll
        if poll is not None and not poll.done() and self._queue:
            packets, self._queue = self._queue, []
            self._poll = None
            poll.set_result(packets)

    # -- long-polling -----------------------------------------------------------------------------

    async def poll(self) -> list[Packet]:
        """What a GET answers: the queued packets, or the next ones (DuplicatePoll if two wait)."""
        if self.closed:  # closed while this GET was on its way (by a POSTed CLOSE, say)
            return [NOOP]
        if self._poll is not None and not self._poll.done():
            self._poll.set_result([CLOSE])
            self._poll = None
            await self.close("duplicate poll")
            raise DuplicatePoll()
        if self.upgrading:
            # Answered at the end of a check interval, as by the reference server: NOOP if
            # the upgrade still runs, refused if the client has left polling meanwhile.
            await asyncio.sleep(UPGRADE_SETTLE)
            if self.transport != "polling":
                raise Upgraded()
            if self.upgrading or self.closed:
                return [NOOP]
        if self._queue:
            packets, self._queue = self._queue, []
            return packets
        poll: asyncio.Future[list[Packet]] = self._loop.create_future()
        self._poll = poll
        try:
            return await poll
        except asyncio.CancelledError:
            if poll.done() and not poll.cancelled():  # taken as the GET went: keep them
                self.requeue(poll.result())
            raise
        finally:
            if self._poll is poll:
                self._poll = None
            if not poll.done():  # the client went away: the queue is kept for the next poll
                poll.cancel()

    def requeue(self, packets: list[Packet]) -> None:
        """Packets a poll took but couldn't deliver (its client left): first in the next one."""
        if not self.closed and self.transport == "polling":
            self._queue[:0] = packets
            self._flush_poll()

    async def receive_packets(self, packets: list[Packet]) -> None:
        """Packets a POST (or a WebSocket frame) brought, in order."""
        for packet in packets:
            if self.closed:
                return
            await self.received(packet)

    # -- what arrives -----------------------------------------------------------------------------

    async def received(self, packet: Packet) -> None:
        """One packet from the client (InvalidPacket closes the session, then propagates)."""
        try:
            kind, data = parse(packet)
        except InvalidPacket as exc:
            logger.info("easy_channels: Engine.IO session %s closed: %s", self.sid, exc)
            await self.close("parse error")
            raise
        if kind == MESSAGE:
            await self.app.message(self, data)
        elif kind == PONG:
            self._pong()
        elif kind == CLOSE:
            await self.close("client close", poll_gets=NOOP)
        elif kind != NOOP:
            # PING is the server's in v4; OPEN and UPGRADE come only in the handshake.
            await self.close("parse error")
            raise InvalidPacket(f"unexpected Engine.IO packet type {kind!r}")

    def _pong(self) -> None:
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()
            self._timeout_handle = None
            self._schedule_ping()

    # -- heartbeat --------------------------------------------------------------------------------

    def _schedule_ping(self) -> None:
        if not self.closed:
            self._ping_due = self._loop.time() + self.settings.ping_interval
            self._ping_handle = self._loop.call_at(self._ping_due, self._ping)

    def _ping(self) -> None:
        self._ping_handle = None
        # The deadline counts from when the ping was due, not from a late timer (a busy
        # loop), but leaves the client half the timeout after the ping really goes out.
        timeout = self.settings.ping_timeout
        self._pong_deadline = max(self._ping_due + timeout, self._loop.time() + timeout / 2)
        self._timeout_handle = self._loop.call_at(self._pong_deadline, self._timed_out)
        if self.transport == "polling" and not self.upgrading:
            self._queue.append(PING)  # no task: the waiting poll gets it now
            self._flush_poll()
        else:
            self._spawn(self.send_packets([PING]))

    @property
    def expired(self) -> bool:
        """Whether the pong is overdue, even if the timer that would say so hasn't run yet."""
        return self._timeout_handle is not None and self._loop.time() >= self._pong_deadline

    def _timed_out(self) -> None:
        self._timeout_handle = None
        logger.debug("easy_channels: Engine.IO session %s timed out (no pong)", self.sid)
        self.close_soon("ping timeout")

    def close_soon(self, reason: str) -> None:
        """:meth:`close` from a callback (a timer), in a task of its own."""
        self._spawn(self.close(reason))

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- upgrade ----------------------------------------------------------------------------------

    async def claim_upgrade(self) -> bool:
        """
        A WebSocket asks to take this session over: True if it may try. It is claimed at
        once, before its probe is read; a second WebSocket waits (up to UPGRADE_TIMEOUT) for
        the first one's attempt to end, and may try only if that one failed.
        """
        ended = self._upgrade_ended
        if self.upgrading and ended is not None:
            # Answered at the end of a check interval at the earliest, as a GET is: the
            # first WebSocket's probe reply goes out well before this one's refusal.
            await asyncio.sleep(UPGRADE_SETTLE)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(UPGRADE_TIMEOUT):
                    await asyncio.shield(ended)
        if self.transport != "polling":
            await self.refuse_late_poll()
        if self.closed or self.transport != "polling" or self.upgrading:
            return False
        self.upgrading = True
        self._upgrade_ended = self._loop.create_future()
        return True

    def _end_upgrade(self) -> None:
        self.upgrading = False
        ended, self._upgrade_ended = self._upgrade_ended, None
        if ended is not None and not ended.done():
            ended.set_result(None)

    def begin_upgrade(self) -> None:
        """The client probed the WebSocket (``2probe``): end the waiting poll with a NOOP."""
        poll = self._poll
        if poll is not None and not poll.done():
            self._poll = None
            poll.set_result([NOOP])

    async def refuse_late_poll(self) -> None:
        """
        Before refusing a GET (or a second WebSocket) of a session that left polling: wait
        until the upgrade is UPGRADE_SETTLE old, as one that came during it waits (the
        WebSocket's probe reply, written before, reaches the client first).
        """
        wait = self.upgraded_at + UPGRADE_SETTLE - self._loop.time()
        if wait > 0:
            await asyncio.sleep(wait)

    async def finish_upgrade(self, send: Send) -> None:
        """The client's UPGRADE packet: from now on packets go on the WebSocket."""
        self.transport = "websocket"
        self._ws_send = send
        self.upgraded_at = self._loop.time()
        self._end_upgrade()
        queued, self._queue = self._queue, []
        for packet in queued:
            await _ws_write(send, packet)

    def abort_upgrade(self) -> None:
        """The probing WebSocket went away before UPGRADE: polling goes on."""
        self._end_upgrade()

    # -- the end ----------------------------------------------------------------------------------

    async def close(self, reason: str, *, poll_gets: str = CLOSE) -> None:
        """
        End the session once: a waiting poll gets ``poll_gets`` (NOOP when the client closed
        it), the WebSocket is closed, and the app hears why.
        """
        if self.closed:
            return
        self.closed = True
        sockets.pop(self.sid, None)
        self._end_upgrade()
        for handle in (self._ping_handle, self._timeout_handle):
            if handle is not None:
                handle.cancel()
        poll, self._poll = self._poll, None
        if poll is not None and not poll.done():
            poll.set_result([poll_gets])
        self._queue = []
        send = self._ws_send if self.transport == "websocket" else None
        if send is not None:
            try:
                await send({"type": "websocket.close", "code": 1000})
            except Exception:  # the client went first: nothing to close
                logger.debug("easy_channels: WebSocket of session %s already gone", self.sid)
        try:
            await self.app.closed(self, reason)
        except Exception:
            logger.exception("easy_channels: closing Engine.IO session %s failed", self.sid)


async def _ws_write(send: Send, packet: Packet) -> None:
    if isinstance(packet, bytes):
        await send({"type": "websocket.send", "bytes": packet})
    else:
        await send({"type": "websocket.send", "text": packet})


#: The upgrade handshake on the new WebSocket: probe, its answer, then UPGRADE.
UPGRADE_PROBE = PING + "probe"
UPGRADE_PROBE_REPLY = PONG + "probe"
UPGRADE_DONE = UPGRADE
