"""
Asking every server process for its counters, through the channel layer.

Each process serving at least one socket runs one small responder: a channel of its own in the
group ``easy_channels.processes``. ``manage.py easy_channels_stats`` (or :func:`collect_stats`)
sends one request to that group and gathers the replies, so it sees every process sharing the
layer (Redis), on any machine. The in-memory layer only reaches its own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from functools import partial
from typing import Any

from . import counters
from .backends import Reads, backend_for
from .exceptions import LayerUnavailable
from .layer import PerLoop, bounded, reap
from .outgoing import Outgoing, deliver
from .readers import read_forever

__all__ = ["acollect_stats"]

logger = logging.getLogger("easy_channels")

PROCESS_GROUP = "easy_channels.processes"
STATS_REQUEST = "easy_channels.stats.request"
STATS_REPLY = "easy_channels.stats.reply"
#: How often a responder re-adds itself to PROCESS_GROUP (memberships expire in the layer).
_REFRESH_SECONDS = 3600
_LIMIT = 3.0


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class _Responder:
    """The responder of one layer in this process, alive while the process serves sockets."""

    def __init__(self, layer: Any):
        self.layer = layer
        self.sockets = 0
        self.task: asyncio.Task[None] | None = None
        self.joined = float("-inf")  # when it last joined PROCESS_GROUP (the loop's time)

    async def run(self) -> None:
        # On channels-redis a channel of an inbox of its own, read one BZPOPMIN at a time
        # (redis_direct.pop), not by channels-redis' receive: a responder cancelled in there,
        # among its helper tasks and locks, was seen to outlive three cancels and hold up an
        # event loop's shutdown for good.
        reads = backend_for(self.layer).reads()
        channel = await reads.new_channel("responder")
        self.joined = float("-inf")
        try:
            await read_forever(
                self.layer,
                partial(self._next, reads, channel),
                self._answer,
                what="stats requests",
                limit=_LIMIT,
                on_back=self._forget_membership,
            )
        finally:
            # Best effort and quiet: this runs as the process stops serving (or its pools
            # close), and the membership expires in the layer anyway.
            leave = asyncio.ensure_future(self.layer.group_discard(PROCESS_GROUP, channel))
            # Shielded from the cancel that ends this task, so it may fail after we stop
            # waiting (the pools closing): read its outcome, or asyncio logs it as an error.
            leave.add_done_callback(lambda t: t.cancelled() or t.exception())
            try:
                async with asyncio.timeout(_LIMIT):
                    await asyncio.shield(leave)
            except Exception as exc:
                logger.debug("easy_channels: the stats responder could not leave: %r", exc)

    def _forget_membership(self, outage_began: float) -> None:
        self.joined = float("-inf")  # a restarted Redis forgot it: join again

    async def _next(self, reads: Reads, channel: str) -> dict[str, Any] | None:
        """
        The next message to ``channel`` (None: none came). Joins PROCESS_GROUP first when it
        hasn't for ``_REFRESH_SECONDS``: memberships expire in the layer.
        """
        loop = asyncio.get_running_loop()
        if loop.time() - self.joined > _REFRESH_SECONDS:
            await bounded(self.layer, self.layer.group_add(PROCESS_GROUP, channel), "stats", _LIMIT)
            self.joined = loop.time()
        try:
            async with asyncio.timeout(self.joined + _REFRESH_SECONDS - loop.time()):
                return await reads.receive(channel)
        except TimeoutError:
            return None

    async def _answer(self, message: dict[str, Any]) -> None:
        if message.get("type") == STATS_REQUEST and message.get("reply_to"):
            reply = {"type": STATS_REPLY, "process": process_name(), **counters.stats()}
            # A failure is logged by deliver(); the asker sees this process missing.
            with contextlib.suppress(LayerUnavailable):
                await deliver(self.layer, Outgoing.to_channel(message["reply_to"], reply), _LIMIT)


_responders: PerLoop[_Responder] = PerLoop(_Responder)


def socket_opened(layer: Any) -> None:
    """Start this process's responder for ``layer`` with its first socket."""
    responder = _responders.get(layer)
    responder.sockets += 1
    if responder.task is None or responder.task.done():
        responder.task = asyncio.get_running_loop().create_task(responder.run())


def socket_closed(layer: Any) -> None:
    """Stop the responder with the process's last socket (nothing is left to report)."""
    responder = _responders.existing(layer)
    if responder is None:
        return
    responder.sockets -= 1
    if responder.sockets <= 0 and responder.task is not None:
        responder.sockets = 0
        task, responder.task = responder.task, None
        reap(task, layer)  # cancels until it ends (redis-py can swallow a first cancel)


async def acollect_stats(layer: Any, wait: float = 1.0) -> list[dict[str, Any]]:
    """Ask every process serving sockets on ``layer``; the replies that came within ``wait``."""
    channel = await layer.new_channel()
    await bounded(
        layer,
        layer.group_send(PROCESS_GROUP, {"type": STATS_REQUEST, "reply_to": channel}),
        "a stats request",
        _LIMIT,
    )
    replies: dict[str, dict[str, Any]] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while (remaining := deadline - loop.time()) > 0:
        try:
            async with asyncio.timeout(remaining):
                message = await layer.receive(channel)
        except TimeoutError:
            break
        if message.get("type") == STATS_REPLY:
            message.pop("type")
            replies[message["process"]] = message
    return [replies[name] for name in sorted(replies)]
