"""
Origin checks that say what they refused: Channels' validators refuse a handshake with a bare
403 and log nothing (channels#2062), so a misconfigured ALLOWED_HOSTS looks like a dead server.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from re import Pattern
from typing import Any
from urllib.parse import ParseResult

from channels.security.websocket import OriginValidator
from django.conf import settings

__all__ = ["AllowedHostsOriginValidator", "LoggingOriginValidator", "allowed_http_origin"]

logger = logging.getLogger("easy_channels")

#: Seconds between two warnings about one refused origin.
WARNING_SECONDS = 60.0


class LoggingOriginValidator(OriginValidator):
    """
    Channels' ``OriginValidator``, which also logs each refused origin (at most once a minute
    per origin) with the origins it allows and the fix.
    """

    def __init__(self, application: Any, allowed_origins: Iterable[str | Pattern[str]]):
        super().__init__(application, allowed_origins)
        self._warned: OrderedDict[str, float] = OrderedDict()

    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        self.allowed_origins = self.current_origins()
        valid: bool = super().valid_origin(parsed_origin)
        if not valid:
            self._log_refusal(parsed_origin)
        return valid

    def current_origins(self) -> Iterable[str | Pattern[str]]:
        """The origins allowed now (a subclass may read them from settings at each handshake)."""
        return self.allowed_origins

    def _log_refusal(self, parsed_origin: ParseResult | None) -> None:
        origin = parsed_origin.geturl() if parsed_origin is not None else "(no Origin header)"
        now = time.monotonic()
        last = self._warned.pop(origin, None)
        self._warned[origin] = now if last is None or now - last >= WARNING_SECONDS else last
        while len(self._warned) > 256:
            self._warned.popitem(last=False)
        if last is not None and now - last < WARNING_SECONDS:
            logger.debug("easy_channels: refused a WebSocket handshake from origin %s", origin)
            return
        logger.warning(
            "easy_channels: refused a WebSocket handshake from origin %s (403): allowed are %s. "
            "Add its host to ALLOWED_HOSTS if it is your site; a client that is not a browser "
            "must send an Origin header of an allowed host (warned once a minute per origin).",
            origin,
            ", ".join(str(o) for o in self.allowed_origins) or "none (ALLOWED_HOSTS is empty)",
        )


class _AllowedHosts(LoggingOriginValidator):
    """Allows the hosts of ``settings.ALLOWED_HOSTS``, read at each handshake."""

    def current_origins(self) -> Iterable[str | Pattern[str]]:
        allowed: list[str | Pattern[str]] = list(settings.ALLOWED_HOSTS)
        if settings.DEBUG and not allowed:
            allowed = ["localhost", "127.0.0.1", "[::1]"]
        return allowed


def AllowedHostsOriginValidator(application: Any) -> LoggingOriginValidator:
    """
    Channels' ``AllowedHostsOriginValidator``, but ALLOWED_HOSTS is read at each handshake
    (Channels copies it when ``asgi.py`` is imported, so hosts added later, as
    ``ChannelsLiveServerTestCase`` does, are refused) and refusals are logged.
    """
    return _AllowedHosts(application, [])


_http_origins = _AllowedHosts(None, [])


def allowed_http_origin(scope: dict[str, Any]) -> bool:
    """
    Whether an HTTP request (Socket.IO's long-polling) may go on: a browser's ``Origin`` must
    be one of ALLOWED_HOSTS, as for a WebSocket handshake (refusals are logged the same way);
    a request without an Origin header (not a browser, or a same-origin GET) passes.
    """
    from urllib.parse import urlparse

    for name, value in scope.get("headers", ()):
        if name == b"origin":
            origin = value.decode("latin-1")
            parsed = urlparse(origin.lower()) if origin != "null" else None
            return bool(_http_origins.valid_origin(parsed))
    return True
