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

    __slots__ = (
        "context",
        "deadline",
        "on_empty",
        "owner",
        "pending",
        "stopped",
        "task",
        "timer",
        "wakeup",
    )

    def __init__(self, owner: str, on_empty: Callable[[], None]):
        self.owner = owner  # the consumer class, for log lines
        self.on_empty = on_empty  # called as the last waiting item is taken
        self.context = contextvars.copy_context()
        self.pending: deque[Item] | None = None
        self.task: asyncio.Task[None] | None = None
        self.wakeup: asyncio.Future[None] | None = None  # set while the task lingers
        self.timer: asyncio.TimerHandle | None = None  # ends a linger (see _work)
        self.deadline = 0.0  # the loop time a linger ends at
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
                    # One timer per linger period, not one per frame: a socket that talks
                    # moves the deadline, and the timer re-arms itself for the rest when it
                    # fires early (a call_later and a cancel per frame showed in echo's CPU).
                    self.deadline = loop.time() + WORKER_LINGER
                    if self.timer is None:
                        self.timer = loop.call_at(self.deadline, self._linger_over)
                    wakeup = self.wakeup = loop.create_future()
                    try:
                        await wakeup
                    finally:
                        self.wakeup = None
                    if self.timer is None and not self.pending:
                        return  # the linger is over
                    continue
                fn, args, linger = pending.popleft()
                if not pending:
                    self.on_empty()
                try:
                    await fn(*args)
                except Exception:  # every handler path catches its own; this is a safety net
                    logger.exception("easy_channels: unexpected error in %s", self.owner)
        finally:
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            self.task = None
            if not self.pending:
                self.pending = None

    async def finish(self, deadline: float, limit: float) -> None:
        """
        Wait until the handler running now is done, up to ``deadline`` (the loop's time);
        then cancel it, with a warning: its client left ``limit`` seconds ago
        (DISCONNECT_TIMEOUT) and nobody can receive what it sends.
        """
        worker = self.task
        if worker is None or worker.done():
            return
        timeout = max(0.0, deadline - asyncio.get_running_loop().time())
        done, _ = await asyncio.wait({worker}, timeout=timeout)
        if not done:
            logger.warning(
                "easy_channels: a handler of %s was still running %ss after its client left; "
                "cancelled it (EASY_CHANNELS['DISCONNECT_TIMEOUT'])",
                self.owner,
                limit,
            )
            worker.cancel()
            await asyncio.wait({worker})

    def _linger_over(self) -> None:
        """The deadline passed: end a waiting linger; it moved: wait for the rest."""
        loop = asyncio.get_running_loop()
        if loop.time() < self.deadline:
            self.timer = loop.call_at(self.deadline, self._linger_over)
            return
        self.timer = None
        if self.wakeup is not None and not self.wakeup.done():
            self.wakeup.set_result(None)
