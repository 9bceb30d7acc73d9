"""How an exception raised by a handler or middleware becomes an error frame for the client."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError

from . import counters
from .exceptions import Reject, SocketError
from .protocol import ErrorCode

if TYPE_CHECKING:
    from .wire import WireCodec

__all__ = ["error_frame"]

logger = logging.getLogger("easy_channels")


def describe(exc: Exception) -> tuple[str, str, Any]:
    """
    ``(code, message, details)`` for an exception.

    Expected refusals map to their codes; anything else is ``handler_error``, whose text only
    reaches the client with ``DEBUG`` on (it may hold secrets).
    """
    if isinstance(exc, SocketError):
        return exc.code, exc.message, exc.details
    if isinstance(exc, Reject):
        return ErrorCode.FORBIDDEN, exc.reason, None
    if isinstance(exc, PermissionDenied):
        return ErrorCode.FORBIDDEN, str(exc) or "Permission denied.", None
    if isinstance(exc, ValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return ErrorCode.INVALID, "Invalid data.", details
    text = f"{type(exc).__name__}: {exc}" if settings.DEBUG else "Internal server error."
    return ErrorCode.HANDLER_ERROR, text, None


def error_frame(
    exc: Exception, ack: Any, where: str, codec: WireCodec, *, logged: bool = False
) -> str:
    """
    Log ``exc`` as it deserves (unless the caller has: ``logged``); return its encoded error
    frame. ``where`` names the consumer, and the event and handler when known.
    """
    code, text, details = describe(exc)
    counters.error(code)
    if logged:
        pass
    elif code == ErrorCode.HANDLER_ERROR:
        logger.error("easy_channels: %s failed", where, exc_info=exc)
    else:
        logger.info("easy_channels: %s in %s: %s", code, where, text)
    try:
        return codec.error(code, text, ack, details)
    except (TypeError, ValueError):
        logger.exception("easy_channels: could not encode the details of %r", exc)
        return codec.error(code, text, ack)
