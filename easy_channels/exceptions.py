"""Exceptions that handlers and middleware raise to talk to the client."""

from __future__ import annotations

from typing import Any

from .protocol import CloseCode, check_close_code, is_valid_event_name, truncate_reason

__all__ = ["EasyChannelsError", "LayerUnavailable", "Reject", "SocketError"]


class EasyChannelsError(Exception):
    """Root of every exception easy_channels defines."""


class SocketError(EasyChannelsError):
    """
    Answer the current client message with ``{"event": "error", "code": code, ...}``.

    Raise it from an ``on_<event>`` handler or a middleware's ``on_receive``; the socket stays
    open. ``details`` (any JSON value) is sent along for the client to show.
    """

    def __init__(self, code: str, message: str = "", *, details: Any = None):
        if not is_valid_event_name(code):
            raise ValueError(
                f"Invalid SocketError code {code!r}: use 1-100 ASCII letters, digits or "
                "underscores, like 'not_found'."
            )
        super().__init__(message or code)
        self.code = code
        self.message = message or code
        self.details = details


class Reject(EasyChannelsError):
    """
    Refuse a connection (from ``on_connect``) or drop a message (from ``on_receive``).

    On connect the socket is accepted just long enough to send
    ``{"event": "connect_error", "code": code, "message": reason}`` and is then closed with
    ``code``: a browser can't read why a socket was refused during the handshake.
    From ``on_receive`` or a handler, the message gets a ``forbidden`` error instead.
    """

    def __init__(self, code: int = CloseCode.FORBIDDEN, reason: str = "Forbidden"):
        check_close_code(code)
        super().__init__(reason)
        self.code = code
        self.reason = truncate_reason(reason)


class LayerUnavailable(SocketError):
    """
    The channel layer (Redis) failed or didn't answer within ``LAYER_TIMEOUT`` seconds.

    Raised by group and send operations instead of hanging. In a handler it becomes an
    ``unavailable`` error frame and the socket stays open; a sender outside a consumer (a view)
    can catch it.
    """

    def __init__(self, message: str = "The server can't reach its message layer; try again."):
        super().__init__("unavailable", message)
