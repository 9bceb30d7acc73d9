"""
tests.settings with the channel layers chosen by environment variables (real-server tests).

``TEST_LAYER``
    ``memory`` (default) or ``redis``: the ``default`` layer.
``TEST_REDIS_URL``, ``TEST_PREFIX``
    The Redis server and key prefix of every Redis layer here; the ``stall`` alias is always
    that Redis, so a test can stall it (``DEBUG SLEEP``) under either default layer.
``TEST_REDIS_HOST``
    ``plain`` passes the bare URL as the host (redis-py's own timeouts, as tutorials do);
    otherwise README's recommended host options.
"""

import os

from tests.settings import *  # noqa: F403

_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
_PREFIX = os.environ.get("TEST_PREFIX", "asgi")
if os.environ.get("TEST_REDIS_HOST") == "plain":
    _HOST: object = _URL
else:
    _HOST = {"address": _URL, "socket_timeout": 15, "socket_connect_timeout": 2}
_REDIS = {
    "BACKEND": "channels_redis.core.RedisChannelLayer",
    "CONFIG": {"hosts": [_HOST], "prefix": _PREFIX},
}
_MEMORY = {"BACKEND": "channels.layers.InMemoryChannelLayer"}

CHANNEL_LAYERS = {
    "default": _REDIS if os.environ.get("TEST_LAYER", "memory") == "redis" else _MEMORY,
    "stall": _REDIS,
}
