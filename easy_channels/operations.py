"""
Consumer methods that work from ``def`` and ``async def`` handlers alike.

``self.emit(...)``, ``self.group_add(...)`` & co. look at where they are called from:

- from a sync handler (a worker thread, no running event loop) they run the operation on the
  consumer's event loop and block until it is done, returning its result;
- from async code they return an :class:`Operation`, an awaitable that runs the operation
  inline when awaited.

An Operation that is never awaited is not dropped: it starts on the next turn of the event loop
and, at the latest, before the handler's ack is sent. A warning names the call to fix.

"Before the ack" is kept per handler call: :func:`scoped` runs one handler (or lifecycle hook)
with a scope of its own, and settles only the operations created inside it. A hook running
beside a handler (``on_disconnect`` while the worker's handler still awaits ``self.emit``)
never waits for, nor spins on, the operations of that other handler.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

from asgiref.sync import async_to_sync

logger = logging.getLogger("easy_channels")

__all__ = ["Operation", "run_operation", "scoped"]

_NEW, _RUNNING, _DONE = 0, 1, 2

#: The operations created by the handler call running in this context (see :func:`scoped`).
_current_scope: contextvars.ContextVar[dict[Operation, None] | None] = contextvars.ContextVar(
    "easy_channels_operations", default=None
)


class Operation:
    """An awaitable consumer action; see the module docstring."""

    __slots__ = (
        "_args",
        "_done",
        "_fn",
        "_loop",
        "_owner",
        "_runner",
        "_scope",
        "_state",
        "_task",
        "name",
    )

    def __init__(
        self,
        owner: str,
        name: str,
        fn: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        *,
        loop: asyncio.AbstractEventLoop,
        threadsafe: bool = False,
    ):
        self._owner = owner  # the consumer class, for warnings
        self.name = name
        self._fn = fn
        self._args = args
        self._state = _NEW
        self._task: asyncio.Task[Any] | None = None
        self._runner: asyncio.Task[Any] | None = None  # the task awaiting it inline
        self._done: asyncio.Future[None] | None = None  # made when settle() must wait
        # Created in another thread's event loop: no handler call of this loop owns it.
        self._scope = None if threadsafe else _current_scope.get()
        if self._scope is not None:
            self._scope[self] = None
        self._loop = loop  # the consumer's
        if threadsafe:
            loop.call_soon_threadsafe(self._start_if_forgotten)
        else:
            loop.call_soon(self._start_if_forgotten)

    def __await__(self) -> Generator[Any, None, Any]:
        if self._state == _NEW:
            self._state = _RUNNING
            self._runner = asyncio.current_task()
            try:
                return (yield from self._fn(*self._args).__await__())
            finally:
                self._finish()
        if self._task is not None:  # already started because it looked forgotten
            return (yield from self._task.__await__())
        return None

    def _finish(self) -> None:
        self._state = _DONE
        self._runner = None
        if self._scope is not None:
            self._scope.pop(self, None)
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    def _warn(self) -> None:
        cls = self._owner
        logger.warning(
            "%s.%s() was called without await in async code; it ran anyway, but without "
            "await it runs out of order. Write 'await self.%s(...)'.",
            cls,
            self.name,
            self.name,
        )

    async def _run_forgotten(self) -> Any:
        try:
            return await self._fn(*self._args)
        except Exception:
            logger.exception("%s.%s() (not awaited) failed", self._owner, self.name)
        finally:
            self._finish()

    def _start_if_forgotten(self) -> None:
        if self._state == _NEW:
            self._state = _RUNNING
            self._warn()
            self._task = self._loop.create_task(self._run_forgotten())

    async def settle(self) -> None:
        """
        Make sure the operation has finished (run it now if it was never started).

        Every branch that can't return at once waits on the event loop. The one operation it
        can't wait for is one the calling task itself is awaiting further up its stack: that
        one finishes when the caller returns, so waiting would wait forever.
        """
        if self._state == _NEW:
            self._state = _RUNNING
            self._warn()
            await self._run_forgotten()
        elif self._task is not None:
            await asyncio.shield(self._task)
        elif self._state == _RUNNING and self._runner is not asyncio.current_task():
            # Awaited by another task (the handler handed it to gather() or create_task()).
            if self._done is None:
                self._done = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._done)


async def scoped(fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
    """
    ``await fn(*args, **kwargs)`` (one handler call), then settle the operations it created.

    The scope travels in a context variable, so operations created by tasks the handler starts
    belong to it too, and a hook running in another task at the same time has its own.
    """
    scope: dict[Operation, None] = {}
    token = _current_scope.set(scope)
    try:
        return await fn(*args, **kwargs)
    finally:
        _current_scope.reset(token)
        while scope:  # each settle() returns only once its operation is done (or is ours)
            operation = next(iter(scope))
            await operation.settle()
            scope.pop(operation, None)


async def _on_loop(
    loop: asyncio.AbstractEventLoop, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any
) -> Any:
    """Run ``fn(*args)`` on ``loop`` even when called from another loop."""
    if asyncio.get_running_loop() is loop:
        return await fn(*args)
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(fn(*args), loop))


def run_operation(
    loop: asyncio.AbstractEventLoop | None,
    owner: str,
    name: str,
    fn: Callable[..., Coroutine[Any, Any, Any]],
    *args: Any,
) -> Any:
    """
    Run ``fn(*args)``, an operation of a consumer of class ``owner`` served on ``loop`` (None
    before it started), from sync or async code (see the module docstring).
    """
    if loop is None:
        raise RuntimeError(f"{owner}.{name}() called before the consumer started.")
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        # Sync code (a sync handler's thread, or any thread): block until done.
        return async_to_sync(_on_loop)(loop, fn, *args)
    if running is not loop:
        return Operation(owner, name, _on_loop, (loop, fn, *args), loop=loop, threadsafe=True)
    return Operation(owner, name, fn, args, loop=loop)
