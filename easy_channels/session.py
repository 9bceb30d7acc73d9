"""
:class:`Session`: one consumer instance at work on a connection, from the handshake to the end.

It is what a :class:`~easy_channels.connection.Connection` carries (its
:class:`~easy_channels.connection.Host`): the connect sequence (middleware, groups,
``on_connect``, accept or refuse), the bounded queue that one worker task empties in order
(both made only when needed), the socket's groups and layer channel (through the hub), the
layer messages meant for it, and the disconnect sequence, which runs at once even while a
handler is still busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from . import counters, processes
from .calls import PendingCalls
from .connection import Connection, State
from .dispatch import Dispatcher
from .exceptions import LayerUnavailable, Reject
from .handlers import call
from .hub import Hub
from .layer import check_group_name, no_layer, reap, user_group
from .middleware import chain_for
from .outgoing import CALL_TYPE, CLOSE_TYPE, FRAME_TYPE
from .presence_tracker import existing_tracker
from .presence_view import empty_state
from .protocol import CloseCode, ErrorCode, ProtocolError
from .recipient import Recipient
from .recovery import POSITION_KEY
from .resume import Resumption
from .worker import Worker

if TYPE_CHECKING:
    from .conf import Config

__all__ = ["Phase", "Session"]

logger = logging.getLogger("easy_channels")

#: Seconds the app waits for its cancelled worker before returning.
_TASK_END_TIMEOUT = 0.1


class Phase(enum.Enum):
    """Where a consumer instance is in its lifecycle (its connection has a State of its own)."""

    NEW = "new"
    CONNECTING = "connecting"  # the connect sequence runs
    CONNECTED = "connected"  # accepted: on_disconnect will run
    REFUSED = "refused"  # refused, failed, or gone before it was accepted


class Session:
    """The runtime of one consumer instance (see the module docstring)."""

    __slots__ = (
        "calls",
        "config",
        "connection",
        "consumer",
        "dispatcher",
        "hub",
        "overloaded",
        "owner",
        "pending_bytes",
        "phase",
        "recipient",
        "resumption",
        "unsupported",
        "work",
    )

    def __init__(
        self,
        consumer: Any,
        connection: Connection,
        dispatcher: Dispatcher,
        config: Config,
        hub: Hub | None,
    ):
        self.consumer = consumer
        self.connection = connection
        self.dispatcher = dispatcher
        self.config = config
        self.hub = hub
        self.owner = type(consumer).__qualname__
        self.phase = Phase.NEW
        self.recipient = Recipient(self.layer_message, config.max_pending_messages, self.owner)
        self.pending_bytes = 0  # of the client frames waiting in the queue
        self.overloaded = counters.DropRun()  # its queue is full, until it empties
        self.work = Worker(self.owner, self.overloaded.end)
        #: The server's calls to this client that wait for an answer (``consumer.call()``).
        self.calls = PendingCalls(config.max_pending_messages)
        #: The socket's recovery, for a consumer with ``recovery = True`` (made at connect).
        self.resumption: Resumption | None = None
        #: Frames its protocol can't carry, logged once per socket (made at the first one).
        self.unsupported: counters.DropRun | None = None

    async def open_channel(self) -> str | None:
        """The socket's channel in the layer, read by the hub (None without a layer)."""
        if self.hub is None:
            return None
        return await self.hub.open_socket(self.recipient, self.config.layer_timeout)

    # -- Host: what the connection tells us ------------------------------------------------------

    def connect_requested(self) -> None:
        self.work.put(self._connect)

    async def frame_received(self, message: dict[str, Any]) -> None:
        reply = self.connection.codec.reply(message)
        if reply is not None:  # an answer to a server call: taken at once, ahead of the queue
            if not self.calls.resolve(reply):
                logger.debug("easy_channels: a late reply to call %s of %s", reply[0], self.owner)
            return
        dispatcher = self.dispatcher
        if dispatcher.middleware and not await dispatcher.admit(message):
            return
        config = self.config
        size = self.connection.codec.size(message)
        waiting = self.pending_bytes
        if len(self.work) >= config.max_pending_messages or (
            waiting and waiting + size > config.max_pending_bytes
        ):
            self.overloaded.drop(
                "overloaded",
                "easy_channels: dropping frames from %s (%s): %d frames (%d bytes) already wait "
                "for a handler (EASY_CHANNELS['MAX_PENDING_MESSAGES'] and ['MAX_PENDING_BYTES'])",
                self.consumer.scope.get("path"),
                self.owner,
                len(self.work),
                waiting,
            )
            await dispatcher.protocol_error(
                ProtocolError(ErrorCode.OVERLOADED, "Too many messages waiting; slow down.")
            )
            return
        self.pending_bytes += size
        self.work.put(self._handle_frame, message, size, linger=True)

    async def _handle_frame(self, message: dict[str, Any], size: int) -> None:
        self.pending_bytes -= size
        if self.connection.writable:
            await self.dispatcher.handle_frame(message)

    async def disconnected(self, code: int) -> None:
        self.consumer.close_code = code
        self.calls.fail_all()
        # Frames not started yet are dropped; the worker stops after its current one.
        self.work.stop()
        self.pending_bytes = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(self.config.disconnect_timeout)
        if self.resumption is not None and self.hub is not None:
            with contextlib.suppress(LayerUnavailable):  # logged; the session expires anyway
                await self.resumption.finish(
                    None if self.connection.closed_here else code, self.recipient.channel_name
                )
        await self.leave_all()
        limit = self.config.disconnect_timeout
        if self.phase is Phase.CONNECTING:
            await self.work.finish(deadline, limit)
        await self.dispatcher.run_disconnect_hooks(code, self.phase is Phase.CONNECTED)
        await self.work.finish(deadline, limit)
        await self.leave_all()

    async def ended(self) -> None:
        if self.phase is Phase.CONNECTED:
            counters.closed()
            if self.hub is not None:
                processes.socket_closed(self.hub.layer)
        self.work.stop()
        worker = self.work.task
        if worker is not None and not worker.done():
            worker.cancel()
            # A cancelled task normally ends at once; don't hold the disconnect for one that
            # doesn't (see layer.reap).
            _, pending = await asyncio.wait({worker}, timeout=_TASK_END_TIMEOUT)
            for task in pending:
                reap(task, self.hub.layer if self.hub is not None else None)
        if self.recipient.groups:  # cancelled or crashed before a disconnect: don't leak them
            await self.leave_all()
        if self.hub is not None:
            self.hub.close_socket(self.recipient)

    # -- connect ---------------------------------------------------------------------------------

    async def _connect(self) -> None:
        self.phase = Phase.CONNECTING
        try:
            await self._connect_sequence()
        finally:
            if self.phase is Phase.CONNECTING:
                self.phase = Phase.REFUSED

    async def _connect_sequence(self) -> None:
        connection, dispatcher = self.connection, self.dispatcher
        try:
            for cls in chain_for(type(self.consumer), self.config.middleware):
                mw = cls(self.consumer)
                if "on_connect" in mw.defined_hooks:
                    await call(mw.on_connect)
                # Each middleware whose on_connect succeeded gets its on_disconnect, even if a
                # later one refuses the socket: it may hold something to release.
                dispatcher.middleware.append(mw)
            if self.config.user_groups and self.hub is not None:
                user = self.consumer.scope.get("user")
                if user is not None and getattr(user, "is_authenticated", False):
                    await self.join(user_group(user))
            for group in self.consumer.groups:
                await self.join(check_group_name(group))
            if self.consumer.recovery and self.hub is not None:
                await Resumption.start(self, self.hub.layer)
            await dispatcher.call_lifecycle("on_connect")
        except LayerUnavailable:
            await self._refuse(
                Reject(CloseCode.UNAVAILABLE, "Service unavailable; try again shortly.")
            )
            return
        except Reject as reject:
            logger.info(
                "easy_channels: %s refused %s: %s (%s)",
                self.owner,
                self.consumer.scope.get("path"),
                reject.reason,
                reject.code,
            )
            await self._refuse(reject)
            return
        except Exception:
            logger.exception(
                "easy_channels: on_connect of %s failed for %s",
                self.owner,
                self.consumer.scope.get("path"),
            )
            await self.leave_all()
            if connection.accepted:
                await connection.close_internal_error(f"{self.owner}.on_connect() failed")
            else:
                await connection.close(None)
            return
        if connection.state is State.CONNECTING:
            if self.config.auto_accept:
                await connection.accept()
            else:
                logger.warning(
                    "easy_channels: %s.on_connect() neither accepted nor refused the socket and "
                    "EASY_CHANNELS['AUTO_ACCEPT'] is False: refusing it. Call self.accept().",
                    self.owner,
                )
                await connection.close(None)
        if connection.accepted and connection.state is not State.CLOSED:
            self.phase = Phase.CONNECTED
            if self.resumption is not None:  # missed group_call_events, in order
                for call_message in self.resumption.calls():
                    self._queue_server_call(dispatcher.handle_call, call_message)
            counters.opened()
            if self.hub is not None:
                processes.socket_opened(self.hub.layer)
        else:
            await self.leave_all()

    async def _refuse(self, reject: Reject) -> None:
        """Tell the browser why (it can't read a handshake refusal), then close."""
        await self.leave_all()
        if not self.connection.writable:
            return
        counters.refused(reject.code)
        await self.connection.refuse(reject.code, reject.reason)

    # -- groups ----------------------------------------------------------------------------------

    def _require_hub(self, method: str) -> Hub:
        if self.hub is None:
            raise no_layer(self.owner, method)
        return self.hub

    async def join(self, group: str) -> None:
        """Join ``group`` (ignored once the client has gone)."""
        hub = self._require_hub("group_add")
        if self.connection.gone:
            logger.debug("easy_channels: group_add(%r) after disconnect ignored", group)
            return
        await hub.join(self.recipient, group, self.config.layer_timeout)
        if self.connection.gone:  # the client left while we were joining
            await self.leave(group)
        elif self.resumption is not None:
            await self.resumption.joined(group)

    async def leave(self, group: str) -> None:
        """Leave ``group`` (and stop tracking presence there)."""
        hub = self._require_hub("group_discard")
        await self._untrack(hub, group)
        await hub.leave(self.recipient, group, self.config.layer_timeout)
        if self.resumption is not None and not self.connection.gone:
            await self.resumption.left(group)

    async def _untrack(self, hub: Hub, group: str) -> None:
        """Stop tracking presence in ``group``: the client's view of it empties."""
        tracker = existing_tracker(hub.layer)
        if tracker is None or self.recipient not in tracker.tracked:
            return
        if await tracker.discard(self.recipient, hub, group) and not self.connection.gone:
            await self.send_frame(empty_state(group))

    async def send_frame(self, text: str) -> None:
        """Send a frame the library encoded in the JSON protocol, in the client's protocol."""
        relayed = self.connection.codec.relay({"text": text})
        assert relayed is not None  # every protocol carries a frame of the JSON protocol
        await self.connection.send_text(relayed)

    async def leave_all(self) -> None:
        if self.hub is not None and self.recipient.groups:
            tracker = existing_tracker(self.hub.layer)
            if tracker is not None and self.recipient in tracker.tracked:
                await tracker.discard_all(self.recipient, self.hub)
            await self.hub.leave_all(self.recipient, self.config.layer_timeout)

    # -- layer messages --------------------------------------------------------------------------

    async def layer_message(self, message: dict[str, Any]) -> None:
        """A message of the socket's channel or of one of its groups (from the hub)."""
        kind = message.get("type")
        resumption = self.resumption
        if resumption is not None and POSITION_KEY in message and not resumption.live(message):
            return  # replayed already
        if kind == FRAME_TYPE:
            exclude = message.get("exclude")
            if exclude is None or exclude != self.recipient.channel_name:
                if resumption is not None and POSITION_KEY in message:
                    text = resumption.positioned(message, self.connection.codec)
                else:
                    text = self.connection.codec.relay(message)
                if text is not None:
                    await self.connection.send_text(text)
                else:
                    self._not_carried(message)
        elif kind == CALL_TYPE:
            if not self.connection.gone:
                self._queue_server_call(self.dispatcher.handle_call, message)
        elif kind == CLOSE_TYPE:
            await self.connection.close(message.get("code", 4000), message.get("reason"))
        elif isinstance(kind, str) and not self.connection.gone:
            self._queue_server_call(self.dispatcher.handle_raw_layer_message, message)

    def _not_carried(self, message: dict[str, Any]) -> None:
        """A group frame whose payload this socket's protocol can't carry: counted, logged."""
        if self.unsupported is None:
            self.unsupported = counters.DropRun()
        self.unsupported.drop(
            "unsupported_payload",
            "easy_channels: %s (%s) speaks the JSON protocol, which carries dict payloads only: "
            "it skips the frames sent with another payload for Socket.IO clients (send a dict "
            "to reach both; counted as drops.unsupported_payload)",
            self.owner,
            self.recipient.channel_name,
        )

    def _queue_server_call(
        self, fn: Callable[[dict[str, Any]], Awaitable[None]], message: dict[str, Any]
    ) -> None:
        """
        Queue a server-side call (group_call_event, a raw layer message) behind the handlers.

        Bounded like client frames: a socket whose handlers can't keep up with the calls sent
        to it would otherwise hold every one of them in memory. Past twice
        MAX_PENDING_MESSAGES waiting items the call is dropped, counted and logged (once until
        the queue empties).
        """
        if len(self.work) >= 2 * self.config.max_pending_messages:
            self.overloaded.drop(
                "overloaded",
                "easy_channels: %s (%s) handles server events too slowly; dropping %r calls "
                "until it catches up (EASY_CHANNELS['MAX_PENDING_MESSAGES'])",
                self.recipient.channel_name,
                self.owner,
                message.get("event") or message.get("type"),
            )
            return
        self.work.put(fn, message)
