"""
Socket middleware: code that runs around every consumer of a route or of the whole project.

A middleware instance lives as long as its socket. Hooks may be ``def`` or ``async def``:

- ``on_connect()`` runs before the consumer's ``on_connect``; raising
  :class:`~easy_channels.Reject` refuses the socket.
- ``on_receive(message)`` runs for every well-formed client frame (the whole decoded dict,
  ``event`` and ``ack`` included) before its handler is looked up. It may change ``message``
  in place or return a new dict; raising ``Reject``/``PermissionDenied`` drops the message with
  a ``forbidden`` error.
- ``on_arrival(message)`` runs for every client frame as it arrives (the ASGI message, with
  ``text`` or ``bytes``), before it waits in the socket's queue: in the event loop itself, a
  ``def`` hook called directly (not in a thread), so keep it quick. Raising ``SocketError``
  refuses the frame at once. Limits belong here: a queue that fills before they act has
  already let the flood in.
- ``on_disconnect(code)`` runs after the consumer's ``on_disconnect``.

Global middleware (``EASY_CHANNELS["MIDDLEWARE"]``) runs before a consumer's own
``middlewares``, in list order; disconnect hooks run in reverse order.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from .consumers import JSONWebSocket

__all__ = [
    "RequireAuthentication",
    "SocketMiddleware",
    "Throttle",
    "chain_for",
    "load_middleware",
    "parse_rate",
]

logger = logging.getLogger("easy_channels")

_HOOKS = ("on_connect", "on_arrival", "on_receive", "on_disconnect")


class SocketMiddleware:
    """Base class of socket middleware. Override only the hooks you need."""

    #: The hooks this class defines (the base no-ops are skipped: they cost no thread hop).
    defined_hooks: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, consumer: JSONWebSocket):
        self.consumer = consumer

    @property
    def scope(self) -> dict[str, Any]:
        return self.consumer.scope

    def on_connect(self) -> Awaitable[None] | None:
        """Runs before the consumer's on_connect(). Raise Reject to refuse the socket."""
        return None

    def on_arrival(self, message: dict[str, Any]) -> Awaitable[None] | None:
        """Runs in the event loop as each frame arrives. Raise SocketError to refuse it."""
        return None

    def on_receive(
        self, message: dict[str, Any]
    ) -> Awaitable[dict[str, Any] | None] | dict[str, Any] | None:
        """Runs for each well-formed frame. Return a new dict to replace the message."""
        return None

    def on_disconnect(self, code: int) -> Awaitable[None] | None:
        """Runs after the consumer's on_disconnect()."""
        return None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The hooks a subclass defines: the base no-ops are skipped, so they cost no thread hop.
        cls.defined_hooks = frozenset(
            h for h in _HOOKS if getattr(cls, h) is not getattr(SocketMiddleware, h)
        )


def chain_for(
    consumer_class: Any, global_entries: Sequence[str | type]
) -> list[type[SocketMiddleware]]:
    """
    The middleware chain of a consumer class: ``EASY_CHANNELS["MIDDLEWARE"]`` (``global_entries``),
    then the class's own ``middlewares`` (also for inspection: ``manage.py easy_channels``).
    """
    own = f"{consumer_class.__module__}.{consumer_class.__qualname__}.middlewares"
    return [
        *(load_middleware(e, "EASY_CHANNELS['MIDDLEWARE']") for e in global_entries),
        *(load_middleware(e, own) for e in consumer_class.middlewares),
    ]


def load_middleware(entry: str | type, where: str) -> type[SocketMiddleware]:
    """A middleware class from a class or a dotted path; ``where`` names the setting for errors."""
    if isinstance(entry, str):
        return _import_middleware(entry, where)
    return _check_middleware(entry, where)


@cache
def _import_middleware(path: str, where: str) -> type[SocketMiddleware]:
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"Could not import {path!r} for {where}: {exc}.") from exc
    return _check_middleware(cls, where)


def _check_middleware(cls: Any, where: str) -> type[SocketMiddleware]:
    if not (isinstance(cls, type) and issubclass(cls, SocketMiddleware)):
        raise ImproperlyConfigured(
            f"{cls!r} in {where} is not a subclass of easy_channels.SocketMiddleware."
        )
    return cls


# -- built-in middleware ------------------------------------------------------------------------


class RequireAuthentication(SocketMiddleware):
    """
    Refuse sockets whose ``scope["user"]`` is not authenticated, with close code 4401.

    Needs channels' ``AuthMiddlewareStack`` around the router to put the user in the scope.
    """

    code = 4401
    reason = "Authentication required."

    def on_connect(self) -> None:
        from .exceptions import Reject

        user = self.scope.get("user")
        if user is None or not getattr(user, "is_authenticated", False):
            raise Reject(self.code, self.reason)


_RATE_RE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hour)\s*")
_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
_PERIODS |= {"h": 3600, "hour": 3600}


def parse_rate(rate: Any) -> tuple[int, float]:
    """``"20/s"`` -> (20, 1.0); ``"100/5m"`` -> (100, 300.0). Raises ValueError."""
    match = _RATE_RE.fullmatch(rate) if isinstance(rate, str) else None
    if match is None or int(match[1]) <= 0:
        raise ValueError(f"invalid rate {rate!r}; use '<count>/<period>' such as '20/s' or '100/m'")
    return int(match[1]), int(match[2] or 1) * _PERIODS[match[3]]


class Throttle(SocketMiddleware):
    """
    Per-socket rate limit on client frames (a token bucket).

    ``EASY_CHANNELS["THROTTLE"]`` sets ``RATE`` ("20/s"), ``BURST`` (extra frames allowed at
    once) and ``CLOSE_AFTER`` (rate-limited frames in a row that close the socket with 4429).
    Subclasses may set ``rate``, ``burst`` and ``close_after`` instead. A frame over the rate
    gets a ``rate_limited`` error and never reaches its handler.

    It counts frames as they arrive (``on_arrival``), before they wait for a busy handler: a
    flood is refused and closed with 4429 instead of filling the socket's queue first.
    """

    rate: ClassVar[str | None] = None
    burst: ClassVar[int | None] = None
    close_after: ClassVar[int | None] = None
    close_code = 4429

    def __init__(self, consumer: JSONWebSocket):
        from .conf import get_config

        super().__init__(consumer)
        config = get_config().throttle
        count, period = parse_rate(self.rate or config.get("RATE", "20/s"))
        burst = self.burst if self.burst is not None else config.get("BURST", count)
        self._capacity = float(count + burst)
        self._per_second = count / period
        self._close_after = self.close_after or config.get("CLOSE_AFTER", 50)
        self._tokens = self._capacity
        self._stamp = time.monotonic()
        self._limited_in_a_row = 0

    async def on_arrival(self, message: dict[str, Any]) -> None:
        from .exceptions import SocketError

        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._per_second)
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            self._limited_in_a_row = 0
            return
        self._limited_in_a_row += 1
        logger.info(
            "easy_channels: rate-limited a frame from %s (%d in a row)",
            self.scope.get("path"),
            self._limited_in_a_row,
        )
        if self._limited_in_a_row >= self._close_after:
            logger.warning("easy_channels: closing %s: it keeps flooding", self.scope.get("path"))
            await self.consumer.close(self.close_code, "Too many messages.")
        raise SocketError("rate_limited", "Too many messages; slow down.")
