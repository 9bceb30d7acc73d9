"""
Settings of the conformance test project (``tests/test_conformance.py``).

The timings and the payload limit are those the official Socket.IO and Engine.IO suites expect
of the server under test (``pingInterval`` 300 ms, ``pingTimeout`` 200 ms, ``maxPayload``
1000000); namespace ``/`` and ``/custom`` are the two the Socket.IO suite connects to.
"""

import os

SECRET_KEY = "easy-channels-conformance"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "easy_channels",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
EASY_CHANNELS = {
    "SOCKETIO": {"PING_INTERVAL": 0.3, "PING_TIMEOUT": 0.2, "MAX_PAYLOAD": 1000000},
    # Keys starting with "/" are Socket.IO namespaces.
    "SOCKETS": {
        "/": "tests.sio_site.consumers.Main",
        "/custom": "tests.sio_site.consumers.Custom",
        "/room": "tests.sio_site.consumers.Room",
        "/recovering": "tests.sio_site.consumers.RecoveringRoom",
        "room/": "tests.sio_site.consumers.Room",
    },
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {"easy_channels": {"level": "DEBUG"}},
}

if os.environ.get("SIO_REDIS_PREFIX"):  # tests across two server processes
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")],
                "prefix": os.environ["SIO_REDIS_PREFIX"],
            },
        }
    }

if os.environ.get("SIO_MAX_PAYLOAD"):  # bytes, for the maxPayload test
    EASY_CHANNELS["SOCKETIO"]["MAX_PAYLOAD"] = int(os.environ["SIO_MAX_PAYLOAD"])

if os.environ.get("SIO_PING"):  # "interval,timeout" in seconds, for tests that poll by hand
    interval, timeout = (float(v) for v in os.environ["SIO_PING"].split(","))
    EASY_CHANNELS["SOCKETIO"].update({"PING_INTERVAL": interval, "PING_TIMEOUT": timeout})
