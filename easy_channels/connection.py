"""
:class:`Connection`: one WebSocket as the server sees it, whatever it carries.

It owns the ASGI receive loop and every write to the client, the socket's state, the frames
held back until the handshake is accepted and the close rules; the client's wire protocol is a
:class:`~easy_channels.wire.WireCodec` it holds. What the socket carries (one consumer today;
several, one per Socket.IO namespace, later) is a :class:`Host` it feeds with what arrives.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from . import counters, protocol
from .eager import start_eagerly
from .protocol import CloseCode
from .wire import WireCodec

__all__ = ["Connection", "Host", "State"]

logger = logging.getLogger("easy_channels")

#: The ASGI callables of a connection.
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class State(enum.Enum):
    """Where a connection is; it only moves forward (GONE is the last word)."""

    #: The handshake is not answered yet: frames sent now wait for accept().
    CONNECTING = "connecting"
    #: Accepted: frames are written as they are sent.
    OPEN = "open"
    #: We sent ``websocket.close`` (refused or closed the socket); nothing more is written.
    CLOSED = "closed"
    #: The client has gone (``websocket.disconnect``); nothing more is written.
    GONE = "gone"


class Host(Protocol):
    """What a connection carries: told of the handshake, of each frame and of the end."""

    def connect_requested(self) -> None:
        """The client asked to connect (``websocket.connect``)."""
        ...

    async def frame_received(self, message: dict[str, Any]) -> None:
        """A ``websocket.receive`` that is not a heartbeat (the connection answered those)."""
        ...

    async def disconnected(self, code: int) -> None:
        """The client has gone; the receive loop ends when this returns."""
        ...

    async def ended(self) -> None:
        """The receive loop has ended, for whatever reason: release what is held."""
        ...


class Connection:
    """
    The ASGI side of one WebSocket: receive loop, state, writes, pre-accept buffer, closes.

    Every write goes through :meth:`send_text` or the close and accept methods, so nothing can
    go around the state: a frame sent before accept waits (up to ``max_early``), one sent after
    the close or once the client has gone is dropped and counted, and a write that waits for a
    client which then leaves is given up.
    """

    __slots__ = (
        "_early",
        "_fatal",
        "_gone_waiter",
        "_main_task",
        "accepted",
        "base_send",
        "close_code",
        "closed_here",
        "codec",
        "max_early",
        "owner",
        "path",
        "prelude",
        "state",
    )

    def __init__(self, send: Send, codec: WireCodec, *, owner: str, path: str, max_early: int):
        self.base_send = send
        self.codec = codec
        self.owner = owner  # the consumer class, for log lines
        self.path = path
        self.max_early = max_early
        self.state = State.CONNECTING
        #: True once the handshake was accepted (it stays True after a close).
        self.accepted = False
        #: The close code the client left with (None while it is here).
        self.close_code: int | None = None
        #: True once the server closed (or refused) the socket, rather than the client leaving.
        self.closed_here = False
        self._early: list[str] = []  # frames sent before accept()
        #: Frames written right after accept, before those sent earlier (a resumed session's).
        self.prelude: list[str] = []
        self._fatal: Exception | None = None
        #: Made by the first write that has to wait; done once the client is gone.
        self._gone_waiter: asyncio.Future[None] | None = None
        self._main_task: asyncio.Task[Any] | None = None

    @property
    def writable(self) -> bool:
        """Whether a frame sent now can still reach the client (now or after accept)."""
        return self.state is State.CONNECTING or self.state is State.OPEN

    @property
    def gone(self) -> bool:
        """Whether the client has left (or the app has ended)."""
        return self.state is State.GONE

    # -- the receive loop ---------------------------------------------------------------------

    async def serve(self, receive: Receive, host: Host) -> None:
        """Feed ``host`` with what the client sends until it goes; then ``host.ended()``."""
        main = self._main_task = asyncio.current_task()
        try:
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    await self.receive_frame(message, host)
                elif kind == "websocket.connect":
                    host.connect_requested()
                elif kind == "websocket.disconnect":
                    self.client_gone(message.get("code", 1005))
                    await host.disconnected(self.close_code or 1005)
                    break
        except asyncio.CancelledError:
            if self._fatal is None:
                raise
            if main is not None:
                main.uncancel()
        finally:
            self.client_gone(None)
            await host.ended()
        if self._fatal is not None:
            raise self._fatal

    async def receive_frame(self, message: dict[str, Any], host: Host) -> None:
        """
        One ``websocket.receive``: the receive loop's step, which a Socket.IO namespace also
        takes directly, from the task that reads its client (one task switch less per event).
        """
        counters.message_in()
        if not self.writable:
            return
        reply = self.codec.heartbeat_reply(message)
        if reply is not None:
            # Answered here, not queued: a socket busy in a slow handler is alive.
            await self.send_text(reply)
        else:
            await host.frame_received(message)

    def client_gone(self, code: int | None) -> None:
        """The client has left (or the app ends): writes still waiting for it give up."""
        if self.state is not State.GONE:
            self.state = State.GONE
            self._early.clear()
            if code is not None:
                self.close_code = code
        if self._gone_waiter is not None and not self._gone_waiter.done():
            self._gone_waiter.set_result(None)

    # -- writes -------------------------------------------------------------------------------

    async def accept(self, subprotocol: str | None = None) -> None:
        """Accept the handshake and write the frames sent before it, in order."""
        if self.state is not State.CONNECTING or self.accepted:
            return
        self.accepted = True
        await self._raw_send({"type": "websocket.accept", "subprotocol": subprotocol})
        # Still CONNECTING while the early frames go out: a frame sent meanwhile (the accept
        # can wait, as a Socket.IO CONNECT reply does) queues behind them, not ahead.
        early, self._early = [*self.prelude, *self._early], []
        self.prelude = []
        while early and self.state is State.CONNECTING:
            for text in early:
                if self.state is not State.CONNECTING:
                    break
                await self._raw_send({"type": "websocket.send", "text": text})
            early, self._early = self._early, []
        if self.state is State.CONNECTING:
            self.state = State.OPEN

    async def close(self, code: int | None = CloseCode.NORMAL, reason: str | None = None) -> None:
        """Close the socket (before accept: refuse the handshake; ``code=None``: a bare 403)."""
        if not self.writable:
            return
        self.state = State.CLOSED
        self.closed_here = True
        message: dict[str, Any] = {"type": "websocket.close"}
        if code is not None:
            message["code"] = code
        if reason:
            message["reason"] = protocol.truncate_reason(reason)
        await self._raw_send(message)

    async def refuse(self, code: int, reason: str) -> None:
        """
        Refuse the connection so that a browser can tell why: a handshake refusal reaches
        JavaScript as a bare 1006, so accept, send the codec's connect error, then close.
        Frames sent before this are dropped (they were meant for an accepted socket).
        """
        if not self.writable:
            return
        self._early.clear()
        text = self.codec.connect_error(code, reason)
        if self.codec.accept_to_refuse:
            await self.accept()
            await self.send_text(text)
        else:  # a refusal packet of its own (Socket.IO's CONNECT_ERROR), never accepted
            await self._raw_send({"type": "websocket.send", "text": text})
        await self.close(code, reason)

    async def close_internal_error(self, why: str) -> None:
        """
        Close with 1011 after accept(), the same on every server.

        If the app just died, daphne would send 1011 and uvicorn drop the TCP connection (the
        browser sees 1006): so send 1011 explicitly. daphne (autobahn) refuses to send 1011
        through ASGI but sends it itself when the app raises: then end the app with an error
        (``why`` says what failed).
        """
        if not self.writable:
            return
        self.state = State.CLOSED
        self.closed_here = True
        try:
            await self.base_send({"type": "websocket.close", "code": CloseCode.INTERNAL_ERROR})
        except OSError:
            return
        except Exception as exc:
            self._fatal = RuntimeError(
                f"{why}; ending the application so that the server closes the socket with 1011"
            )
            self._fatal.__cause__ = exc
            if self._main_task is not None:
                self._main_task.cancel()

    async def send_text(self, text: str) -> None:
        """Write one text frame (held back before accept; dropped once closed or gone)."""
        state = self.state
        if state is State.OPEN:
            # _raw_send inlined: this is the innermost step of every fan-out.
            try:
                if await self._transport_send({"type": "websocket.send", "text": text}):
                    counters.message_out()
            except OSError:  # uvicorn's ClientDisconnected: the disconnect is on its way
                logger.debug("easy_channels: client of %s already gone", self.path)
        elif state is State.CONNECTING:
            if len(self._early) < self.max_early:
                self._early.append(text)
            else:
                counters.drop("before_accept")
                logger.warning(
                    "easy_channels: dropped a frame %s sent before accept() (%s)",
                    self.owner,
                    self.path,
                )
        else:
            counters.drop("client_gone")
            logger.debug("easy_channels: dropped a frame for closed socket %s", self.path)

    async def _raw_send(self, message: dict[str, Any]) -> None:
        try:
            sent = await self._transport_send(message)
        except OSError:  # uvicorn's ClientDisconnected: the disconnect message is on its way
            logger.debug("easy_channels: client of %s already gone", self.path)
            return
        if sent and message["type"] == "websocket.send":
            counters.message_out()

    async def _transport_send(self, message: dict[str, Any]) -> bool:
        """
        ``base_send(message)``, given up once the client is gone; False if it was.

        A client that stops reading makes the server wait to write (uvicorn), and a client
        that then leaves never lets that write finish: the handler in it would hold its
        socket open until DISCONNECT_TIMEOUT, for a frame nobody can receive. The write runs
        eagerly (no task when it completes at once, the usual case).
        """
        waiting = start_eagerly(self.base_send(message))
        if waiting is None:
            return True
        try:
            gone = self._gone_waiter
            if gone is None:
                gone = self._gone_waiter = asyncio.get_running_loop().create_future()
                if self.state is State.GONE:
                    gone.set_result(None)
            await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            waiting.cancel()
            raise
        if not waiting.done():  # the client left first
            waiting.cancel()
            waiting.add_done_callback(_retrieve)
            counters.drop("client_gone")
            logger.debug("easy_channels: gave up a write to the gone client of %s", self.path)
            return False
        waiting.result()  # raises what the server raised (OSError: the client is gone)
        return True


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Done callback of an abandoned write: its outcome is of no interest (the client left)."""
    if not task.cancelled():
        task.exception()
