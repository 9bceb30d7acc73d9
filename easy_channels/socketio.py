"""
The Socket.IO server: the namespaces of each Engine.IO session, each one a consumer instance.

A consumer served over Socket.IO is the same ASGI application as over the JSON protocol: each
namespace a client connects to runs one instance, fed through a :class:`_Namespace` that
speaks ASGI ``websocket.*`` messages to it and Socket.IO packets to the client (CONNECT is
its ``websocket.connect``, its ``websocket.accept`` the CONNECT reply, its close a
DISCONNECT). So groups, middleware, limits and the lifecycle need nothing of their own here.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING, Any

from .engineio import EngineSocket
from .engineio_packets import MESSAGE, InvalidPacket, Packet
from .socketio_packets import (
    ACK,
    BINARY_ACK,
    BINARY_EVENT,
    CONNECT,
    CONNECT_ERROR,
    DISCONNECT,
    EVENT,
    SioPacket,
    encode,
    parse,
)

if TYPE_CHECKING:
    from .connection import Connection, Host
    from .consumers import JSONWebSocket

__all__ = ["INVALID_NAMESPACE", "SocketIOServer", "server"]

logger = logging.getLogger("easy_channels")

INVALID_NAMESPACE = "Invalid namespace"
#: The CONNECT_ERROR of a namespace refused without a reason (a crash in on_connect, say).
REFUSED = "Connection refused"
#: Seconds between a CONNECT reply and what follows it (see _Namespace.send).
_AFTER_CONNECT = 0.005


class _Client:
    """The Socket.IO side of one Engine.IO session: its namespaces, a binary packet's parts."""

    __slots__ = ("connect_timer", "engine", "namespaces", "partial")

    def __init__(self, engine: EngineSocket):
        self.engine = engine
        self.namespaces: dict[str, _Namespace] = {}
        self.partial: SioPacket | None = None  # a binary packet waiting for its attachments
        self.connect_timer: asyncio.TimerHandle | None = None


class SocketIOServer:
    """The :class:`~easy_channels.engineio.EngineApp` that serves registered namespaces."""

    def __init__(self) -> None:
        self._clients: dict[str, _Client] = {}

    @property
    def _max_size(self) -> int:
        from .conf import get_config

        return get_config().max_message_size

    async def opened(self, socket: EngineSocket) -> None:
        from .conf import get_config

        client = self._clients[socket.sid] = _Client(socket)
        timeout = float(get_config().socketio["CONNECT_TIMEOUT"])
        client.connect_timer = asyncio.get_running_loop().call_later(
            timeout, self._connect_timed_out, client
        )

    def _connect_timed_out(self, client: _Client) -> None:
        if not client.namespaces and not client.engine.closed:
            logger.info(
                "easy_channels: Socket.IO session %s connected to no namespace within "
                "EASY_CHANNELS['SOCKETIO']['CONNECT_TIMEOUT']; closed",
                client.engine.sid,
            )
            client.engine.close_soon("connect timeout")

    async def message(self, socket: EngineSocket, data: str | bytes) -> None:
        client = self._clients.get(socket.sid)
        if client is None:
            return
        try:
            packet = self._packet(client, data)
        except InvalidPacket as exc:
            logger.info("easy_channels: Socket.IO session %s closed: %s", socket.sid, exc)
            await socket.close("parse error")
            return
        if packet is not None:
            await self._dispatch(client, packet)

    def _packet(self, client: _Client, data: str | bytes) -> SioPacket | None:
        """The complete packet ``data`` makes (None while a binary one awaits attachments)."""
        partial = client.partial
        if isinstance(data, bytes):
            if partial is None:
                raise InvalidPacket("a binary frame with no binary packet announced")
            partial.received.append(data)
            partial.size += len(data)
            if partial.size > self._max_size:  # the attachments of one event, in all
                raise InvalidPacket(
                    f"a binary packet over EASY_CHANNELS['MAX_MESSAGE_SIZE'] ({self._max_size})"
                )
            if not partial.complete:
                return None
            client.partial = None
            return partial.with_attachments()
        if partial is not None:
            raise InvalidPacket("a text packet while binary attachments were awaited")
        packet = parse(data)
        if packet.attachments:
            client.partial = packet
            return None
        return packet

    async def _dispatch(self, client: _Client, packet: SioPacket) -> None:
        kind, name = packet.kind, packet.namespace
        if kind == CONNECT:
            await self._connect(client, packet)
            return
        namespace = client.namespaces.get(name)
        if namespace is None:
            logger.debug("easy_channels: a packet for unconnected namespace %r ignored", name)
        elif kind == DISCONNECT:
            namespace.client_left(1000)
        elif kind in (EVENT, BINARY_EVENT, ACK, BINARY_ACK):
            await namespace.deliver(packet)

    async def _connect(self, client: _Client, packet: SioPacket) -> None:
        from .registry import registry

        name = packet.namespace
        if name in client.namespaces:
            logger.debug("easy_channels: a second CONNECT to namespace %r ignored", name)
            return
        consumer = registry.namespaces().get(name)
        if consumer is None:
            logger.info("easy_channels: a Socket.IO client asked for unknown namespace %r", name)
            await client.engine.send(encode(CONNECT_ERROR, name, {"message": INVALID_NAMESPACE}))
            return
        if client.connect_timer is not None:
            client.connect_timer.cancel()
            client.connect_timer = None
        client.namespaces[name] = _Namespace(client, name, consumer, packet.data or {})

    async def closed(self, socket: EngineSocket, reason: str) -> None:
        client = self._clients.pop(socket.sid, None)
        if client is None:
            return
        if client.connect_timer is not None:
            client.connect_timer.cancel()
        # A client that leaves sends each namespace a DISCONNECT first (1000, handled above).
        # A connection closed under its namespaces went away (1001) or was lost (1006): both
        # may resume with recovery, as Socket.IO's reference server treats "transport close".
        code = 1001 if reason == "client close" else 1006
        for namespace in list(client.namespaces.values()):
            namespace.client_left(code)


