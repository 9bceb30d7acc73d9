"""
django-easy-channels: Socket.IO-style event consumers for Django Channels.

Nothing here reads settings at import time, so ``asgi.py`` may import it before Django is set up.
"""

from .consumers import JSONWebSocket
from .counters import stats
from .exceptions import EasyChannelsError, LayerUnavailable, Reject, SocketError
from .handlers import on, server_only
from .middleware import SocketMiddleware
from .presence import apresence, presence
from .registry import register
from .sending import (
    aclose_group,
    aclose_user,
    agroup_call_event,
    agroup_send,
    asend_to,
    auser_send,
    close_group,
    close_user,
    group_call_event,
    group_send,
    send_to,
    user_send,
)

__version__ = "0.1.0"

__all__ = [
    "EasyChannelsError",
    "JSONWebSocket",
    "LayerUnavailable",
    "Reject",
    "SocketError",
    "SocketMiddleware",
    "__version__",
    "aclose_group",
    "aclose_user",
    "agroup_call_event",
    "agroup_send",
    "apresence",
    "asend_to",
    "auser_send",
    "close_group",
    "close_user",
    "group_call_event",
    "group_send",
    "on",
    "presence",
    "register",
    "send_to",
    "server_only",
    "stats",
    "user_send",
]
