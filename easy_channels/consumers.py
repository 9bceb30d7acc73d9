"""
:class:`JSONWebSocket`: a Channels consumer that dispatches JSON frames to ``on_<event>`` methods.

Why it doesn't use ``AsyncConsumer.dispatch``: Channels handles one message at a time, so a
slow handler also delays the disconnect, and an exception kills the socket. Here the ASGI
receive loop only sorts messages:

- client frames go to a per-socket queue that one worker task handles in order;
- ``websocket.disconnect`` is handled at once: groups are left and ``on_disconnect`` runs even
  while a handler is still busy (which then gets ``DISCONNECT_TIMEOUT`` seconds to finish);
- pre-encoded broadcast frames from the channel layer are written straight to the socket.

Server-side messages travel on the channel layer under our own fixed types (``easy_channels.*``)
and only ever look in the server table: no key of a client frame becomes a layer ``type``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, cast

from channels.consumer import get_handler_name
from channels.layers import BaseChannelLayer, get_channel_layer
from django.core.exceptions import ImproperlyConfigured

from . import counters, processes, protocol
from .eager import start_eagerly
from .errors import error_frame
from .exceptions import LayerUnavailable, Reject, SocketError
from .handlers import Handler, HandlerTables, build_tables, call
from .hub import Hub, Recipient, hub_for, rejoin_all
from .layer import (
    CALL_TYPE,
    CLOSE_TYPE,
    FRAME_TYPE,
    bounded,
    call_message,
    cancel_requested,
    check_channel_name,
    check_group_name,
    deliver,
    frame_message,
    is_read_timeout,
    is_unavailable,
    note_serving_loop,
    reap,
    user_group,
)
from .middleware import SocketMiddleware, load_middleware
from .operations import run_operation, scoped
from .protocol import CloseCode, ErrorCode, ProtocolError

__all__ = ["JSONWebSocket"]

if TYPE_CHECKING:
    from .conf import Config

logger = logging.getLogger("easy_channels")


def _config() -> Config:
    from .conf import get_config  # conf reads settings: import it only once they exist

    return get_config()


class _ConsumerType(type):
    r"""
    Lets a consumer class be routed without ``as_asgi()``, as the original README does:
    ``re_path(r"^ws/chat/(?P<name>\w+)/", ChatConsumer)``. Called with an ASGI scope, receive
    and send, the class runs a new instance; called any other way, it makes an instance.
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 3 and not kwargs and isinstance(args[0], dict) and "type" in args[0]:
            return cast("type[JSONWebSocket]", cls).as_asgi()(*args)
        return super().__call__(*args, **kwargs)


