"""
Settings: one ``EASY_CHANNELS`` dict in settings.py, merged over :data:`DEFAULTS` at read time.

django-appconf gives ``settings.EASY_CHANNELS`` its default; :func:`get_config` merges the
user's (possibly partial) dict over the defaults and caches the result until Django sends
``setting_changed`` (so ``override_settings(EASY_CHANNELS={...})`` with a partial dict works).

This module touches settings when imported: import it lazily (easy_channels/__init__ doesn't).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from appconf import AppConf
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

__all__ = ["DEFAULTS", "Config", "get_config"]

DEFAULTS: dict[str, Any] = {
    # Dotted paths of SocketMiddleware classes run, in order, before each consumer's own.
    "MIDDLEWARE": [],
    # {"route": "dotted.path.Consumer"}: consumers registered without @register.
    "SOCKETS": {},
    # Prefix of every registered route ("ws/" serves "chat/<name>/" at /ws/chat/<name>/).
    "URL_PREFIX": "ws/",
    # Authenticated sockets join a per-user group, so user_send()/close_user() reach them.
    "USER_GROUPS": True,
    # easy_channels.middleware.Throttle: RATE messages per period ("20/s", "100/m", "1000/h"),
    # BURST extra messages allowed at once, and CLOSE_AFTER rate-limited messages in a row
    # close the socket with 4429.
    "THROTTLE": {"RATE": "20/s", "BURST": 20, "CLOSE_AFTER": 50},
    # Accept the socket after on_connect() when it neither accepted nor refused it.
    "AUTO_ACCEPT": True,
    # Alias in CHANNEL_LAYERS that consumers use (a consumer's channel_layer_alias wins).
    "CHANNEL_LAYER": "default",
    # Frames above this many bytes get a too_large error without being parsed.
    "MAX_MESSAGE_SIZE": 1024 * 1024,
    # JSON nested deeper than this is invalid_json.
    "MAX_JSON_DEPTH": 32,
    # This many protocol errors in a row close the socket with 4000.
    "MAX_CONSECUTIVE_ERRORS": 20,
    # Client frames waiting behind a running handler; more get an `overloaded` error.
    "MAX_PENDING_MESSAGES": 100,
    # Bytes those waiting frames may hold in all; past it they get `overloaded` too (a frame is
    # always taken when none waits, so one of MAX_MESSAGE_SIZE fits).
    "MAX_PENDING_BYTES": 1024 * 1024,
    # Seconds a handler still running when its client leaves may go on before it is cancelled.
    # Keep it well under daphne's 10 s application close timeout.
    "DISCONNECT_TIMEOUT": 5.0,
    # Seconds any one channel layer call (group_add, group_send, send, ...) may take before it
    # fails with LayerUnavailable (an `unavailable` error frame) instead of hanging the socket.
    "LAYER_TIMEOUT": 3.0,
    # Consumers with recovery = True: seconds a dropped socket's session is kept for it to
    # resume, and messages kept per group for replay (older ones, and ones past the window,
    # are trimmed).
    "RECOVERY": {"WINDOW": 120, "HISTORY": 500},
    # presence_add(): seconds over which presence_diff frames are coalesced, and seconds after
    # which the entries of a process that stopped (killed, host lost) are removed.
    "PRESENCE": {"INTERVAL": 0.1, "TIMEOUT": 30},
    # Socket.IO (namespaces of registered consumers): served at /PATH by websocket_router and
    # http_router (long-polling); the server pings every PING_INTERVAL seconds and closes a
    # client that doesn't answer within PING_TIMEOUT; MAX_PAYLOAD bytes per message or POST;
    # a client that connects to no namespace within CONNECT_TIMEOUT seconds is closed.
    "SOCKETIO": {
        "PATH": "socket.io/",
        "PING_INTERVAL": 25,
        "PING_TIMEOUT": 20,
        "MAX_PAYLOAD": 1000000,
        "CONNECT_TIMEOUT": 45,
    },
}


class EasyChannelsConf(AppConf):
    """
    What django-appconf does here, and all it does: it gives ``settings.EASY_CHANNELS`` its
    default (``{}``) when settings.py has none, once Django loads this module.

    Merging a partial dict over :data:`DEFAULTS` is done by :func:`get_config` at read time,
    not by appconf's ``configure_channels()``: that runs once, when the class is made, and
    ``override_settings(EASY_CHANNELS=...)`` in tests would then see no defaults. Validation is
    the system checks' (easy_channels.checks), which name the key and the fix.
    """

    CHANNELS: dict[str, Any] = {}

    class Meta:
        prefix = "easy"


@dataclass(frozen=True, slots=True)
class Config:
    """
    ``EASY_CHANNELS`` merged over :data:`DEFAULTS`, one typed attribute per key (lower case).

    ``config["KEY"]`` still reads the key as written in settings.py.
    """

    middleware: list[str]
    sockets: dict[str, str]
    url_prefix: str
    user_groups: bool
    throttle: dict[str, Any]
    auto_accept: bool
    channel_layer: str
    max_message_size: int
    max_json_depth: int
    max_consecutive_errors: int
    max_pending_messages: int
    max_pending_bytes: int
    disconnect_timeout: float
    layer_timeout: float
    recovery: dict[str, Any]
    presence: dict[str, Any]
    socketio: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        if key not in DEFAULTS:
            raise KeyError(key)
        return getattr(self, key.lower())


@cache
def get_config() -> Config:
    """The merged settings (cached until ``EASY_CHANNELS`` changes)."""
    user = getattr(settings, "EASY_CHANNELS", None) or {}
    if not isinstance(user, dict):  # reported by check easy_channels.E001
        user = {}
    merged = {**DEFAULTS, **{k: v for k, v in user.items() if k in DEFAULTS}}
    for key, default in DEFAULTS.items():  # {"THROTTLE": {"RATE": "5/s"}} keeps BURST etc.
        if isinstance(default, dict) and key != "SOCKETS" and isinstance(user.get(key), dict):
            merged[key] = {**default, **user[key]}
    return Config(**{key.lower(): value for key, value in merged.items()})


@receiver(setting_changed)
def _clear_config(*, setting: str, **kwargs: Any) -> None:
    if setting == "EASY_CHANNELS":
        get_config.cache_clear()
