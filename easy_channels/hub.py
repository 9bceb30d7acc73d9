"""
Group fan-out inside a process: one layer membership per group and process, the readers of the
layer's messages, and their hand-over to each local socket (docs/architecture.md says why).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from functools import partial
from typing import Any

from .backends import backend_for
from .exceptions import LayerUnavailable
from .layer import PerLoop, bounded
from .readers import wait_until_back
from .recipient import Recipient

__all__ = ["Hub", "hub_for", "rejoin_all"]

logger = logging.getLogger("easy_channels")

#: Seconds between re-adds of the group channels. channels-redis forgets a membership after
#: its group_expiry (a day by default): a group that stays populated longer must be re-added.
REFRESH_SECONDS = 3600.0
#: Tries to re-add one group channel after an outage before leaving it to the next refresh.
REJOIN_ATTEMPTS = 5


class Hub:
    """The groups and sockets of one channel layer in one event loop (one process, usually)."""

    def __init__(self, layer: Any):
        self.layer = layer
        #: group -> its local member sockets, in joining order (a dict is an ordered set)
        self.members: dict[str, dict[Recipient, None]] = {}
        #: The channels this hub reads (its groups' and its sockets'), as the layer's backend
        #: reads them: one task per channel, or one reader for all on channels-redis.
        self.reads = backend_for(layer).reads(on_back=self._rejoin_after, local=True)
        self.limit = 3.0  # the LAYER_TIMEOUT of the last join, for the rejoins after an outage
        self.locks: dict[str, asyncio.Lock] = {}
        self.refresher: asyncio.Task[None] | None = None

    @property
    def channels(self) -> dict[str, str]:
        """group -> the group channel this process joined the layer's group with (read-only)."""
        return self.reads.group_channels

    # -- sockets' own channels ---------------------------------------------------------------

    async def open_socket(self, recipient: Recipient, limit: float) -> str:
        """
        A channel of the layer for ``recipient``, read by this hub, which hands it what comes.

        Each message is handed over without waiting for the client: a slow client never holds
        up the read, so messages never wait, unseen, in the layer until they expire; past
        ``MAX_PENDING_MESSAGES`` they are dropped and counted. On channels-redis the channel
        is one of the hub's inbox: channels-redis' own receive keeps a local queue per channel
        that drops the oldest message, unlogged and uncounted, once a socket falls behind.
        ``limit`` is LAYER_TIMEOUT.
        """
        self.limit = limit
        channel = await self.reads.new_channel("socket")
        recipient.channel_name = channel
        # The recipient's own bound method: no partial per socket.
        self.reads.watch(channel, recipient.hand, what="a socket's messages", limit=limit)
        return channel

    def close_socket(self, recipient: Recipient) -> None:
        """Forget a socket's channel (messages still on their way to it are counted as lost)."""
        channel = recipient.channel_name
        if channel is not None and channel in self.reads:
            self.reads.unwatch(channel)

    def _rejoin_after(self, outage_began: float) -> None:
        rejoin_all(self.layer, outage_began, self.limit)

    # -- membership ------------------------------------------------------------------------------

    async def join(self, recipient: Recipient, group: str, limit: float) -> None:
        """Add a socket to ``group``; the layer is touched only for the first local member."""
        self.members.setdefault(group, {})[recipient] = None
        recipient.groups[group] = None
        try:
            await self._sync(group, limit)
        except BaseException:
            self._forget(recipient, group)
            raise

    async def leave(self, recipient: Recipient, group: str, limit: float) -> None:
        """Remove a socket; the layer is touched only when the last local member leaves."""
        self._forget(recipient, group)
        await self._sync(group, limit)

    async def leave_all(self, recipient: Recipient, limit: float) -> None:
        """Remove a socket from all its groups (a failure is logged; it doesn't stop the rest)."""
        while recipient.groups:
            group, _ = recipient.groups.popitem()
            try:
                await self.leave(recipient, group, limit)
            except LayerUnavailable:
                pass  # logged; the layer forgets the membership after its group_expiry
            except Exception:
                logger.exception("easy_channels: could not leave group %r", group)

    def _forget(self, recipient: Recipient, group: str) -> None:
        recipient.groups.pop(group, None)
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
                channel = await self.reads.new_channel("group")
                await bounded(
                    self.layer, self.layer.group_add(group, channel), f"group_add({group!r})", limit
                )
                self.limit = limit
                self.reads.watch_group(
                    group,
                    channel,
                    partial(self.deliver, group),
                    what=f"group {group!r}",
                    limit=limit,
                )
                if self.refresher is None or self.refresher.done():
                    self.refresher = asyncio.get_running_loop().create_task(self._refresh(limit))
            elif not wanted and channel is not None:
                self.reads.unwatch_group(group)
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
        """
        After a layer outage: add every group channel again (a restarted Redis forgot them).

        A failed add waits for the layer to be back and is tried again: the first calls after
        a restart can fail on connections the pool still holds from before it.
        """
        for group, channel in list(self.channels.items()):
            for _ in range(REJOIN_ATTEMPTS):
                if self.channels.get(group) != channel:
                    break  # left meanwhile
                try:
                    await bounded(
                        self.layer,
                        self.layer.group_add(group, channel),
                        f"group_add({group!r})",
                        limit,
                    )
                    break
                except LayerUnavailable:
                    await wait_until_back(self.layer, limit)

    async def _refresh(self, limit: float) -> None:
        """Re-add the group channels now and then, while there are any."""
        while self.channels:
            await asyncio.sleep(REFRESH_SECONDS)
            await self.rejoin(limit)
        self.refresher = None

    # -- delivery --------------------------------------------------------------------------------

    def deliver(self, group: str, message: dict[str, Any]) -> None:
        """
        Hand one group message to every local member, in joining order, without waiting (a
        plain function: no coroutine per message for the readers to await).

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
        inbox or its socket readers, so no reader ever waits for a slow client: messages never
        pile up, unseen, in the channel layer.
        """
        member.hand(message, group)


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