#: The ASGI callables a consumer is given.
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class JSONWebSocket(metaclass=_ConsumerType):
    """
    Subclass it and write ``on_<event>`` methods (``def`` or ``async def``)::

        class ChatConsumer(JSONWebSocket):
            def on_connect(self):
                self.group_add("lobby")

            async def on_say(self, payload):
                await self.group_send("lobby", "said", {"text": payload["text"]})

    Lifecycle hooks: ``on_connect()`` and ``on_disconnect(code)``. A client frame
    ``{"event": "say", "text": "hi"}`` calls ``on_say({"text": "hi"})``; a handler that takes no
    argument is called without one. With an ``"ack"`` in the frame, the handler's return value
    is sent back as ``{"event": "ack", "ack": <id>, "data": <value>}``.

    It is an ASGI application of its own, not a Channels ``AsyncConsumer``: the ASGI loop,
    the sends and the layer reads are all its own, so nothing inherited (``send``,
    ``dispatch``) can go around its state. ``as_asgi()`` works as in Channels.
    """

    #: Groups every socket of this class joins before on_connect() (as in Channels).
    groups: ClassVar[list[str]] = []
    #: SocketMiddleware classes (or dotted paths) run after the global ones.
    middlewares: ClassVar[list[type[SocketMiddleware] | str]] = []
    #: CHANNEL_LAYERS alias; None means EASY_CHANNELS["CHANNEL_LAYER"].
    channel_layer_alias: ClassVar[str | None] = None

    _tables: ClassVar[HandlerTables]

    #: The connection's ASGI scope (``scope["user"]``, ``scope["url_route"]``, ...).
    scope: dict[str, Any]
    #: The layer this socket uses (None without CHANNEL_LAYERS) and its channel there.
    channel_layer: BaseChannelLayer | None
    channel_name: str | None
    base_send: Send

    @classmethod
    def as_asgi(
        cls, **initkwargs: Any
    ) -> Callable[[dict[str, Any], Receive, Send], Awaitable[None]]:
        """An ASGI application that runs a new instance per connection (as in Channels)."""

        async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
            await cls(**initkwargs)(scope, receive, send)

        app.consumer_class = cls  # type: ignore[attr-defined]  # what Channels' tools read
        app.consumer_initkwargs = initkwargs  # type: ignore[attr-defined]
        functools.update_wrapper(app, cls, updated=())
        return app

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._tables = build_tables(cls, (JSONWebSocket,))

    def __init__(self, **initkwargs: Any) -> None:
        # as_asgi(**initkwargs) sets class attributes per instance, like Django's View.
        for key, value in initkwargs.items():
            if key.startswith("_") or not hasattr(type(self), key):
                raise TypeError(
                    f"{type(self).__qualname__}.as_asgi() got {key!r}, which is not an "
                    "attribute of the class."
                )
            setattr(self, key, value)
        self.channel_layer = None
        self.channel_name = None
        self.close_code: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._groups: set[str] = set()
        self._middleware: list[SocketMiddleware] = []
        self._accepted = False
        self._closed = False  # we sent websocket.close
        self._gone = False  # the client is gone (websocket.disconnect)
        self._connecting = False
        self._connected = False
        self._early: list[str] = []  # frames sent before accept()
        self._errors_in_a_row = 0
        self._pending_bytes = 0  # of the client frames waiting in the queue
        self._overloaded = counters.DropRun()  # its queue is full, until it empties
        self._stopping = False  # the app is ending: background tasks must not go on

    # -- lifecycle hooks (override) ------------------------------------------------------------

    def on_connect(self) -> Awaitable[None] | None:
        """Called when a client connects. Accept, refuse (raise Reject) or do nothing."""
        return None

    def on_disconnect(self, code: int) -> Awaitable[None] | None:
        """Called once the client has gone and the socket's groups have been left."""
        return None

    # -- public API ----------------------------------------------------------------------------

    @property
    def joined_groups(self) -> frozenset[str]:
        """The groups this socket is in now."""
        return frozenset(self._groups)

    @property
    def client_events(self) -> frozenset[str]:
        """Event names a client can send to this consumer."""
        return frozenset(self._tables.client)

    def accept(self, subprotocol: str | None = None) -> Any:
        """Accept the connection (only needed in on_connect when AUTO_ACCEPT is off)."""
        return self._run("accept", self._accept, subprotocol)

    def close(self, code: int = CloseCode.NORMAL, reason: str | None = None) -> Any:
        """Close the socket; before accept() this refuses the handshake."""
        protocol.check_close_code(code)
        return self._run("close", self._close, code, reason)

    def emit(self, event: str, payload: dict[str, Any] | None = None) -> Any:
        """Send ``{"event": event, **payload}`` to this socket."""
        text = protocol.encode_event(event, payload)
        return self._run("emit", self._send_text, text)

    def group_add(self, group: str) -> Any:
        """Join ``group``; left automatically on disconnect."""
        check_group_name(group)
        self._require_layer("group_add")
        return self._run("group_add", self._group_add, group)

    def group_discard(self, group: str) -> Any:
        """Leave ``group``."""
        check_group_name(group)
        self._require_layer("group_discard")
        return self._run("group_discard", self._group_discard, group)

    def group_send(
        self,
        group: str,
        event: str,
        payload: dict[str, Any] | None = None,
        exclude_self: bool = False,
    ) -> Any:
        """
        Send ``{"event": event, **payload}`` to every socket in ``group``.

        The frame is encoded once here; members write it as is. With ``exclude_self=True``
        this socket doesn't get it.
        """
        check_group_name(group)
        self._require_layer("group_send")
        message = frame_message(event, payload, self.channel_name if exclude_self else None)
        return self._run("group_send", self._layer_call, "group_send", group, message)

    def group_call_event(
        self, group: str, event: str, payload: dict[str, Any] | None = None
    ) -> Any:
        """Call ``on_<event>(payload)`` server-side in every consumer in ``group``."""
        check_group_name(group)
        self._require_layer("group_call_event")
        message = call_message(event, payload)
        return self._run("group_call_event", self._layer_call, "group_send", group, message)

    def send_to(self, channel_name: str, event: str, payload: dict[str, Any] | None = None) -> Any:
        """Send ``{"event": event, **payload}`` to the socket whose ``channel_name`` this is."""
        self._require_layer("send_to")
        check_channel_name(channel_name)
        message = frame_message(event, payload)
        return self._run("send_to", self._layer_call, "send", channel_name, message)

    def _run(self, name: str, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> Any:
        """The public method ``name`` as ``fn(*args)``, from sync or async code (operations.py)."""
        return run_operation(self._loop, type(self).__qualname__, name, fn, *args)

    # -- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        self.scope = scope
        self.base_send = send
        self._loop = asyncio.get_running_loop()
        config = _config()
        self._config = config
        self._recipient = Recipient(
            self._on_layer_message, config.max_pending_messages, type(self).__qualname__
        )
        self.channel_layer = get_channel_layer(self.channel_layer_alias or config.channel_layer)
        hub = None
        if self.channel_layer is not None:
            note_serving_loop(self.channel_layer, self._loop)
            hub = hub_for(self.channel_layer)
            # On channels-redis the hub reads the socket's channel (see Hub.open_socket).
            name = hub.open_socket(self._recipient) or await self.channel_layer.new_channel()
            self.channel_name = self._recipient.channel_name = name
        self._inbox: asyncio.Queue[tuple[Callable[..., Awaitable[Any]], tuple[Any, ...]] | None]
        self._inbox = asyncio.Queue()
        self._main_task = asyncio.current_task()
        self._gone_waiter: asyncio.Future[None] = self._loop.create_future()
        self._fatal: Exception | None = None
        self._worker = asyncio.create_task(self._work())
        layer_reader = None
        if hub is not None and hub.inbox is None:
            assert self.channel_layer is not None and self.channel_name is not None
            layer_reader = asyncio.create_task(
                self._read_layer(hub, self.channel_layer, self.channel_name)
            )
        try:
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    counters.message_in()
                    await self._enqueue_frame(message)
                elif kind == "websocket.connect":
                    self._inbox.put_nowait((self._handle_connect, ()))
                elif kind == "websocket.disconnect":
                    await self._handle_disconnect(message.get("code", 1005))
                    break
        except asyncio.CancelledError:
            if self._fatal is None:
                raise
            self._main_task.uncancel()
        finally:
            self._stopping = True
            if not self._gone_waiter.done():
                self._gone_waiter.set_result(None)
            if self._connected:
                counters.closed()
                if self.channel_layer is not None:
                    processes.socket_closed(self.channel_layer)
            tasks = [t for t in (layer_reader, self._worker) if t is not None and not t.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                # Cancelled tasks normally end at once; don't hold the disconnect for one that
                # doesn't (see _reap).
                _, pending = await asyncio.wait(tasks, timeout=_TASK_END_TIMEOUT)
                for task in pending:
                    reap(task, self.channel_layer)
            if self._groups:  # cancelled or crashed before a disconnect: don't leak membership
                await self._leave_all_groups()
            if hub is not None:
                hub.close_socket(self.channel_name)
        if self._fatal is not None:
            raise self._fatal

    async def _work(self) -> None:
        """Handle queued items one at a time, in arrival order."""
        while True:
            item = await self._inbox.get()
            if item is None:
                return
            if self._inbox.empty():
                self._overloaded.end()
            fn, args = item
            try:
                await fn(*args)
            except Exception:  # every handler path catches its own; this is a safety net
                logger.exception("easy_channels: unexpected error in %s", type(self).__qualname__)

    # -- connect ---------------------------------------------------------------------------------

    @classmethod
    def _middleware_classes(cls, config: Config) -> list[type[SocketMiddleware]]:
        """The chain of this class: the global middleware, then its own (also for inspection)."""
        own = f"{cls.__module__}.{cls.__qualname__}.middlewares"
        return [
            *(load_middleware(e, "EASY_CHANNELS['MIDDLEWARE']") for e in config.middleware),
            *(load_middleware(e, own) for e in cls.middlewares),
        ]

    async def _call_lifecycle(self, attr: str, *args: Any, thread_sensitive: bool = True) -> None:
        handler = self._tables.lifecycle[attr]
        args = args if handler.takes_arg else ()
        await scoped(
            call,
            getattr(self, attr),
            *args,
            is_async=handler.is_async,
            thread_sensitive=thread_sensitive,
        )

    async def _handle_connect(self) -> None:
        self._connecting = True
        try:
            await self._connect_sequence()
        finally:
            self._connecting = False

    async def _connect_sequence(self) -> None:
        try:
            middleware = [cls(self) for cls in self._middleware_classes(self._config)]
            for mw in middleware:
                if "on_connect" in mw.defined_hooks:
                    await call(mw.on_connect)
                # Each middleware whose on_connect succeeded gets its on_disconnect, even if a
                # later one refuses the socket: it may hold something to release.
                self._middleware.append(mw)
            if self._config.user_groups and self.channel_layer is not None:
                user = self.scope.get("user")
                if user is not None and getattr(user, "is_authenticated", False):
                    await self._group_add(user_group(user))
            for group in self.groups:
                await self._group_add(check_group_name(group))
            await self._call_lifecycle("on_connect")
        except LayerUnavailable:
            await self._refuse(
                Reject(CloseCode.UNAVAILABLE, "Service unavailable; try again shortly.")
            )
            return
        except Reject as reject:
            logger.info(
                "easy_channels: %s refused %s: %s (%s)",
                type(self).__qualname__,
                self.scope.get("path"),
                reject.reason,
                reject.code,
            )
            await self._refuse(reject)
            return
        except Exception:
            logger.exception(
                "easy_channels: on_connect of %s failed for %s",
                type(self).__qualname__,
                self.scope.get("path"),
            )
            await self._leave_all_groups()
            if self._accepted:
                await self._close_internal_error()
            else:
                await self._close(None)
            return
        if not self._accepted and not self._closed and not self._gone:
            if self._config.auto_accept:
                await self._accept()
            else:
                logger.warning(
                    "easy_channels: %s.on_connect() neither accepted nor refused the socket and "
                    "EASY_CHANNELS['AUTO_ACCEPT'] is False: refusing it. Call self.accept().",
                    type(self).__qualname__,
                )
                await self._close(None)
        if self._accepted and not self._closed:
            self._connected = True
            counters.opened()
            if self.channel_layer is not None:
                processes.socket_opened(self.channel_layer)
        else:
            await self._leave_all_groups()

    async def _refuse(self, reject: Reject) -> None:
        """Tell the browser why (it can't read a handshake refusal), then close."""
        await self._leave_all_groups()
        if self._closed or self._gone:
            return
        self._early.clear()
        counters.refused(reject.code)
        if not self._accepted:
            await self._accept()
        await self._send_text(protocol.encode_connect_error(reject.code, reject.reason))
        await self._close(reject.code, reject.reason)

    # -- client frames -----------------------------------------------------------------------------

    async def _enqueue_frame(self, message: dict[str, Any]) -> None:
        if self._closed or self._gone:
            return
        if protocol.is_heartbeat(message.get("text")):
            # Answered here, not queued: a socket busy in a slow handler is still alive.
            await self._send_text(protocol.PONG_TEXT)
            return
        if self._middleware and not await self._admit(message):
            return
        config = self._config
        size = _frame_bytes(message)
        waiting = self._pending_bytes
        if self._inbox.qsize() >= config.max_pending_messages or (
            waiting and waiting + size > config.max_pending_bytes
        ):
            self._overloaded.drop(
                "overloaded",
                "easy_channels: dropping frames from %s (%s): %d frames (%d bytes) already wait "
                "for a handler (EASY_CHANNELS['MAX_PENDING_MESSAGES'] and ['MAX_PENDING_BYTES'])",
                self.scope.get("path"),
                type(self).__qualname__,
                self._inbox.qsize(),
                waiting,
            )
            await self._protocol_error(
                ProtocolError(ErrorCode.OVERLOADED, "Too many messages waiting; slow down.")
            )
            return
        self._pending_bytes += size
        self._inbox.put_nowait((self._handle_frame, (message, size)))

    async def _admit(self, message: dict[str, Any]) -> bool:
        """
        The middleware's ``on_arrival`` hooks, as the frame arrives; False if one refused it.

        They run before the frame is queued, so a limit (Throttle) acts on a flood as it comes,
        not once the queue has filled. A refused frame is answered at once, with its ack.
        """
        for mw in self._middleware:
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
                        type(self).__qualname__,
                    )
                await self._send_error_for(
                    exc, self._peek_ack(message), logged=not isinstance(exc, SocketError)
                )
                return False
        return True

    def _peek_ack(self, message: dict[str, Any]) -> Any:
        """The ack id of a frame refused on arrival (None if it has none or isn't valid)."""
        try:
            return protocol.frame_from_message(self._parse(message)).ack
        except ProtocolError:
            return None

    def _parse(self, message: dict[str, Any]) -> Any:
        """The JSON of a client frame, within the size and depth limits (or ProtocolError)."""
        return protocol.parse_message(
            message.get("text"),
            message.get("bytes"),
            max_size=self._config.max_message_size,
            max_depth=self._config.max_json_depth,
        )

    async def _handle_frame(self, message: dict[str, Any], size: int = 0) -> None:
        self._pending_bytes -= size
        if self._closed or self._gone:
            return
        ack = None
        handler: Handler | None = None
        event: str | None = None
        try:
            raw = self._parse(message)
            frame = protocol.frame_from_message(raw)
            ack = frame.ack
            if self._middleware:
                raw = await self._run_receive_middleware(raw)
                frame = protocol.frame_from_message(raw)
            event = frame.event
            handler = self._tables.client.get(event)
            if handler is None:
                self._log_unknown_event(event)
                raise ProtocolError(ErrorCode.UNKNOWN_EVENT, f"Unknown event {event!r}.")
            self._errors_in_a_row = 0
            result = await self._invoke(handler, frame.payload)
        except ProtocolError as exc:
            await self._protocol_error(exc, ack if exc.ack is None else exc.ack)
            return
        except Exception as exc:
            await self._send_error_for(exc, ack, self._where(event, handler))
            return
        if ack is not None:
            try:
                text = protocol.encode_ack(ack, result)
            except (TypeError, ValueError) as exc:
                assert handler is not None
                logger.error(
                    "easy_channels: %s returned %s, which can't be sent as the ack of event %r "
                    "(%s): return None, or data JSON can encode (dict, list, str, number, bool)",
                    self._where(event, handler),
                    type(result).__name__,
                    event,
                    exc,
                )
                await self._send_error_for(exc, ack, self._where(event, handler), logged=True)
                return
            await self._send_text(text)

    def _where(self, event: str | None, handler: Handler | None) -> str:
        """Names the consumer, the event and the handler for a log line."""
        cls = type(self).__qualname__
        path = self.scope.get("path")
        if handler is not None:
            return f"{cls}.{handler.attr}() (event {event!r}, {path})"
        if event is not None:  # failed in the middleware, before the handler
            return f"{cls}'s middleware (event {event!r}, {path})"
        return f"{cls} ({path})"

    def _log_unknown_event(self, event: str) -> None:
        """Warn once per consumer class and event name (a client's typo, or an old client)."""
        key = (type(self).__qualname__, event)
        if key in _unknown_events_logged or len(_unknown_events_logged) >= 1024:
            logger.debug("easy_channels: unknown event %r for %s", event, key[0])
            return
        _unknown_events_logged.add(key)
        logger.warning(
            "easy_channels: a client of %s (%s) sent event %r, which it has no handler for; "
            "known events: %s. Define on_%s(), or fix the client (warned once per event).",
            key[0],
            self.scope.get("path"),
            event,
            ", ".join(sorted(self._tables.client)) or "none",
            event,
        )

    async def _run_receive_middleware(self, raw: dict[str, Any]) -> dict[str, Any]:
        for mw in self._middleware:
            if "on_receive" in mw.defined_hooks:
                hook = mw.on_receive
                result = await call(hook, raw)
                if result is not None:
                    raw = result
        return raw

    async def _invoke(self, handler: Handler, arg: Any) -> Any:
        method = getattr(self, handler.attr)
        if handler.takes_arg:
            return await scoped(call, method, arg, is_async=handler.is_async)
        return await scoped(call, method, is_async=handler.is_async)

    async def _protocol_error(self, exc: ProtocolError, ack: Any = None) -> None:
        logger.info("easy_channels: %s from %s: %s", exc.code, self.scope.get("path"), exc.message)
        counters.error(exc.code)
        await self._send_text(protocol.encode_error(exc.code, exc.message, ack))
        if exc.code in ErrorCode.PROTOCOL:
            self._errors_in_a_row += 1
            if self._errors_in_a_row >= self._config.max_consecutive_errors:
                logger.warning(
                    "easy_channels: closing %s after %d protocol errors in a row",
                    self.scope.get("path"),
                    self._errors_in_a_row,
                )
                await self._close(CloseCode.PROTOCOL_ABUSE, "Too many protocol errors")

    async def _send_error_for(
        self, exc: Exception, ack: Any, where: str | None = None, *, logged: bool = False
    ) -> None:
        """Turn a handler or middleware exception into an error frame; the socket stays open."""
        where = where or self._where(None, None)
        await self._send_text(error_frame(exc, ack, where, logged=logged))

    # -- channel layer ---------------------------------------------------------------------------

    def _require_layer(self, method: str) -> BaseChannelLayer:
        if self.channel_layer is None:
            if self._loop is None:
                raise RuntimeError(
                    f"{type(self).__qualname__}.{method}() called before the consumer started."
                )
            raise ImproperlyConfigured(
                f"{type(self).__qualname__}.{method}() needs a channel layer: add "
                "CHANNEL_LAYERS to settings.py (channels.layers.InMemoryChannelLayer for "
                "development, channels_redis.core.RedisChannelLayer in production)."
            )
        return self.channel_layer

    async def _read_layer(self, hub: Hub, layer: BaseChannelLayer, channel: str) -> None:
        """
        Receive this socket's channel from a layer other than channels-redis (see hub).

        Each message is handed over without waiting for the client (``Hub.hand``): a slow
        client never holds up this receive, so messages never wait, unseen, in the layer until
        they expire; past ``MAX_PENDING_MESSAGES`` they are dropped here and counted.
        """
        delay = 0.1
        outage: float | None = None  # when this reader saw the layer fail
        while not self._stopping and not cancel_requested():
            if outage is not None and await self._layer_is_back(layer, channel):
                rejoin_all(layer, outage, self._config.layer_timeout)
                outage, delay = None, 0.1
            elif outage is not None:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            try:
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._stopping:
                    return
                if is_read_timeout(exc):
                    # An idle blocking receive that outlived the client's read timeout (redis-py
                    # 8's 5 s default equals channels-redis' 5 s BZPOPMIN): nothing is wrong.
                    logger.debug("easy_channels: idle channel layer receive timed out; again")
                    continue
                logger.warning(
                    "easy_channels: receiving from the channel layer failed (%r); retrying in "
                    "%.1fs",
                    exc,
                    delay,
                    exc_info=not is_unavailable(exc),  # an outage needs no traceback
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                if is_unavailable(exc) and outage is None:
                    outage = asyncio.get_running_loop().time()
                continue
            delay = 0.1
            if self._stopping:  # a cancel swallowed by the layer's client: the socket is gone
                logger.debug("easy_channels: dropped a layer message for a finished socket")
                return
            hub.hand(self._recipient, message)

    async def _layer_is_back(self, layer: BaseChannelLayer, channel: str) -> bool:
        """A cheap write that fails while the layer is down (leaving a group nobody is in)."""
        try:
            await bounded(
                layer,
                layer.group_discard("easy_channels.probe", channel),
                "a probe",
                self._config.layer_timeout,
            )
        except LayerUnavailable:
            return False
        return True

    async def _on_layer_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == FRAME_TYPE:
            if message.get("exclude") is None or message["exclude"] != self.channel_name:
                await self._send_text(message["text"])
        elif kind == CALL_TYPE:
            if not self._gone:
                self._queue_server_call(self._handle_call, message)
        elif kind == CLOSE_TYPE:
            code = message.get("code", 4000)
            await self._close(code, message.get("reason"))
        elif isinstance(kind, str) and not self._gone:
            self._queue_server_call(self._handle_raw_layer_message, message)

    def _queue_server_call(
        self, fn: Callable[..., Awaitable[Any]], message: dict[str, Any]
    ) -> None:
        """
        Queue a server-side call (group_call_event, a raw layer message) behind the handlers.

        Bounded like client frames: a socket whose handlers can't keep up with the calls sent
        to it would otherwise hold every one of them in memory. Past twice
        MAX_PENDING_MESSAGES waiting items the call is dropped, counted and logged (once until
        the queue empties).
        """
        if self._inbox.qsize() >= 2 * self._config.max_pending_messages:
            self._overloaded.drop(
                "overloaded",
                "easy_channels: %s (%s) handles server events too slowly; dropping %r calls "
                "until it catches up (EASY_CHANNELS['MAX_PENDING_MESSAGES'])",
                self.channel_name,
                type(self).__qualname__,
                message.get("event") or message.get("type"),
            )
            return
        self._inbox.put_nowait((fn, (message,)))

    async def _handle_call(self, message: dict[str, Any]) -> None:
        if self._gone:
            return
        event = message.get("event")
        handler = self._tables.server.get(event) if isinstance(event, str) else None
        if handler is None:
            logger.debug(
                "easy_channels: %s has no handler for server event %r; ignored",
                type(self).__qualname__,
                event,
            )
            return
        try:
            payload = json.loads(message.get("payload") or "{}")
            await self._invoke(handler, payload)
        except Exception:
            logger.exception(
                "easy_channels: %s failed (a server event, from group_call_event)",
                self._where(event, handler),
            )

    async def _handle_raw_layer_message(self, message: dict[str, Any]) -> None:
        """Channels-style ``{"type": "chat.message"}`` -> ``chat_message(message)``, if defined."""
        try:
            name = get_handler_name(message)
        except ValueError:
            name = None
        method = getattr(type(self), name, None) if name else None
        if name is None or method is None or name.startswith("on_") or hasattr(JSONWebSocket, name):
            logger.warning(
                "easy_channels: %s has no handler for layer message type %r; ignored",
                type(self).__qualname__,
                message.get("type"),
            )
            return
        try:
            await scoped(call, getattr(self, name), message)
        except Exception:
            logger.exception("easy_channels: %s.%s() failed", type(self).__qualname__, name)

    # -- the operations behind the public methods ------------------------------------------------

    async def _raw_send(self, message: dict[str, Any]) -> None:
        try:
            sent = await self._transport_send(message)
        except OSError:  # uvicorn's ClientDisconnected: the disconnect message is on its way
            logger.debug("easy_channels: client of %s already gone", self.scope.get("path"))
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
            await asyncio.wait({waiting, self._gone_waiter}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            waiting.cancel()
            raise
        if not waiting.done():  # the client left first
            waiting.cancel()
            waiting.add_done_callback(_retrieve)
            counters.drop("client_gone")
            logger.debug(
                "easy_channels: gave up a write to the gone client of %s", self.channel_name
            )
            return False
        waiting.result()  # raises what the server raised (OSError: the client is gone)
        return True

    async def _accept(self, subprotocol: str | None = None) -> None:
        if self._accepted or self._closed or self._gone:
            return
        self._accepted = True
        await self._raw_send({"type": "websocket.accept", "subprotocol": subprotocol})
        early, self._early = self._early, []
        for text in early:
            await self._raw_send({"type": "websocket.send", "text": text})

    async def _close(self, code: int | None = CloseCode.NORMAL, reason: str | None = None) -> None:
        if self._closed or self._gone:
            return
        self._closed = True
        message: dict[str, Any] = {"type": "websocket.close"}
        if code is not None:
            message["code"] = code
        if reason:
            message["reason"] = protocol.truncate_reason(reason)
        await self._raw_send(message)

    async def _close_internal_error(self) -> None:
        """
        Close with 1011 after accept(), the same on every server.

        If the app just died, daphne would send 1011 and uvicorn drop the TCP connection (the
        browser sees 1006): so send 1011 explicitly. daphne (autobahn) refuses to send 1011
        through ASGI but sends it itself when the app raises: then end the app with an error.
        """
        if self._closed or self._gone:
            return
        self._closed = True
        try:
            await self.base_send({"type": "websocket.close", "code": CloseCode.INTERNAL_ERROR})
        except OSError:
            return
        except Exception as exc:
            self._fatal = RuntimeError(
                f"{type(self).__qualname__}.on_connect() failed after accept(); ending the "
                "application so that the server closes the socket with 1011"
            )
            self._fatal.__cause__ = exc
            if self._main_task is not None:
                self._main_task.cancel()

    async def _send_text(self, text: str) -> None:
        if self._closed or self._gone:
            counters.drop("client_gone")
            logger.debug("easy_channels: dropped a frame for closed socket %s", self.channel_name)
            return
        if not self._accepted:
            if len(self._early) < self._config.max_pending_messages:
                self._early.append(text)
            else:
                counters.drop("before_accept")
                logger.warning("easy_channels: dropped a frame sent before accept()")
            return
        # _raw_send inlined: this is the innermost step of every fan-out.
        try:
            if await self._transport_send({"type": "websocket.send", "text": text}):
                counters.message_out()
        except OSError:  # uvicorn's ClientDisconnected: the disconnect message is on its way
            logger.debug("easy_channels: client of %s already gone", self.scope.get("path"))

    async def _layer_call(self, method: str, target: str, message: dict[str, Any]) -> None:
        await deliver(self.channel_layer, method, target, message, self._config.layer_timeout)

    async def _group_add(self, group: str) -> None:
        if self._gone:
            logger.debug("easy_channels: group_add(%r) after disconnect ignored", group)
            return
        await hub_for(self.channel_layer).join(self._recipient, group, self._config.layer_timeout)
        self._groups.add(group)
        if self._gone:  # the client left while we were joining
            await self._group_discard(group)

    async def _group_discard(self, group: str) -> None:
        self._groups.discard(group)
        await hub_for(self.channel_layer).leave(self._recipient, group, self._config.layer_timeout)

    async def _leave_all_groups(self) -> None:
        groups, self._groups = self._groups, set()
        if not groups:
            return
        hub = hub_for(self.channel_layer)
        for group in groups:
            try:
                await hub.leave(self._recipient, group, self._config.layer_timeout)
            except LayerUnavailable:
                pass  # logged; the layer forgets the membership after its group_expiry
            except Exception:
                logger.exception("easy_channels: could not leave group %r", group)

    # -- disconnect ------------------------------------------------------------------------------

    async def _handle_disconnect(self, code: int) -> None:
        self._gone = True
        self._gone_waiter.set_result(None)  # writes still waiting for the client give up
        self.close_code = code
        # Frames not started yet are dropped; the sentinel stops the worker after its current one.
        while not self._inbox.empty():
            self._inbox.get_nowait()
        self._pending_bytes = 0
        self._inbox.put_nowait(None)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(self._config.disconnect_timeout)
        await self._leave_all_groups()
        if self._connecting:
            await self._wait_for_worker(deadline)
        await self._run_disconnect_hooks(code)
        await self._wait_for_worker(deadline)
        await self._leave_all_groups()

    async def _run_disconnect_hooks(self, code: int) -> None:
        """
        The consumer's on_disconnect (only if the socket was connected), then the middleware's.

        Sync hooks run outside the one thread sync handlers share, so a slow sync handler
        can't hold up the disconnect.
        """
        if self._connected:
            try:
                await self._call_lifecycle("on_disconnect", code, thread_sensitive=False)
            except Exception:
                logger.exception(
                    "easy_channels: %s.on_disconnect() failed", type(self).__qualname__
                )
        for mw in reversed(self._middleware):
            if "on_disconnect" in mw.defined_hooks:
                hook = mw.on_disconnect
                try:
                    await call(hook, code, thread_sensitive=False)
                except Exception:
                    logger.exception(
                        "easy_channels: %s.on_disconnect() failed", type(mw).__qualname__
                    )

    async def _wait_for_worker(self, deadline: float) -> None:
        worker = self._worker
        if worker.done():
            return
        timeout = max(0.0, deadline - asyncio.get_running_loop().time())
        done, _ = await asyncio.wait({worker}, timeout=timeout)
        if not done:
            logger.warning(
                "easy_channels: a handler of %s was still running %ss after its client left; "
                "cancelled it (EASY_CHANNELS['DISCONNECT_TIMEOUT'])",
                type(self).__qualname__,
                self._config.disconnect_timeout,
            )
            worker.cancel()
            await asyncio.wait({worker})


#: (consumer class, event) pairs already warned about (see _log_unknown_event); bounded.
_unknown_events_logged: set[tuple[str, str]] = set()


def _frame_bytes(message: dict[str, Any]) -> int:
    """The size of a client frame in bytes (a text frame's UTF-8, as the client sent it)."""
    text = message.get("text")
    return protocol.utf8_size(text) if text is not None else len(message.get("bytes") or b"")


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Done callback of an abandoned write: its outcome is of no interest (the client left)."""
    if not task.cancelled():
        task.exception()


#: Seconds the app waits for its cancelled background tasks before returning.
_TASK_END_TIMEOUT = 0.1

# The library base itself has empty tables.
JSONWebSocket._tables = build_tables(JSONWebSocket, (JSONWebSocket,))
