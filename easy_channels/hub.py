"""
Group fan-out inside a process: the layer carries a group message once per process, and the
process writes it to its member sockets itself.

Channels makes every socket a member of its groups in the channel layer, so a group send is
delivered, received and dispatched once per member: in the in-memory layer that costs the
square of the group size, and with channels-redis one receive wake-up per member. Here each
process joins the layer once per group, on a channel of its own (a *group channel*), when its
first socket joins, and leaves when its last socket leaves. One reader per group channel
receives each group message once and hands it to every local member in a tight loop: a
pre-encoded frame is written to each socket as is (the design of Socket.IO's adapters).

Raw ``channel_layer.group_send(group, {"type": ...})`` calls from other code reach the group
channel like ours do and are handed to each member in the same way. Messages to one socket
(``send_to``) still travel on the socket's own channel.

On channels-redis (see :mod:`easy_channels.redis_direct`) a hub's group channels share one
channel key, read by one BZPOPMIN loop: one Redis round trip per group message, where
channels-redis' own receive makes four.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from . import counters, redis_direct
from .eager import start_eagerly
from .exceptions import LayerUnavailable
from .layer import PerLoop, bounded, cancel_requested, is_read_timeout, is_unavailable, reap

__all__ = ["Recipient", "hub_for"]

logger = logging.getLogger("easy_channels")

#: Seconds between re-adds of the group channels. channels-redis forgets a membership after
#: its group_expiry (a day by default): a group that stays populated longer must be re-added.
REFRESH_SECONDS = 3600.0


class Recipient:
    """
    One socket as the hub sees it: how to hand it a layer message, and how many of its
    deliveries wait for a slow client (at most ``limit``; past it, its messages are dropped).

    The socket makes it and gives it to the hub, which keeps the slow-client accounting in it,
    so the hub never reaches into a consumer.
    """

    __slots__ = ("channel_name", "deliver", "drops", "limit", "owner", "stalled")

    def __init__(
        self,
        deliver: Callable[[dict[str, Any]], Coroutine[Any, Any, None]],
        limit: int,
        owner: str,
    ):
        self.deliver = deliver
        self.limit = limit
        self.owner = owner  # the consumer class, for log lines
        self.channel_name: str | None = None
        self.stalled = 0  # deliveries waiting for this socket's transport
        self.drops = counters.DropRun()  # past the limit until it catches up


class Hub:
    """The groups of one channel layer in one event loop (one process, usually)."""

    def __init__(self, layer: Any):
        self.layer = layer
        #: group -> its local member sockets, in joining order (a dict is an ordered set)
        self.members: dict[str, dict[Recipient, None]] = {}
        #: group -> the group channel this process joined the layer's group with
        self.channels: dict[str, str] = {}
        self.readers: dict[str, asyncio.Task[None]] = {}
        #: On channels-redis: the channel key this hub's group channels share, its one reader,
        #: and group channel -> group.
        self.inbox = redis_direct.inbox_name() if redis_direct.supports(layer) else None
        self.inbox_reader: asyncio.Task[None] | None = None
        self.groups: dict[str, str] = {}
        self.limit = 3.0  # the LAYER_TIMEOUT of the last join, for the inbox reader's rejoins
        self.locks: dict[str, asyncio.Lock] = {}
        self.refresher: asyncio.Task[None] | None = None
        #: deliveries waiting for a socket that reads slowly (kept referenced until done)
        self.stalled: set[asyncio.Task[None]] = set()
        #: On channels-redis: socket channel -> its socket. A socket's own channel is one of
        #: the inbox's too, so ``send_to`` messages are read by the same reader, and every
        #: message lost for a slow socket is lost here, where it is counted.
        self.sockets: dict[str, Recipient] = {}

    # -- sockets' own channels ---------------------------------------------------------------

    def open_socket(self, recipient: Recipient) -> str | None:
        """
        A channel of this hub's inbox for ``recipient`` (None: not on channels-redis).

        channels-redis' own receive keeps a local queue per channel that drops the oldest
        message, unlogged and uncounted, once a socket falls behind; it also blocks in Redis
        for as long as redis-py's default read timeout. Read here, neither happens.
        """
        if self.inbox is None:
            return None
        channel = redis_direct.socket_channel(self.layer, self.inbox)
        self.sockets[channel] = recipient
        self._start_inbox_reader()
        return channel

    def close_socket(self, channel: str | None) -> None:
        """Forget a socket's channel (messages still on their way to it are counted as lost)."""
        if channel is not None and self.sockets.pop(channel, None) is not None:
            self._stop_inbox_reader_if_idle()

    def _start_inbox_reader(self) -> None:
        if self.inbox_reader is None or self.inbox_reader.done():
            self.inbox_reader = asyncio.get_running_loop().create_task(self._read_inbox())

    def _stop_inbox_reader_if_idle(self) -> None:
        if not self.channels and not self.sockets and self.inbox_reader is not None:
            reap(self.inbox_reader, self.layer)
            self.inbox_reader = None

    # -- membership ------------------------------------------------------------------------------

    async def join(self, recipient: Recipient, group: str, limit: float) -> None:
        """Add a socket to ``group``; the layer is touched only for the first local member."""
        self.members.setdefault(group, {})[recipient] = None
        try:
            await self._sync(group, limit)
        except BaseException:
            self._forget(recipient, group)
            raise

    async def leave(self, recipient: Recipient, group: str, limit: float) -> None:
        """Remove a socket; the layer is touched only when the last local member leaves."""
        self._forget(recipient, group)
        await self._sync(group, limit)

    def _forget(self, recipient: Recipient, group: str) -> None:
        members = self.members.get(group)
        if members is not None:
            members.pop(recipient, None)
            if not members:
                del self.members[group]

    async def _sync(self, group: str, limit: float) -> None:
        """Make the layer agree with the local members of ``group``, one change at a time."""
        lock = self.locks.get(group)
        if lock is None:
            lock = self.locks[group] = asyncio.Lock()
        async with lock:
            wanted = group in self.members
            channel = self.channels.get(group)
            if wanted and channel is None:
                if self.inbox is not None:
                    channel = self.inbox + uuid.uuid4().hex
                else:
                    channel = await self.layer.new_channel()
                await bounded(
                    self.layer, self.layer.group_add(group, channel), f"group_add({group!r})", limit
                )
                self.channels[group] = channel
                loop = asyncio.get_running_loop()
                if self.inbox is not None:
                    self.groups[channel] = group
                    self.limit = limit
                    self._start_inbox_reader()
                else:
                    self.readers[group] = loop.create_task(self._read(group, channel))
                if self.refresher is None or self.refresher.done():
                    self.refresher = loop.create_task(self._refresh(limit))
            elif not wanted and channel is not None:
                del self.channels[group]
                if self.inbox is None:
                    reap(self.readers.pop(group), self.layer)  # cancels until it ends (see reap)
                else:
                    del self.groups[channel]
                    self._stop_inbox_reader_if_idle()
                if not self.channels and self.refresher is not None:
                    self.refresher.cancel()
                    self.refresher = None
                # A failure is logged; the layer forgets the membership after its group_expiry.
                with contextlib.suppress(LayerUnavailable):
                    await bounded(
                        self.layer,
                        self.layer.group_discard(group, channel),
                        f"group_discard({group!r})",
                        limit,
                    )
        if group not in self.members and group not in self.channels and not lock.locked():
            self.locks.pop(group, None)

    async def rejoin(self, limit: float) -> None:
        """After a layer outage: add every group channel again (a restarted Redis forgot them)."""
        for group, channel in list(self.channels.items()):
            try:
                await bounded(
                    self.layer, self.layer.group_add(group, channel), f"group_add({group!r})", limit
                )
            except LayerUnavailable:
                return  # down again: the next recovery rejoins

    async def _refresh(self, limit: float) -> None:
        """Re-add the group channels now and then, while there are any."""
        while self.channels:
            await asyncio.sleep(REFRESH_SECONDS)
            await self.rejoin(limit)
        self.refresher = None

    # -- delivery --------------------------------------------------------------------------------

    async def _read(self, group: str, channel: str) -> None:
        delay = 0.1
        while not cancel_requested():
            try:
                message = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_read_timeout(exc):
                    continue  # an idle blocking receive (see the consumer's layer reader)
                logger.warning(
                    "easy_channels: receiving group %r from the channel layer failed (%r); "
                    "retrying in %.1fs",
                    group,
                    exc,
                    delay,
                    exc_info=not is_unavailable(exc),
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.1
            if self.channels.get(group) != channel:
                return  # the last member left while this message was on its way
            await self.deliver(group, message)

    async def _read_inbox(self) -> None:
        """Receive the messages of every group channel of this hub (channels-redis only)."""
        layer = self.layer
        loop = asyncio.get_running_loop()
        delay = 0.1
        outage: float | None = None  # when this reader saw Redis fail
        inbox = self.inbox
        assert inbox is not None  # only hubs with an inbox run this reader
        while not cancel_requested():
            try:
                popped = await redis_direct.pop(layer, inbox)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an outage, or a message that can't be decoded
                if is_read_timeout(exc):
                    continue
                logger.warning(
                    "easy_channels: receiving group messages from Redis failed (%r); retrying in "
                    "%.1fs",
                    exc,
                    delay,
                    exc_info=not is_unavailable(exc),
                )
                if is_unavailable(exc) and outage is None:
                    outage = loop.time()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.1
            if outage is not None:  # Redis is back, and may have forgotten our memberships
                rejoin_all(layer, outage, self.limit)
                outage = None
            if popped is None:
                continue
            names, message = popped
            for name in names:
                group = self.groups.get(name)
                if group is not None:
                    await self.deliver(group, message)
                    continue
                member = self.sockets.get(name)
                if member is not None:
                    self.hand(member, message)
                elif redis_direct.is_gone_socket(inbox, name):
                    # A socket of this process that has gone (a group's last member leaving
                    # while a message was on its way loses nobody anything).
                    counters.drop("client_gone")
                    logger.debug("easy_channels: dropped a message for gone socket %s", name)

    async def deliver(self, group: str, message: dict[str, Any]) -> None:
        """
        Hand one group message to every local member, in joining order, without waiting.

        A member's delivery normally completes at once (the server takes the frame). A
        client that stops reading makes the server pause its writes: that member's delivery
        then continues in a task of its own, so the others aren't held up. At most
        ``MAX_PENDING_MESSAGES`` deliveries may wait for one member; beyond that its frames
        are dropped, logged with the group and the socket's channel, and counted
        (``drops.slow_client``).
        """
        for member in list(self.members.get(group, ())):
            self.hand(member, message, group)

    def hand(self, member: Recipient, message: dict[str, Any], group: str | None = None) -> None:
        """
        Give one layer message to one socket without waiting for it (see :meth:`deliver`).

        The socket's own messages (``send_to``, a ``close``) come here too, from this hub's
        inbox or from the socket's own layer reader, so that reader never waits for a slow
        client either: messages never pile up, unseen, in the channel layer.
        """
        if member.stalled >= member.limit:
            member.drops.drop(
                "slow_client",
                "easy_channels: %s (%s) reads too slowly; dropping %s for it until it catches "
                "up (EASY_CHANNELS['MAX_PENDING_MESSAGES'])",
                member.channel_name,
                member.owner,
                f"messages of group {group!r}" if group else "its messages",
            )
            return
        task = _start_eagerly(member.deliver(message))
        if task is not None:
            member.stalled += 1
            self.stalled.add(task)
            task.add_done_callback(partial(_done, self, member, group))


def _done(hub: Hub, member: Recipient, group: str | None, task: asyncio.Task[None]) -> None:
    hub.stalled.discard(task)
    member.stalled -= 1
    if member.stalled == 0:
        member.drops.end()
    if not task.cancelled() and task.exception() is not None:
        logger.error(
            "easy_channels: could not deliver a message%s to %s",
            f" of group {group!r}" if group else "",
            member.channel_name,
            exc_info=task.exception(),
        )


def _start_eagerly(coro: Any) -> asyncio.Task[Any] | None:
    """:func:`~easy_channels.eager.start_eagerly`, with an immediate failure logged here."""
    try:
        return start_eagerly(coro)
    except Exception:
        logger.exception("easy_channels: could not deliver a group message")
        return None


_hubs: PerLoop[Hub] = PerLoop(Hub)
#: The hub of a layer in the running event loop.
hub_for = _hubs.get


_last_rejoin: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
_rejoins: set[asyncio.Task[None]] = set()


def rejoin_all(layer: Any, outage_began: float, limit: float) -> int:
    """
    After an outage, have this process add every group channel of ``layer`` again.

    A Redis restarted without persistence has forgotten every group membership, and
    channels-redis reports the outage to only one of the readers waiting on it: without this,
    broadcasts would silently reach nobody until clients reconnect. Every reader may notice the
    same outage; the first to see the layer back rejoins for all, and the others (whose outage
    began before that) do nothing. Times are the loop's. Logs and returns the number of
    groups.
    """
    loop = asyncio.get_running_loop()
    if _last_rejoin.get(layer, float("-inf")) >= outage_began:
        return 0
    _last_rejoin[layer] = loop.time()
    count = 0
    for hub in _hubs.all(layer):
        count += len(hub.channels)
        task = loop.create_task(hub.rejoin(limit))
        _rejoins.add(task)
        task.add_done_callback(_rejoins.discard)
    if count:
        logger.warning("easy_channels: the channel layer is back; rejoining %d group(s)", count)
    return count
