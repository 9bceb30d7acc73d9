"""
Settings of the scale-out test project, read from environment variables set by the fixture.

``SCALEOUT_LAYER``
    ``redis`` (``channels_redis.core.RedisChannelLayer`` on one server), ``sharded`` (the
    same layer over two or more servers) or ``pubsub``
    (``channels_redis.pubsub.RedisPubSubChannelLayer``).
``SCALEOUT_HOSTS``
    Comma-separated Redis URLs; the default is ``REDIS_URL`` or the local server.
``SCALEOUT_PREFIX``
    The layer's key prefix: unique per test run, so a run touches (and deletes) only its keys.
``EASY_CHANNELS_LAYER_TIMEOUT``
    ``EASY_CHANNELS["LAYER_TIMEOUT"]`` (default 3).
``SCALEOUT_RECOVERY``
    ``<window>,<history>``: ``EASY_CHANNELS["RECOVERY"]`` (default: the package's own).
``SCALEOUT_PRESENCE_TIMEOUT``
    ``EASY_CHANNELS["PRESENCE"]["TIMEOUT"]`` (default: the package's own).
``SCALEOUT_SOCKET_TIMEOUT``
    redis-py's read timeout, in seconds (see ``_host``); ``default`` leaves redis-py's own
    (5 s in redis-py 8); ``plain`` passes the bare URL, as every tutorial writes it.
"""

import os

from django.core.exceptions import ImproperlyConfigured

SECRET_KEY = "easy-channels-scaleout"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "channels",
    "easy_channels",
    "tests.scaleout",
]
# No table is used: socket users come from the query string (consumers.QueryUser). The
# connection only serves on_commit sends (scaleout_send --on-commit).
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ASGI_APPLICATION = "tests.scaleout.asgi.application"
EASY_CHANNELS = {
    "SOCKETS": {"room/": "tests.scaleout.consumers.Room"},
    "LAYER_TIMEOUT": float(os.environ.get("EASY_CHANNELS_LAYER_TIMEOUT", "3")),
}
if os.environ.get("SCALEOUT_RECOVERY"):
    _window, _history = os.environ["SCALEOUT_RECOVERY"].split(",")
    EASY_CHANNELS["RECOVERY"] = {"WINDOW": float(_window), "HISTORY": int(_history)}

if os.environ.get("SCALEOUT_PRESENCE_TIMEOUT"):
    EASY_CHANNELS["PRESENCE"] = {"TIMEOUT": float(os.environ["SCALEOUT_PRESENCE_TIMEOUT"])}

LAYER = os.environ.get("SCALEOUT_LAYER", "redis")
HOSTS = [
    url.strip()
    for url in os.environ.get(
        "SCALEOUT_HOSTS", os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    ).split(",")
    if url.strip()
]
PREFIX = os.environ.get("SCALEOUT_PREFIX", "scaleout")
SOCKET_TIMEOUT = os.environ.get("SCALEOUT_SOCKET_TIMEOUT", "15")


def _host(url: str) -> dict | str:
    """
    One entry of ``hosts``: the URL plus redis-py connection options.

    redis-py 8 gives up on a read after 5 s by default, the very time channels-redis blocks in
    BZPOPMIN when a socket is idle. easy_channels treats that timeout as "nothing came", but a
    message popped by Redis just as the client gave up (and dropped the connection) is lost. A
    read timeout above the 5 s block removes that race.
    """
    if SOCKET_TIMEOUT == "plain":
        return url
    if SOCKET_TIMEOUT == "default":
        return {"address": url}
    return {"address": url, "socket_timeout": float(SOCKET_TIMEOUT)}


_BACKENDS = {
    "redis": "channels_redis.core.RedisChannelLayer",
    "sharded": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}
if LAYER not in _BACKENDS:
    raise ImproperlyConfigured(f"SCALEOUT_LAYER must be one of {sorted(_BACKENDS)}, not {LAYER!r}")
if LAYER == "sharded" and len(HOSTS) < 2:
    raise ImproperlyConfigured("SCALEOUT_LAYER=sharded needs two or more SCALEOUT_HOSTS.")
if LAYER != "sharded" and len(HOSTS) != 1:
    raise ImproperlyConfigured(f"SCALEOUT_LAYER={LAYER} takes one host, not {HOSTS}.")

if LAYER == "redis":  # the layer recovery can keep sessions on (check easy_channels.E010)
    EASY_CHANNELS["SOCKETS"]["recovering/"] = "tests.scaleout.consumers.RecoveringRoom"
    EASY_CHANNELS["SOCKETS"]["discreet/"] = "tests.scaleout.consumers.DiscreetRoom"

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": _BACKENDS[LAYER],
        "CONFIG": {"hosts": [_host(url) for url in HOSTS], "prefix": PREFIX},
    }
}
