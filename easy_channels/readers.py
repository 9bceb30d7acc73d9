"""
The one way easy_channels reads a channel layer: :func:`read_forever`, with its retry, backoff
and outage recovery, used by every reader (the hub's group and socket readers, its Redis
inbox, the stats responder).

During an outage the readers don't each keep trying: they wait for one probe per layer and
event loop, which tells them when the layer is back, so the process notices a restarted Redis
once and rejoins its groups once (``on_back``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from channels.layers import InMemoryChannelLayer

from .exceptions import LayerUnavailable
from .layer import PerLoop, bounded, cancel_requested, is_read_timeout, is_unavailable

__all__ = ["read_forever", "receiver", "wait_until_back"]

logger = logging.getLogger("easy_channels")

T = TypeVar("T")

#: Seconds between retries of a failing read, doubling up to the maximum.
FIRST_DELAY = 0.1
MAX_DELAY = 5.0


async def read_forever(
    layer: Any,
    receive: Callable[[], Awaitable[T | None]],
    handle: Callable[[T], Awaitable[None] | None],
    *,
    what: str,
    limit: float,
    on_back: Callable[[float], object] | None = None,
    until: Callable[[], bool] | None = None,
) -> None:
    """
    ``handle(message)`` for every message ``receive()`` returns (None: a read that ended
    empty), until cancelled or ``until()`` is true.

    A failed read is logged (``what`` says what was being read) and retried after a growing
    delay. When the layer is unavailable, the reader waits for it to come back (one probe per
    layer), then calls ``on_back(when the outage began)`` before reading again: a Redis that
    restarted has forgotten every group membership.
    """
    delay = FIRST_DELAY
    loop = asyncio.get_running_loop()
    while not cancel_requested() and not (until is not None and until()):
        try:
            message = await receive()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if until is not None and until():
                return
            if is_read_timeout(exc):
                # An idle blocking receive that outlived the client's read timeout (redis-py
                # 8's 5 s default equals channels-redis' 5 s BZPOPMIN): nothing is wrong.
                logger.debug("easy_channels: an idle read of %s timed out; again", what)
                continue
            unavailable = isinstance(exc, LayerUnavailable) or is_unavailable(exc)
            logger.warning(
                "easy_channels: receiving %s from the channel layer failed (%r); retrying in %.1fs",
                what,
                exc,
                delay,
                exc_info=not unavailable,  # an outage needs no traceback
            )
            if unavailable:
                began = loop.time()
                await asyncio.sleep(delay)
                await wait_until_back(layer, limit)
                if on_back is not None:
                    on_back(began)
                delay = FIRST_DELAY
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_DELAY)
            continue
        delay = FIRST_DELAY
        if message is None:
            continue
        result = handle(message)
        if inspect.isawaitable(result):
            await result


class _Probe:
    """Tells the readers of one layer (in one loop) when it is back after an outage."""

    def __init__(self, layer: Any):
        self.layer = layer
        self.task: asyncio.Task[None] | None = None
        self.channel = f"easy_channels.probe.{uuid.uuid4().hex}"

    async def wait_until_back(self, limit: float) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._probe(limit))
        await asyncio.shield(self.task)

    async def _probe(self, limit: float) -> None:
        """A cheap write that fails while the layer is down: leaving a group nobody is in."""
        delay = FIRST_DELAY
        while True:
            try:
                await bounded(
                    self.layer,
                    self.layer.group_discard("easy_channels.probe", self.channel),
                    "a probe",
                    limit,
                )
                return
            except LayerUnavailable:
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_DELAY)


_probes: PerLoop[_Probe] = PerLoop(_Probe)


async def wait_until_back(layer: Any, limit: float) -> None:
    """Return once ``layer`` answers again (one probe per layer and loop, however many wait)."""
    await _probes.get(layer).wait_until_back(limit)


def receiver(layer: Any, channel: str) -> Callable[[], Awaitable[dict[str, Any]]]:
    """
    The receive of one channel of ``layer``.

    On Channels' in-memory layer the channel's queue is awaited directly: its own ``receive``
    first sweeps every channel of the layer for expired messages, so with a reader per socket
    each connect cost as much as the sockets already there (10,000 sockets: 48 s). Messages
    past the layer's expiry are still skipped, as its receive would.
    """
    if type(layer) is InMemoryChannelLayer and isinstance(getattr(layer, "channels", None), dict):
        return lambda: _receive_in_memory(layer, channel)
    return lambda: layer.receive(channel)


async def _receive_in_memory(layer: InMemoryChannelLayer, channel: str) -> dict[str, Any]:
    channels: dict[str, asyncio.Queue[tuple[float, dict[str, Any]]]] = layer.channels
    queue = channels.get(channel)
    if queue is None:
        queue = channels[channel] = asyncio.Queue(maxsize=layer.get_capacity(channel))
    try:
        while True:
            expires, message = await queue.get()
            if expires >= time.time():
                return message
    finally:
        if queue.empty() and channels.get(channel) is queue:
            del channels[channel]
