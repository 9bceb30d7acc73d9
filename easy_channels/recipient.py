"""
:class:`Recipient`: one socket as the hub sees it, and the hand-over of a layer message to it
that never waits for a slow client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any, ClassVar

from . import counters
from .eager import start_eagerly

__all__ = ["Recipient"]

logger = logging.getLogger("easy_channels")


class Recipient:
    """
    One socket as the hub sees it: how to hand it a layer message, and how many of its
    deliveries wait for a slow client (at most ``limit``; past it, its messages are dropped).

    The socket makes it and gives it to the hub, which keeps the slow-client accounting in it,
    so the hub never reaches into a consumer.
    """

    __slots__ = ("channel_name", "deliver", "drops", "groups", "limit", "owner", "stalled")

    #: deliveries waiting for a socket that reads slowly (kept referenced until done)
    waiting: ClassVar[set[asyncio.Task[None]]] = set()

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
        #: The groups the socket is in (the hub keeps it: it is the one record of them), as an
        #: ordered set: an empty dict costs a third of an empty set, held by every idle socket.
        self.groups: dict[str, None] = {}
        self.stalled = 0  # deliveries waiting for this socket's transport
        self.drops = counters.DropRun()  # past the limit until it catches up

    def hand(self, message: dict[str, Any], group: str | None = None) -> None:
        """
        Deliver ``message`` without waiting: normally the write completes at once; for a
        client that reads slowly it goes on in a task, and past ``limit`` such tasks the
        socket's messages are dropped, logged (once per run) and counted.
        """
        if self.stalled >= self.limit:
            self.drops.drop(
                "slow_client",
                "easy_channels: %s (%s) reads too slowly; dropping %s for it until it catches "
                "up (EASY_CHANNELS['MAX_PENDING_MESSAGES'])",
                self.channel_name,
                self.owner,
                f"messages of group {group!r}" if group else "its messages",
            )
            return
        try:
            task = start_eagerly(self.deliver(message))
        except Exception:
            logger.exception("easy_channels: could not deliver a message to %s", self.channel_name)
            return
        if task is not None:
            self.stalled += 1
            self.waiting.add(task)
            task.add_done_callback(partial(self._done, group))

    def _done(self, group: str | None, task: asyncio.Task[None]) -> None:
        self.waiting.discard(task)
        self.stalled -= 1
        if self.stalled == 0:
            self.drops.end()
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "easy_channels: could not deliver a message%s to %s",
                f" of group {group!r}" if group else "",
                self.channel_name,
                exc_info=task.exception(),
            )
