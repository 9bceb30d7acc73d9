"""
:class:`Relay`: long-polling without sticky sessions. A poll (or a push) that reaches a
process which doesn't hold its Engine.IO session is passed, through the channel layer, to the
process that does, and its answer comes back the same way.

The session id names the process that holds it: ``<token>.<signed relay channel>``. The
channel is signed (``django.core.signing``), so a forged sid can't make a server send layer
messages to a channel of its choosing.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

from django.core import signing

from .recipient import Recipient

__all__ = ["Answer", "Relay", "relay_for"]

logger = logging.getLogger("easy_channels")

#: The layer message type of everything the relay sends (only relays read their channels).
RELAY_TYPE = "easy_channels.eio"
_SIGNER_SALT = "easy_channels.engineio.relay"

#: (HTTP status, body, content type) of one long-polling request.
Answer = tuple[int, bytes, bytes]


class Relay:
    """The relay of one channel layer in this process (see the module docstring)."""

    def __init__(self, layer: Any):
        self.layer = layer
        self.channel: str | None = None
        self.signed: str | None = None
        self._opening: asyncio.Lock | None = None
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()

    async def open(self, limit: float) -> str:
        """This process's relay channel, signed, for the sids of its sessions."""
        if self.signed is None:
            if self._opening is None:
                self._opening = asyncio.Lock()
            async with self._opening:
                if self.signed is None:
                    from .hub import hub_for

                    recipient = Recipient(self._deliver, 10_000, "Engine.IO relay")
                    self.channel = await hub_for(self.layer).open_socket(recipient, limit)
                    self.signed = signing.Signer(salt=_SIGNER_SALT).sign(self.channel)
        return self.signed

    @staticmethod
    def owner_of(sid: str) -> str | None:
        """The relay channel a sid names (None if it names none, or a forged one)."""
        _, dot, signed = sid.partition(".")
        if not dot:
            return None
        try:
            return signing.Signer(salt=_SIGNER_SALT).unsign(signed)
        except signing.BadSignature:
            return None

    # -- asking the owner -----------------------------------------------------------------------

    async def ask(
        self, owner: str, request: dict[str, Any], wait: float, limit: float
    ) -> Answer | None:
        """Pass a request to the process ``owner``; its answer, or None if none came in time."""
        from .layer import bounded

        await self.open(limit)  # the answer comes back on this process's channel
        call = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[call] = future
        message = {**request, "type": RELAY_TYPE, "id": call, "reply": self.channel}
        try:
            await bounded(self.layer, self.layer.send(owner, message), "an Engine.IO relay", limit)
            async with asyncio.timeout(wait):
                reply = await future
        except (TimeoutError, Exception) as exc:
            logger.info("easy_channels: the Engine.IO session %s didn't answer: %r", request, exc)
            return None
        finally:
            self._waiting.pop(call, None)
        return reply["status"], reply["body"], reply["content_type"]

    # -- what other processes send ---------------------------------------------------------------

    async def _deliver(self, message: dict[str, Any]) -> None:
        if message.get("op") == "reply":
            future = self._waiting.pop(message.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(message)
            elif message.get("packets"):  # its asker has gone: the packets go back
                self._spawn(self._requeue(message))
            return
        self._spawn(self._serve(message))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, message: dict[str, Any]) -> None:
        from .engineio import sockets
        from .engineio_asgi import answer_locally

        op = message.get("op")
        if op == "requeue":
            socket = sockets.get(message.get("sid", ""))
            if socket is not None:
                socket.requeue(message.get("packets") or [])
            return
        status, body, content_type, packets = await answer_locally(
            message.get("sid", ""), message.get("method", ""), message.get("body", b"")
        )
        reply = {
            "type": RELAY_TYPE,
            "op": "reply",
            "id": message.get("id"),
            "status": status,
            "body": body,
            "content_type": content_type,
            "sid": message.get("sid"),
            "packets": packets,
            "reply": self.channel,
        }
        try:
            await self.layer.send(message["reply"], reply)
        except Exception:
            logger.warning("easy_channels: could not answer a relayed Engine.IO request")

    async def _requeue(self, reply: dict[str, Any]) -> None:
        """A poll's packets whose HTTP client left: back to the session that sent them."""
        try:
            await self.layer.send(
                reply["reply"],
                {
                    "type": RELAY_TYPE,
                    "op": "requeue",
                    "sid": reply["sid"],
                    "packets": reply["packets"],
                },
            )
        except Exception:
            logger.warning("easy_channels: lost a relayed poll's packets (its client left)")


_relays: dict[int, Relay] = {}


def relay_for(layer: Any) -> Relay:
    """The relay of ``layer`` in this process."""
    relay = _relays.get(id(layer))
    if relay is None or relay.layer is not layer:
        relay = _relays[id(layer)] = Relay(layer)
    return relay
