"""
How easy_channels uses one channel layer, decided once per layer: :func:`backend_for`.

Two backends exist. :class:`Backend` uses the layer's own methods (the in-memory layer,
channels-redis' pub/sub layer, a sharded or subclassed channels-redis, any other layer).
:class:`RedisDirect` is for a stock channels-redis 4.x ``RedisChannelLayer``: a group send is
one Lua script, and every channel a process reads shares one Redis key read by one loop
(:mod:`easy_channels.redis_direct`). A backend hands out :class:`Reads`, the channels one
reader of this process owns (a hub's group and socket channels, the stats responder's) and
how they are read; every read goes through :func:`easy_channels.readers.read_forever`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from channels.layers import InMemoryChannelLayer

from . import counters, recovery, redis_direct
from .layer import PRESENCE_PREFIX, reap
from .presence_redis import RedisPresence
from .presence_store import MemoryPresence, PresenceStore
from .readers import read_forever, receiver
from .recovery import MemoryStore, Store
from .recovery_redis import RedisStore

__all__ = ["Backend", "ChannelReads", "InboxReads", "Reads", "RedisDirect", "backend_for"]

logger = logging.getLogger("easy_channels")

#: What a reader does with each message of a channel it watches.
Handler = Callable[[dict[str, Any]], Awaitable[None] | None]
#: Called with the loop time an outage began, once the layer is back (see read_forever).
OnBack = Callable[[float], object]


class Backend:
    """A channel layer used through its own methods."""

    def __init__(self, layer: Any):
        self.layer = layer
        self.store: Store | None = None
        self.presence: PresenceStore | None = None
        if type(layer) is InMemoryChannelLayer:  # exactly: a subclass may store elsewhere
            self.store = MemoryStore()
            self.presence = MemoryPresence()

    def recovery_store(self) -> Store | None:
        """Where sessions and group histories are kept (None: this layer can't keep them)."""
        return self.store

    def presence_store(self) -> PresenceStore | None:
        """Where presence entries are kept (None: this layer can't keep them)."""
        return self.presence

    async def group_send(self, group: str, message: dict[str, Any]) -> int:
        """Send to every member channel of ``group``; the number of full ones (0: unknown)."""
        if recovery.wanted and not group.startswith(PRESENCE_PREFIX):
            store = self.store
            if store is not None:  # the in-memory layer: recorded here, by the sender
                position = recovery.new_position()
                message = {**message, recovery.POSITION_KEY: [group, position]}
                store.record(group, position, message)
        await self.layer.group_send(group, message)
        return 0

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        await self.layer.send(channel, message)

    async def settled(self, groups: list[str]) -> None:
        """Return once the sends to ``groups`` under way in this loop are recorded."""

    def reads(self, *, on_back: OnBack | None = None, local: bool = False) -> Reads:
        """
        A new set of channels for one reader of this process (a task per channel here).
        ``local``: the reads of the event loop's hub, which sends may hand messages to.
        """
        return ChannelReads(self.layer, on_back)


class RedisDirect(Backend):
    """
    A stock channels-redis 4.x layer, used in one round trip per send and one reader.

    A group message is handed to the group's members in the sender's own event loop directly,
    instead of being pushed to Redis and read back: one Redis command per broadcast instead of
    two, and less CPU per delivery. They get it first, before Redis is asked to take it for the
    other processes, so that their latency holds no Redis round trip (python-socketio and
    Socket.IO's Redis adapter do the same). A send that Redis then refuses (Redis down) has
    reached this loop's members only; the sender is told, as for any failed send.
    """

    def __init__(self, layer: Any):
        super().__init__(layer)
        #: event loop -> the Reads of its hub (the channels read in that loop)
        self.local: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, InboxReads] = (
            weakref.WeakKeyDictionary()
        )
        #: group -> recorded sends handed to local members, their script still under way
        self.in_flight: dict[str, set[asyncio.Future[None]]] = {}
        # Sessions and histories in the layer's Redis; a sharded layer can't keep them.
        self.redis_store = RedisStore(layer) if layer.ring_size == 1 else None
        self.store = self.redis_store
        self.presence = RedisPresence(layer) if layer.ring_size == 1 else None

    async def settled(self, groups: list[str]) -> None:
        # A socket resuming here joined after such a send was handed out: it reads the send
        # from the history, once the script has put it there.
        waiting = [f for group in groups for f in self.in_flight.get(group, ())]
        if waiting:
            await asyncio.wait(waiting)

    async def group_send(self, group: str, message: dict[str, Any]) -> int:
        recording = None
        if recovery.wanted and not group.startswith(PRESENCE_PREFIX):
            store = self.redis_store
            if store is not None:  # recorded by the send's script if the group is recorded
                position = recovery.new_position()
                message = {**message, recovery.POSITION_KEY: [group, position]}
                recording = store.recording(group, position, message)
        reads = self.local.get(asyncio.get_running_loop())
        channel = reads.group_channels.get(group) if reads is not None else None
        if channel is None or self.layer.ring_size != 1:
            # No member of the group in this event loop, or a sharded layer (sent the stock
            # way by redis_direct: to every member, this loop's included).
            return await redis_direct.group_send(self.layer, group, message, (), recording)
        assert reads is not None  # a channel was found in them
        if recording is not None:
            flying = asyncio.get_running_loop().create_future()
            self.in_flight.setdefault(group, set()).add(flying)
            try:
                return await self._hand_then_send(reads, channel, group, message, recording)
            finally:
                flying.set_result(None)
                waiting = self.in_flight[group]
                waiting.discard(flying)
                if not waiting:
                    del self.in_flight[group]
        return await self._hand_then_send(reads, channel, group, message, recording)

    async def _hand_then_send(
        self,
        reads: InboxReads,
        channel: str,
        group: str,
        message: dict[str, Any],
        recording: redis_direct.Recording | None,
    ) -> int:
        handle = reads.handlers.get(channel)
        if handle is not None:
            from .outgoing import FRAME_TYPE  # (outgoing sends through this module)

            # Receivers get a copy, as from Redis: not the sender's own dicts.
            local = message
            if message.get("type") != FRAME_TYPE:
                local = self.layer.deserialize(self.layer.serialize(message))
            result = handle(local)
            if inspect.isawaitable(result):
                await result
        # Then Redis takes it for the other members (never for this loop's own group channel).
        return await redis_direct.group_send(self.layer, group, message, (channel,), recording)

    def reads(self, *, on_back: OnBack | None = None, local: bool = False) -> Reads:
        reads = InboxReads(self.layer, on_back)
        if local:
            self.local[asyncio.get_running_loop()] = reads
        return reads


