"""
:class:`PendingCalls`: the server's questions to one client (``await self.call(...)``) that
wait for its answer.

An answer is taken as it arrives, ahead of the frames queued for handlers: the handler
awaiting it holds that queue, so an answer queued behind it would never be read.
"""

from __future__ import annotations

import asyncio
from typing import Any

from . import protocol
from .exceptions import SocketError

__all__ = ["PendingCalls", "Reply", "encode_call", "parse_reply"]

#: What a codec reads in a client's answer: the call id, its data, and its error (or None).
Reply = tuple[int, Any, "dict[str, Any] | None"]


class PendingCalls:
    """The calls of one socket, bounded (see :meth:`open`)."""

    __slots__ = ("_futures", "_next", "limit")

    def __init__(self, limit: int):
        self._futures: dict[int, asyncio.Future[Any]] = {}
        self._next = 0
        self.limit = limit

    def __len__(self) -> int:
        return len(self._futures)

    def open(self) -> tuple[int, asyncio.Future[Any]]:
        """A new call id and the future its answer resolves (RuntimeError past ``limit``)."""
        if len(self._futures) >= self.limit:
            raise RuntimeError(
                f"{len(self._futures)} calls to this client already wait for an answer "
                "(EASY_CHANNELS['MAX_PENDING_MESSAGES']); await them before asking more."
            )
        self._next += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._futures[self._next] = future
        return self._next, future

    def forget(self, call: int) -> None:
        self._futures.pop(call, None)

    def resolve(self, reply: Reply) -> bool:
        """Settle the call a reply answers; False if none waits for it (late, or unknown)."""
        call, data, error = reply
        future = self._futures.pop(call, None)
        if future is None or future.done():
            return False
        if error is not None:
            future.set_exception(
                SocketError(_code(error.get("code")), str(error.get("message", "")), details=error)
            )
        else:
            future.set_result(data)
        return True

    def fail_all(self) -> None:
        """The client has gone: every waiting call fails (``disconnected``)."""
        futures, self._futures = self._futures, {}
        for future in futures.values():
            if not future.done():
                future.set_exception(
                    SocketError("disconnected", "The client left before it answered.")
                )


def _code(code: Any) -> str:
    """An error code from a client, usable as a SocketError code."""
    return code if protocol.is_valid_event_name(code) else "client_error"


def encode_call(event: str, payload: dict[str, Any] | None, call: int) -> str:
    """A server call: the event's frame with the id the client's ``_reply`` answers."""
    text = protocol.encode_event(event, payload)
    return f'{text[:-1]},"{protocol.CALL_KEY}":{call}}}'


def parse_reply(message: Any) -> tuple[int, Any, dict[str, Any] | None] | None:
    """``(call, data, error)`` of a decoded ``_reply`` frame, or None if it is not one."""
    if not isinstance(message, dict) or message.get("event") != protocol.REPLY_EVENT:
        return None
    call = message.get(protocol.CALL_KEY)
    if not isinstance(call, int) or isinstance(call, bool):
        return None
    error = message.get("error")
    if error is not None and not isinstance(error, dict):
        error = {"code": "client_error", "message": str(error)}
    return call, message.get("data"), error
