"""
:class:`JSONWebSocket`: a consumer whose ``on_<event>`` methods handle JSON frames, and its
public methods. Its runtime is a :class:`~easy_channels.connection.Connection` (the socket)
carrying a :class:`~easy_channels.session.Session` (this instance at work); see
docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, cast

from asgiref.sync import markcoroutinefunction
from channels.layers import BaseChannelLayer, get_channel_layer

from . import protocol, recovery
from .connection import Connection, Receive, Send
from .dispatch import Dispatcher
from .exceptions import SocketError
from .handlers import register_tables, tables_for
from .hub import hub_for
from .layer import check_group_name, no_layer, note_serving_loop
from .middleware import SocketMiddleware
from .operations import run_operation
from .outgoing import Outgoing
from .presence import require_store
from .presence_tracker import tracker_for
from .presence_view import Visible
from .protocol import CloseCode
from .sending import asend, channel_message, group_call, group_message
from .session import Session
from .socketio_codec import SocketIOCodec
from .wire import JSONCodec, WireCodec

__all__ = ["JSONWebSocket"]

logger = logging.getLogger("easy_channels")

if TYPE_CHECKING:
    from .conf import Config


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
    #: Sessions that survive a dropped connection: back in the same groups, with the group
    #: messages missed meanwhile (EASY_CHANNELS["RECOVERY"]; docs/topics/recovery.rst).
    recovery: ClassVar[bool] = False

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

        @markcoroutinefunction
        def app(scope: dict[str, Any], receive: Receive, send: Send) -> Coroutine[Any, Any, None]:
            # The instance's coroutine itself: no frame of ours kept per open socket for it.
            return cls(**initkwargs)(scope, receive, send)

        app.consumer_class = cls  # type: ignore[attr-defined]  # what Channels' tools read
        app.consumer_initkwargs = initkwargs  # type: ignore[attr-defined]
        functools.update_wrapper(app, cls, updated=())
        return app

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        register_tables(cls, (JSONWebSocket,))
        if cls.recovery:
            recovery.wanted = True  # group sends carry positions from now on

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
        #: The close code the client left with (None while it is connected).
        self.close_code: int | None = None
        #: True in on_connect() if the socket resumed a dropped session (``recovery = True``).
        self.recovered = False
        #: The ``auth`` object of a Socket.IO client's CONNECT packet (``{}`` when absent, and
        #: for the JSON protocol).
        self.auth: dict[str, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection: Connection | None = None
        self._session: Session | None = None

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
        return frozenset(self._session.recipient.groups) if self._session else frozenset()

    @property
    def client_events(self) -> frozenset[str]:
        """Event names a client can send to this consumer."""
        return frozenset(tables_for(type(self)).client)

    def accept(self, subprotocol: str | None = None) -> Any:
        """Accept the connection (only needed in on_connect when AUTO_ACCEPT is off)."""
        return self._run("accept", self._accept, subprotocol)

    def close(self, code: int = CloseCode.NORMAL, reason: str | None = None) -> Any:
        """Close the socket; before accept() this refuses the handshake."""
        protocol.check_close_code(code)
        return self._run("close", self._close, code, reason)

    def emit(self, event: str, payload: Any = None) -> Any:
        """
        Send ``{"event": event, **payload}`` to this socket. Over Socket.IO, ``payload`` is
        the event's argument (a tuple: several arguments; ``bytes`` travel as binary).
        """
        connection = self._connection
        if connection is not None:
            text = connection.codec.event(event, payload)
        else:
            text = protocol.encode_event(event, payload)
        return self._run("emit", self._send_text, text)

    def call(self, event: str, payload: Any = None, timeout: float = 10.0) -> Any:
        """
        Send ``event`` to this socket and return the client's answer (its listener's return
        value; over Socket.IO, what it passes to the ack callback: one argument as is,
        several as a tuple). Raises ``TimeoutError`` after ``timeout`` seconds, and
        :class:`SocketError` if the client answered with an error or left first.
        """
        connection = self._connection
        if connection is not None:
            connection.codec.call(event, payload, 0)  # a bad payload fails here, at once
        return self._run("call", self._call, event, payload, float(timeout))

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
        payload: Any = None,
        exclude_self: bool = False,
    ) -> Any:
        """
        Send ``{"event": event, **payload}`` to every socket in ``group``.

        The frame is encoded once here; members write it as is. With ``exclude_self=True``
        this socket doesn't get it. A payload that is not a dict (a tuple: several arguments)
        reaches the group's Socket.IO sockets only.
        """
        outgoing = group_message(group, event, payload, self.channel_name if exclude_self else None)
        self._require_layer("group_send")
        return self._run("group_send", self._send, outgoing)

    def group_call_event(
        self, group: str, event: str, payload: dict[str, Any] | None = None
    ) -> Any:
        """Call ``on_<event>(payload)`` server-side in every consumer in ``group``."""
        outgoing = group_call(group, event, payload)
        self._require_layer("group_call_event")
        return self._run("group_call_event", self._send, outgoing)

    def send_to(self, channel_name: str, event: str, payload: Any = None) -> Any:
        """Send ``{"event": event, **payload}`` to the socket whose ``channel_name`` this is."""
        self._require_layer("send_to")
        outgoing = channel_message(channel_name, event, payload)
        return self._run("send_to", self._send, outgoing)

    def presence_add(
        self, group: str, meta: dict[str, Any] | None = None, key: str | int | None = None
    ) -> Any:
        """
        Join ``group`` and track this socket there as ``key`` with ``meta`` (a JSON object).

        The key is the user's pk for an authenticated user, otherwise this socket's channel
        name; a user's tabs are one key with one meta each. This socket gets a
        ``presence_state`` frame now and ``presence_diff`` frames as others come and go;
        :func:`easy_channels.presence` lists the group from anywhere. Called again, it
        replaces this socket's meta. Disconnecting (or ``group_discard``) stops tracking.
        """
        check_group_name(group)
        if meta is not None and not isinstance(meta, dict):
            raise TypeError(f"presence_add() meta must be a dict, not {type(meta).__name__}.")
        meta = meta or {}
        protocol.encode_frame(meta)  # not JSON: the error belongs here, not in another process
        self._require_layer("presence_add")
        return self._run("presence_add", self._presence_add, group, meta, key)

    def presence_discard(self, group: str) -> Any:
        """Stop tracking this socket in ``group`` and leave it."""
        check_group_name(group)
        self._require_layer("presence_discard")
        return self._run("presence_discard", self._group_discard, group)

    def presence_visible(self, key: str, meta: dict[str, Any]) -> bool:
        """
        Override to leave entries out of what this socket is told (its ``presence_state`` and
        ``presence_diff`` frames): return False to hide the entry. It runs in the event loop
        for every entry: no database queries (load what it needs in ``on_connect``).
        """
        return True

    def _run(self, name: str, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> Any:
        """The public method ``name`` as ``fn(*args)``, from sync or async code (operations.py)."""
        return run_operation(self._loop, type(self).__qualname__, name, fn, *args)

    def _require_layer(self, method: str) -> BaseChannelLayer:
        if self.channel_layer is None:
            if self._loop is None:
                raise RuntimeError(
                    f"{type(self).__qualname__}.{method}() called before the consumer started."
                )
            raise no_layer(type(self).__qualname__, method)
        return self.channel_layer

    # -- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        self.scope = scope
        self.base_send = send
        loop = self._loop = asyncio.get_running_loop()
        config = _config()
        owner = type(self).__qualname__
        codec: WireCodec
        socketio = scope.get("socketio")
        if socketio is not None:
            self.auth = socketio["auth"]
            codec = SocketIOCodec(socketio["namespace"], config.max_message_size)
        else:
            codec = JSONCodec(config.max_message_size, config.max_json_depth)
        connection = Connection(
            send,
            codec,
            owner=owner,
            path=str(scope.get("path", "")),
            max_early=config.max_pending_messages,
        )
        self.channel_layer = get_channel_layer(self.channel_layer_alias or config.channel_layer)
        hub = None
        if self.channel_layer is not None:
            note_serving_loop(self.channel_layer, loop)
            hub = hub_for(self.channel_layer)
        dispatcher = Dispatcher(self, connection, tables_for(type(self)), config, _RESERVED)
        session = Session(self, connection, dispatcher, config, hub)
        self._connection, self._session = connection, session
        if socketio is not None:  # the namespace hands frames to the connection directly
            socketio["attach"](connection, session)
        self.channel_name = await session.open_channel()
        await connection.serve(receive, session)

    # -- the operations behind the public methods ------------------------------------------------

    def _started(self) -> tuple[Connection, Session]:
        assert self._connection is not None and self._session is not None  # see _run
        return self._connection, self._session

    async def _accept(self, subprotocol: str | None = None) -> None:
        await self._started()[0].accept(subprotocol)

    async def _close(self, code: int | None = CloseCode.NORMAL, reason: str | None = None) -> None:
        await self._started()[0].close(code, reason)

    async def _send_text(self, text: str) -> None:
        await self._started()[0].send_text(text)

    async def _send(self, outgoing: Outgoing) -> None:
        await asend(outgoing, self.channel_layer, self._started()[1].config.layer_timeout)

    async def _call(self, event: str, payload: Any, seconds: float) -> Any:
        connection, session = self._started()
        if not connection.writable:
            raise SocketError("disconnected", "The client has left.")
        call, answer = session.calls.open()
        try:
            await connection.send_text(connection.codec.call(event, payload, call))
            async with asyncio.timeout(seconds):
                return await answer
        finally:
            session.calls.forget(call)

    async def _group_add(self, group: str) -> None:
        await self._started()[1].join(group)

    async def _group_discard(self, group: str) -> None:
        await self._started()[1].leave(group)

    async def _presence_add(self, group: str, meta: dict[str, Any], key: str | int | None) -> None:
        connection, session = self._started()
        layer = self._require_layer("presence_add")
        require_store(layer, f"{type(self).__qualname__}.presence_add()")
        if key is None:
            user = self.scope.get("user")
            if user is not None and getattr(user, "is_authenticated", False):
                key = user.pk
            else:
                key = self.channel_name
        await session.join(group)
        if connection.gone or session.hub is None:
            return
        tracker = tracker_for(layer)
        text = await tracker.add(
            session.recipient, session.hub, group, (str(key), meta), self._visibility()
        )
        if connection.gone:  # it left while being tracked: its disconnect missed this entry
            await tracker.discard(session.recipient, session.hub, group)
            return
        await session.send_frame(text)

    def _visibility(self) -> Visible | None:
        """presence_visible, if the class overrides it, guarded (None: every entry is seen)."""
        if type(self).presence_visible is JSONWebSocket.presence_visible:
            return None
        method, owner = self.presence_visible, type(self).__qualname__

        def visible(key: str, meta: dict[str, Any]) -> bool:
            try:
                return bool(method(key, meta))
            except Exception:
                logger.exception(
                    "easy_channels: %s.presence_visible(%r) failed; the entry is hidden", owner, key
                )
                return False

        return visible


#: Names of the library base: a raw layer message type never calls one (see dispatch).
_RESERVED = frozenset(dir(JSONWebSocket))

# The library base itself has empty tables.
register_tables(JSONWebSocket, (JSONWebSocket,))
