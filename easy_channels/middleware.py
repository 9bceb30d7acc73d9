"""
Socket middleware: code that runs around every consumer of a route or of the whole project.

A middleware instance lives as long as its socket. Hooks may be ``def`` or ``async def``:

- ``on_connect()`` runs before the consumer's ``on_connect``; raising
  :class:`~easy_channels.Reject` refuses the socket.
- ``on_receive(message)`` runs for every well-formed client frame (the whole decoded dict,
  ``event`` and ``ack`` included) before its handler is looked up. It may change ``message``
  in place or return a new dict; raising ``Reject``/``PermissionDenied`` drops the message with
  a ``forbidden`` error.
- ``on_disconnect(code)`` runs after the consumer's ``on_disconnect``.

Global middleware (``EASY_CHANNELS["MIDDLEWARE"]``) runs before a consumer's own
``middlewares``, in list order; disconnect hooks run in reverse order.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from .consumers import JSONWebSocket

__all__ = ["SocketMiddleware", "load_middleware"]

_HOOKS = ("on_connect", "on_receive", "on_disconnect")


class SocketMiddleware:
    """Base class of socket middleware. Override only the hooks you need."""

    def __init__(self, consumer: JSONWebSocket):
        self.consumer = consumer

    @property
    def scope(self) -> dict[str, Any]:
        return self.consumer.scope

    def on_connect(self) -> None:
        """Runs before the consumer's on_connect(). Raise Reject to refuse the socket."""

    def on_receive(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """Runs for each well-formed frame. Return a new dict to replace the message."""

    def on_disconnect(self, code: int) -> None:
        """Runs after the consumer's on_disconnect()."""

    @classmethod
    def _overridden_hooks(cls) -> frozenset[str]:
        """Hooks a subclass defines: the base no-ops are skipped, so they cost no thread hop."""
        return frozenset(h for h in _HOOKS if getattr(cls, h) is not getattr(SocketMiddleware, h))


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
