"""
django-easy-channels: Socket.IO-style event consumers for Django Channels.

Nothing here reads settings at import time, so ``asgi.py`` may import it before Django is set up.
"""

from .consumers import JSONWebSocket
from .exceptions import EasyChannelsError, Reject, SocketError
from .handlers import server_only
from .middleware import SocketMiddleware
from .registry import register

__version__ = "0.1.0"

__all__ = [
    "EasyChannelsError",
    "JSONWebSocket",
    "Reject",
    "SocketError",
    "SocketMiddleware",
    "__version__",
    "register",
    "server_only",
]
