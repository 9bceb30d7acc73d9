"""
:class:`Worker`: a socket's work, handled one item at a time in arrival order, by a task that
exists only while there is work (an idle socket holds neither a task nor a queue).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["WORKER_LINGER", "Worker"]

logger = logging.getLogger("easy_channels")

#: Seconds a worker waits for more after an item that asked it to linger (a client frame).
WORKER_LINGER = 2.0

#: A coroutine function, its arguments, and whether the worker lingers after it.
Item = tuple[Callable[..., Awaitable[Any]], tuple[Any, ...], bool]


class Worker:
    """
    The ordered work of one socket. ``put()`` starts the task when there is none; the task ends
    when the work runs out, except after an item put with ``linger=True`` (a client frame),
    when it waits WORKER_LINGER seconds for the next one: a socket that talks gets no task per
    frame, a silent one holds none. The task runs in the context the worker was made in (the
    ASGI application's), whoever puts the item: asgiref's thread-sensitive executor for sync
    handlers lives there.
    """

    __slots__ = ("context", "on_empty", "owner", "pending", "stopped", "task", "wakeup")

    def __init__(self, owner: str, on_empty: Callable[[], None]):
        self.owner = owner  # the consumer class, for log lines
        self.on_empty = on_empty  # called as the last waiting item is taken
        self.context = contextvars.copy_context()
        self.pending: deque[Item] | None = None
        self.task: asyncio.Task[None] | None = None
        self.wakeup: asyncio.Future[None] | None = None  # set while the task lingers
        self.stopped = False

    def __len__(self) -> int:
        """How many items wait (not counting the one being handled)."""
        return len(self.pending) if self.pending else 0

    def put(self, fn: Callable[..., Awaitable[Any]], *args: Any, linger: bool = False) -> None:
        """Queue ``fn(*args)`` behind the waiting items (ignored once stopped)."""
        if self.stopped:
            return
        if self.pending is None:
            self.pending = deque()
        self.pending.append((fn, args, linger))
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._work(), context=self.context)
        elif self.wakeup is not None and not self.wakeup.done():
            self.wakeup.set_result(None)

    def stop(self) -> None:
        """Drop the waiting items and start nothing more; a lingering task ends now."""
        self.stopped = True
        self.pending = None
        if self.wakeup is not None and not self.wakeup.done():
            self.wakeup.set_result(None)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        linger = False
        try:
            while not self.stopped:
                pending = self.pending
                if not pending:
                    if not linger:
                        return
                    linger = False
                    wakeup = self.wakeup = loop.create_future()
                    handle = loop.call_later(WORKER_LINGER, _wake, wakeup)
                    try:
                        await wakeup
                    finally:
                        handle.cancel()
                        self.wakeup = None
                    continue
                fn, args, linger = pending.popleft()
                if not pending:
                    self.on_empty()
                try:
                    await fn(*args)
                except Exception:  # every handler path catches its own; this is a safety net
                    logger.exception("easy_channels: unexpected error in %s", self.owner)
        finally:
            self.task = None
            if not self.pending:
                self.pending = None


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
