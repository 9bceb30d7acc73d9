"""
Run a coroutine up to its first wait without a task; make a task only if it does wait.

Like Python 3.12's eager tasks, for 3.11 too: a socket write normally completes at once (the
server takes the frame), so the hot path of a fan-out costs no task and no turn of the event
loop, while a write that waits (a client that stopped reading) can go on, or be abandoned, in
a task of its own.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any

__all__ = ["start_eagerly"]


def start_eagerly(coro: Awaitable[Any]) -> asyncio.Task[Any] | None:
    """
    Run ``coro`` until it first waits: None if it completed, else a task that carries on.

    An exception raised before the first wait propagates here, as from ``await coro``. Any
    awaitable is taken (an ASGI ``send`` wrapped by middleware need not be a coroutine).
    """
    if type(coro) is not types.CoroutineType:  # the usual case, checked fast
        coro = _await(coro)
    try:
        waiting_for = coro.send(None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(_resume(coro, waiting_for))


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


async def _resume(coro: Coroutine[Any, Any, Any], waiting_for: Any) -> Any:
    return await _Resumed(coro, waiting_for)


class _Resumed:
    """Await a coroutine that already ran up to a yield, as ``yield from`` would go on."""

    __slots__ = ("_coro", "_first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any):
        self._coro = coro
        self._first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        to_yield = self._first
        while True:
            try:
                sent = yield to_yield
            except BaseException as exc:  # a cancel or an error thrown in by the task
                try:
                    to_yield = self._coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    to_yield = self._coro.send(sent)
                except StopIteration as stop:
                    return stop.value