class _Namespace:
    """
    One consumer instance on one namespace of a client, as an ASGI application sees it: its
    ``receive`` gets the CONNECT, the events and the end; its ``send`` writes packets.
    """

    __slots__ = (
        "accepted",
        "client",
        "direct",
        "ended",
        "inbox",
        "name",
        "queued",
        "scope_socketio",
        "sid",
        "taken",
        "task",
    )

    def __init__(
        self, client: _Client, name: str, consumer: type[JSONWebSocket], auth: dict[str, Any]
    ):
        self.client = client
        self.name = name
        self.sid = secrets.token_urlsafe(15)
        self.accepted = False
        self.ended = False
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        #: The consumer's connection and session, once it runs (see deliver()).
        self.direct: tuple[Connection, Host] | None = None
        self.queued = 0  # frames put in the inbox and not yet handled
        self.taken = False  # the consumer took a frame from the inbox and handles it
        engine = client.engine
        self.scope_socketio: dict[str, Any] = {
            "namespace": name,
            "auth": auth,
            "sid": self.sid,
            "eio_sid": engine.sid,
            "attach": self.attach,
        }
        scope = {**engine.scope, "type": "websocket", "socketio": self.scope_socketio}
        self.inbox.put_nowait({"type": "websocket.connect"})
        self.task = asyncio.ensure_future(consumer.as_asgi()(scope, self.receive, self.send))
        self.task.add_done_callback(self._done)

    def attach(self, connection: Connection, host: Host) -> None:
        self.direct = (connection, host)

    async def receive(self) -> dict[str, Any]:
        if self.taken:  # the consumer asks again: the frame it took is handled
            self.taken = False
            self.queued -= 1
        message = await self.inbox.get()
        if message["type"] == "websocket.receive":
            self.taken = True
        return message

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        engine = self.client.engine
        if kind == "websocket.send":
            text = message.get("text")
            if text is None or self.ended:
                return
            if type(text) is str:  # the usual case: no attachments
                await engine.send_packet(MESSAGE + text)
            else:
                attachments: list[Packet] = list(getattr(text, "attachments", ()))
                await engine.send_packets([MESSAGE + text, *attachments])
        elif kind == "websocket.accept":
            self.accepted = True
            reply = {"sid": self.sid}
            pid = self.scope_socketio.get("pid")
            if pid is not None:  # a consumer with recovery = True: its session
                reply["pid"] = pid
            await engine.send(encode(CONNECT, self.name, reply))
            # Let the server write the reply before the events on_connect emitted: daphne
            # (Twisted) would otherwise send them in the reply's TCP segment, and a client
            # that reads them in one go (Node's ws emits such frames synchronously) may miss
            # the first event while it handles the CONNECT. A timer, not sleep(0): timers
            # run after the loop's I/O callbacks, so the server's write comes first.
            await asyncio.sleep(_AFTER_CONNECT)
        elif kind == "websocket.close":
            if not self.ended:
                if self.accepted:
                    await engine.send(encode(DISCONNECT, self.name))
                elif "code" not in message:  # refused without a CONNECT_ERROR of its own
                    await engine.send(encode(CONNECT_ERROR, self.name, {"message": REFUSED}))
            self.client_left(message.get("code", 1000))

    async def deliver(self, packet: SioPacket) -> None:
        """
        An event (or an answer to a server call) for the consumer: handed to its connection
        here, in the task that reads the client, once the consumer runs and nothing waits in
        its inbox; before that, through the inbox, so the order is kept.
        """
        message = {"type": "websocket.receive", "text": "", "packet": packet}
        direct = self.direct
        if direct is None or self.queued:
            self.queued += 1
            self.inbox.put_nowait(message)
        else:
            await direct[0].receive_frame(message, direct[1])

    def client_left(self, code: int) -> None:
        """The client left the namespace (or the connection): the consumer hears it once."""
        if self.ended:
            return
        self.ended = True
        if self.client.namespaces.get(self.name) is self:
            del self.client.namespaces[self.name]
        self.inbox.put_nowait({"type": "websocket.disconnect", "code": code})

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.client_left(1011)
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "easy_channels: the consumer of Socket.IO namespace %r ended with an error",
                self.name,
                exc_info=task.exception(),
            )


#: The process's Socket.IO server (what the routers hand Socket.IO requests to).
server = SocketIOServer()
