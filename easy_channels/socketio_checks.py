"""System checks of Socket.IO: E012 (the ``SOCKETIO`` setting) and E013 (the namespaces)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import Tags, register
from django.core.exceptions import ImproperlyConfigured

from .checks import error
from .conf import DEFAULTS

__all__ = ["check_namespaces", "check_socketio"]

_SETTING = "EASY_CHANNELS['SOCKETIO']"

#: The numbers of SOCKETIO: key -> (smallest value, what it is, an example).
_NUMBERS = {
    "PING_INTERVAL": (0.001, "the seconds between the server's pings", "25"),
    "PING_TIMEOUT": (0.001, "the seconds a client has to answer a ping", "20"),
    "CONNECT_TIMEOUT": (0, "the seconds a connection has to join a namespace", "45"),
}


@register(Tags.compatibility)
def check_socketio(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[Any]:
    """E012: SOCKETIO's type, keys and values."""
    user = getattr(settings, "EASY_CHANNELS", None)
    if not isinstance(user, dict) or "SOCKETIO" not in user:
        return []  # E001 reports a non-dict EASY_CHANNELS
    socketio, defaults = user["SOCKETIO"], DEFAULTS["SOCKETIO"]
    if not isinstance(socketio, dict):
        return [
            error(
                12,
                f"{_SETTING} is {socketio!r}; it must be a dict.",
                f"Write {_SETTING} as a dict of the keys you change, like "
                '{"PING_INTERVAL": 25}, or remove it to use the defaults.',
            )
        ]
    messages = [
        error(
            12,
            f"{_SETTING} has an unknown key {key!r}.",
            f"Valid keys: {', '.join(sorted(defaults))}.",
        )
        for key in sorted(set(socketio) - set(defaults), key=repr)
    ]
    path = socketio.get("PATH", defaults["PATH"])
    if (
        not isinstance(path, str)
        or path.strip("/") == ""
        or path.startswith("/")
        or not path.endswith("/")
    ):
        messages.append(
            error(
                12,
                f"{_SETTING}['PATH'] is {path!r}; it must be a path without a leading '/' and "
                "with a trailing one.",
                "Set it to the clients' path option without its leading slash, like "
                f"{defaults['PATH']!r} for the clients' default '/{defaults['PATH']}'.",
            )
        )
    for key, (least, what, example) in _NUMBERS.items():
        value = socketio.get(key, defaults[key])
        if not _number_over(value, least):
            must = f"at least {least}" if least else "positive"
            messages.append(
                error(
                    12,
                    f"{_SETTING}[{key!r}] is {value!r}; it must be a {must} number of seconds.",
                    f"Set it to {what}, like {example}.",
                )
            )
    payload = socketio.get("MAX_PAYLOAD", defaults["MAX_PAYLOAD"])
    if isinstance(payload, bool) or not isinstance(payload, int) or payload <= 0:
        messages.append(
            error(
                12,
                f"{_SETTING}['MAX_PAYLOAD'] is {payload!r}; it must be a positive integer.",
                "Set it to the bytes a WebSocket frame or a polling request may carry, like "
                f"{defaults['MAX_PAYLOAD']}.",
            )
        )
    return messages


def _number_over(value: Any, least: float) -> bool:
    """A finite number, ``least`` or more (over 0 when ``least`` is 0)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    return value >= least if least else value > 0


@register(Tags.urls)
def check_namespaces(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[Any]:
    """E013: the Socket.IO namespaces of SOCKETS, their consumers, and conflicts."""
    from .registry import RouteConflict, registry

    user = getattr(settings, "EASY_CHANNELS", None)
    sockets = user.get("SOCKETS", {}) if isinstance(user, dict) else {}
    if not isinstance(sockets, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in sockets.items()
    ):
        return []  # E001/E002 report those
    try:
        registry.namespaces()
    except RouteConflict as exc:
        return [
            error(
                13,
                str(exc),
                "Serve a namespace from one consumer: remove it from EASY_CHANNELS['SOCKETS'] "
                "or from the @register(namespace=...) of the other.",
            )
        ]
    except ImproperlyConfigured as exc:
        return [
            error(
                13,
                str(exc),
                'Keys of EASY_CHANNELS["SOCKETS"] that start with "/" are Socket.IO namespaces, '
                "mapped to dotted paths of JSONWebSocket subclasses, like "
                '{"/chat": "chat.sockets.ChatConsumer"}.',
            )
        ]
    return []