_backends: weakref.WeakKeyDictionary[Any, Backend] = weakref.WeakKeyDictionary()


def backend_for(layer: Any) -> Backend:
    """The backend of ``layer``, chosen on first use and kept as long as the layer."""
    try:
        return _backends[layer]
    except KeyError:
        pass
    except TypeError:  # not weak-referenceable: no channels-redis layer, and nothing to keep
        return Backend(layer)
    backend = RedisDirect(layer) if redis_direct.supports(layer) else Backend(layer)
    _backends[layer] = backend
    return backend


class Reads:
    """The channels one reader owns, each watched with a handler until unwatched."""

    def __init__(self, layer: Any, on_back: OnBack | None):
        self.layer = layer
        self.on_back = on_back
        self.handlers: dict[str, Handler] = {}
        #: group -> the channel watched for it (a hub's group channels)
        self.group_channels: dict[str, str] = {}

    async def new_channel(self, kind: str) -> str:
        """A new channel for ``kind`` ("socket", "group" or "responder")."""
        raise NotImplementedError

    def watch(self, channel: str, handle: Handler, *, what: str, limit: float) -> None:
        """Call ``handle(message)`` for every message to ``channel`` until :meth:`unwatch`."""
        raise NotImplementedError

    def unwatch(self, channel: str) -> None:
        """Stop reading ``channel``; messages still on their way to it are dropped."""
        raise NotImplementedError

    async def receive(self, channel: str) -> dict[str, Any] | None:
        """Read ``channel`` directly (a reader of one channel); None: a read ended empty."""
        raise NotImplementedError

    def watch_group(
        self, group: str, channel: str, handle: Handler, *, what: str, limit: float
    ) -> None:
        """:meth:`watch` a group channel, known as ``group``'s (senders hand it directly)."""
        self.group_channels[group] = channel
        self.watch(channel, handle, what=what, limit=limit)

    def unwatch_group(self, group: str) -> None:
        channel = self.group_channels.pop(group, None)
        if channel is not None:
            self.unwatch(channel)

    def __contains__(self, channel: str) -> bool:
        return channel in self.handlers


