"""
Frame dispatch: a client frame through parse, middleware and the handler table to its
handler, and the handler's result or exception back as an ack or an error frame; server
events (``group_call_event``) and raw Channels layer messages to their handlers.
"""

from __future__ import annotations

import inspect
import json
import logging
from typing import TYPE_CHECKING, Any

from channels.consumer import get_handler_name

from . import counters
from .connection import Connection, State
from .errors import error_frame
from .exceptions import SocketError
from .handlers import Handler, HandlerTables, call
from .operations import scoped
from .protocol import CloseCode, ErrorCode, ProtocolError
from .wire import Args

if TYPE_CHECKING:
    from .conf import Config
    from .middleware import SocketMiddleware
    from .resume import Resumption

__all__ = ["Dispatcher"]

logger = logging.getLogger("easy_channels")


class Dispatcher:
    """
    Calls the handlers of one consumer instance on one connection.

    ``reserved`` are the names of the library base class: a raw layer message ``{"type":
    "accept"}`` must not call ``accept()``.
    """

    __slots__ = (
        "config",
        "connection",
        "consumer",
        "errors_in_a_row",
        "middleware",
        "once",
        "owner",
        "reserved",
        "tables",
    )

    def __init__(
        self,
        consumer: Any,
        connection: Connection,
        tables: HandlerTables,
        config: Config,
        reserved: frozenset[str],
    ):
        self.consumer = consumer
        self.connection = connection
        self.tables = tables
        self.config = config
        self.reserved = reserved
        self.owner = type(consumer).__qualname__
        #: The middleware instances whose on_connect succeeded, in chain order.
        self.middleware: list[SocketMiddleware] = []
        self.errors_in_a_row = 0
        #: A resumed session's memory of answered requests (``recovery = True``): a request
        #: sent again after a reconnect is answered from it, not run twice.
        self.once: Resumption | None = None

    @property
    def path(self) -> Any:
        return self.consumer.scope.get("path")

    def where(self, event: str | None, handler: Handler | None) -> str:
        """Names the consumer, the event and the handler for a log line."""
        if handler is not None:
            return f"{self.owner}.{handler.attr}() (event {event!r}, {self.path})"
        if event is not None:  # failed in the middleware, before the handler
            return f"{self.owner}'s middleware (event {event!r}, {self.path})"
        return f"{self.owner} ({self.path})"

    # -- client frames ---------------------------------------------------------------------------

    async def admit(self, message: dict[str, Any]) -> bool:
        """
        The middleware's ``on_arrival`` hooks, as the frame arrives; False if one refused it.

        They run before the frame is queued, so a limit (Throttle) acts on a flood as it comes,
        not once the queue has filled. A refused frame is answered at once, with its ack.
        """
        for mw in self.middleware:
            if "on_arrival" not in mw.defined_hooks:
                continue
            try:
                result = mw.on_arrival(message)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                if not isinstance(exc, SocketError):
                    logger.exception(
                        "easy_channels: %s.on_arrival() failed in %s",
                        type(mw).__qualname__,
                        self.owner,
                    )
                await self.send_error_for(
                    exc, self._peek_ack(message), logged=not isinstance(exc, SocketError)
                )
                return False
        return True

    def _peek_ack(self, message: dict[str, Any]) -> Any:
        """The ack id of a frame refused on arrival (None if it has none or isn't valid)."""
        codec = self.connection.codec
        try:
            return codec.frame(codec.decode(message)).ack
        except ProtocolError:
            return None

    async def handle_frame(self, message: dict[str, Any]) -> None:
        """One client frame, start to end: it never raises (errors become error frames)."""
        codec = self.connection.codec
        ack = None
        handler: Handler | None = None
        event: str | None = None
        try:
            raw = codec.decode(message)
            frame = codec.frame(raw)
            ack = frame.ack
            if self.middleware:
                raw = await self._run_receive_middleware(raw)
                frame = codec.frame(raw)
            event = frame.event
            handler = self.tables.client.get(event)
            if handler is None:
                self._log_unknown_event(event)
                raise ProtocolError(ErrorCode.UNKNOWN_EVENT, f"Unknown event {event!r}.")
            self.errors_in_a_row = 0
            if self.once is not None and ack is not None and await self._answered_before(ack):
                return
            result = await self.invoke(handler, frame.payload)
        except ProtocolError as exc:
            await self.protocol_error(exc, ack if exc.ack is None else exc.ack)
            return
        except Exception as exc:
            where = self.where(event, handler)
            text = error_frame(exc, ack, where, codec, logged=False)
            await self._answer(ack, text)
            return
        if ack is not None:
            try:
                text = codec.ack(ack, result)
            except (TypeError, ValueError) as exc:
                logger.error(
                    "easy_channels: %s returned %s, which can't be sent as the ack of event %r "
                    "(%s): return None, or data JSON can encode (dict, list, str, number, bool)",
                    self.where(event, handler),
                    type(result).__name__,
                    event,
                    exc,
                )
                where = self.where(event, handler)
                await self._answer(ack, error_frame(exc, ack, where, codec, logged=True))
                return
            await self._answer(ack, text)

    async def _answer(self, ack: Any, text: str) -> None:
        """Send a request's answer, remembered first by a resumed session (see ``once``)."""
        if self.once is not None and ack is not None:
            await self.once.answered(ack, text)
        await self.connection.send_text(text)

    async def _answered_before(self, ack: Any) -> bool:
        """
        For a resumed session: True if request ``ack`` came before, then answered again here
        (from what it answered then, once that run is over; ``interrupted`` if it never was).
        """
        assert self.once is not None
        prior = await self.once.request(ack)
        if prior is None:
            return False
        limit = float(self.config.disconnect_timeout) + float(self.config.layer_timeout)
        reply = prior or await self.once.wait(ack, limit)
        if not reply:
            exc = ProtocolError(
                ErrorCode.INTERRUPTED,
                "This request was sent before, and its first run never finished; it was not "
                "run again.",
            )
            reply = self.connection.codec.error(exc.code, exc.message, ack)
        await self.connection.send_text(reply)
        return True

    def _log_unknown_event(self, event: str) -> None:
        """Warn once per consumer class and event name (a client's typo, or an old client)."""
        key = (self.owner, event)
        if key in _unknown_events_logged or len(_unknown_events_logged) >= 1024:
            logger.debug("easy_channels: unknown event %r for %s", event, key[0])
            return
        _unknown_events_logged.add(key)
        logger.warning(
            "easy_channels: a client of %s (%s) sent event %r, which it has no handler for; "
            "known events: %s. Define on_%s(), or fix the client (warned once per event).",
            key[0],
            self.path,
            event,
            ", ".join(sorted(self.tables.client)) or "none",
            event,
        )

    async def _run_receive_middleware(self, raw: Any) -> Any:
        for mw in self.middleware:
            if "on_receive" in mw.defined_hooks:
                result = await call(mw.on_receive, raw)
                if result is not None:
                    raw = result
        return raw

    async def invoke(self, handler: Handler, arg: Any) -> Any:
        """Call a handler with the payload (if it takes one), its operations settled after."""
        method = getattr(self.consumer, handler.attr)
        if handler.takes_arg:
            if type(arg) is Args:  # a Socket.IO event's arguments
                if handler.star:
                    return await scoped(call, method, *arg, is_async=handler.is_async)
                arg = arg[0] if arg else None
            return await scoped(call, method, arg, is_async=handler.is_async)
        return await scoped(call, method, is_async=handler.is_async)

    async def call_lifecycle(self, attr: str, *args: Any, thread_sensitive: bool = True) -> None:
        """``on_connect()`` or ``on_disconnect(code)``, sync or async."""
        handler = self.tables.lifecycle[attr]
        args = args if handler.takes_arg else ()
        await scoped(
            call,
            getattr(self.consumer, attr),
            *args,
            is_async=handler.is_async,
            thread_sensitive=thread_sensitive,
        )

    async def protocol_error(self, exc: ProtocolError, ack: Any = None) -> None:
        """Answer a frame that broke the protocol; close after too many in a row."""
        logger.info("easy_channels: %s from %s: %s", exc.code, self.path, exc.message)
        counters.error(exc.code)
        await self.connection.send_text(self.connection.codec.error(exc.code, exc.message, ack))
        if exc.code in ErrorCode.PROTOCOL:
            self.errors_in_a_row += 1
            if self.errors_in_a_row >= self.config.max_consecutive_errors:
                logger.warning(
                    "easy_channels: closing %s after %d protocol errors in a row",
                    self.path,
                    self.errors_in_a_row,
                )
                await self.connection.close(CloseCode.PROTOCOL_ABUSE, "Too many protocol errors")

    async def send_error_for(
        self, exc: Exception, ack: Any, where: str | None = None, *, logged: bool = False
    ) -> None:
        """Turn a handler or middleware exception into an error frame; the socket stays open."""
        where = where or self.where(None, None)
        text = error_frame(exc, ack, where, self.connection.codec, logged=logged)
        await self.connection.send_text(text)

    # -- server-side messages --------------------------------------------------------------------

    async def handle_call(self, message: dict[str, Any]) -> None:
        """A server event (``group_call_event``): ``on_<event>(payload)`` if the table has it."""
        if self.connection.state is State.GONE:
            return
        event = message.get("event")
        handler = self.tables.server.get(event) if isinstance(event, str) else None
        if handler is None:
            logger.debug(
                "easy_channels: %s has no handler for server event %r; ignored", self.owner, event
            )
            return
        try:
            payload = json.loads(message.get("payload") or "{}")
            await self.invoke(handler, payload)
        except Exception:
            logger.exception(
                "easy_channels: %s failed (a server event, from group_call_event)",
                self.where(event, handler),
            )

    async def handle_raw_layer_message(self, message: dict[str, Any]) -> None:
        """Channels-style ``{"type": "chat.message"}`` -> ``chat_message(message)``, if defined."""
        try:
            name: str | None = get_handler_name(message)
        except ValueError:
            name = None
        method = getattr(type(self.consumer), name, None) if name else None
        if name is None or method is None or name.startswith("on_") or name in self.reserved:
            logger.warning(
                "easy_channels: %s has no handler for layer message type %r; ignored",
                self.owner,
                message.get("type"),
            )
            return
        try:
            await scoped(call, getattr(self.consumer, name), message)
        except Exception:
            logger.exception("easy_channels: %s.%s() failed", self.owner, name)

    async def run_disconnect_hooks(self, code: int, connected: bool) -> None:
        """
        The consumer's on_disconnect (only if the socket was ``connected``), then the
        middleware's, innermost first.

        Sync hooks run outside the one thread sync handlers share, so a slow sync handler
        can't hold up the disconnect.
        """
        if connected:
            try:
                await self.call_lifecycle("on_disconnect", code, thread_sensitive=False)
            except Exception:
                logger.exception("easy_channels: %s.on_disconnect() failed", self.owner)
        for mw in reversed(self.middleware):
            if "on_disconnect" in mw.defined_hooks:
                try:
                    await call(mw.on_disconnect, code, thread_sensitive=False)
                except Exception:
                    logger.exception(
                        "easy_channels: %s.on_disconnect() failed", type(mw).__qualname__
                    )


#: (consumer class, event) pairs already warned about (see _log_unknown_event); bounded.
_unknown_events_logged: set[tuple[str, str]] = set()