class ChannelReads(Reads):
    """A task per watched channel, each in the layer's own ``receive``."""

    def __init__(self, layer: Any, on_back: OnBack | None):
        super().__init__(layer, on_back)
        self.tasks: dict[str, asyncio.Task[None]] = {}

    async def new_channel(self, kind: str) -> str:
        # The default prefix: channels-redis receives every process-local channel of a
        # process through one key derived from it; another prefix would never be read.
        channel: str = await self.layer.new_channel()
        return channel

    def watch(self, channel: str, handle: Handler, *, what: str, limit: float) -> None:
        self.handlers[channel] = handle
        self.tasks[channel] = asyncio.get_running_loop().create_task(
            read_forever(
                self.layer,
                receiver(self.layer, channel),
                lambda message: self._handle(channel, handle, message),
                what=what,
                limit=limit,
                on_back=self.on_back,
                until=lambda: self.handlers.get(channel) is not handle,
            )
        )

    def _handle(self, channel: str, handle: Handler, message: dict[str, Any]) -> Any:
        if self.handlers.get(channel) is handle:
            return handle(message)
        # A cancel swallowed by the layer's client: the channel was given up meanwhile.
        logger.debug("easy_channels: dropped a layer message for unwatched channel %s", channel)
        return None

    def unwatch(self, channel: str) -> None:
        self.handlers.pop(channel, None)
        task = self.tasks.pop(channel, None)
        if task is not None:
            reap(task, self.layer)  # cancels until it ends (redis-py can swallow a cancel)

    async def receive(self, channel: str) -> dict[str, Any] | None:
        message: dict[str, Any] = await receiver(self.layer, channel)()
        return message


class InboxReads(Reads):
    """
    Every channel in one Redis key (the inbox), read by one task while any is watched.

    A message names its channels (``__asgi_channel__``); one for a socket channel of this inbox
    that is no longer watched was for a socket that has gone, and is counted as such.
    """

    def __init__(self, layer: Any, on_back: OnBack | None):
        super().__init__(layer, on_back)
        self.inbox = redis_direct.inbox_name()
        self.task: asyncio.Task[None] | None = None

    async def new_channel(self, kind: str) -> str:
        if kind == "socket":
            return redis_direct.socket_channel(self.layer, self.inbox)
        if kind == "responder":
            return f"{self.inbox}stats"
        return self.inbox + uuid.uuid4().hex

    def watch(self, channel: str, handle: Handler, *, what: str, limit: float) -> None:
        self.handlers[channel] = handle
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(
                read_forever(
                    self.layer,
                    lambda: redis_direct.pop(self.layer, self.inbox),
                    self._route,
                    what="group messages",
                    limit=limit,
                    on_back=self.on_back,
                )
            )

    async def _route(self, popped: tuple[list[str], dict[str, Any]]) -> None:
        names, message = popped
        for name in names:
            handle = self.handlers.get(name)
            if handle is not None:
                result = handle(message)
                if inspect.isawaitable(result):
                    await result
            elif redis_direct.is_gone_socket(self.inbox, name):
                # A socket of this process that has gone (a group's last member leaving while
                # a message was on its way loses nobody anything).
                counters.drop("client_gone")
                logger.debug("easy_channels: dropped a message for gone socket %s", name)

    def unwatch(self, channel: str) -> None:
        self.handlers.pop(channel, None)
        if not self.handlers and self.task is not None:
            reap(self.task, self.layer)
            self.task = None

    async def receive(self, channel: str) -> dict[str, Any] | None:
        popped = await redis_direct.pop(self.layer, self.inbox)
        return None if popped is None else popped[1]

    @property
    def reading(self) -> bool:
        return self.task is not None
