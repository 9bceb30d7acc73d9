"""
Django settings of the two Django servers (easy_channels and raw Channels), read from the
environment so that the harness can start the same app on each channel layer.

``BENCH_LAYER``
    ``memory`` (``InMemoryChannelLayer``), ``redis`` (``channels_redis.core.RedisChannelLayer``)
    or ``pubsub`` (``channels_redis.pubsub.RedisPubSubChannelLayer``).
``BENCH_PREFIX``
    The Redis key / channel prefix: unique per server group, so the harness deletes only its
    own keys afterwards.
``REDIS_URL``
    Default ``redis://127.0.0.1:6379/0``.

The Redis hosts get ``socket_timeout: 15`` as easy_channels' README recommends (longer than
channels-redis' 5 s blocking receive). Everything else is a default: the point is to measure
what a user gets out of the box.
"""

import os

from django.core.exceptions import ImproperlyConfigured

SECRET_KEY = "easy-channels-benchmarks"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["channels", "easy_channels"]
DATABASES: dict = {}
ROOT_URLCONF = None
EASY_CHANNELS = {
    "URL_PREFIX": "ws/",
    # The same consumer on Socket.IO's main namespace: the ec-sio server (/socket.io/).
    "SOCKETS": {
        "bench/": "benchmarks.apps.easy_consumers.Bench",
        "/": "benchmarks.apps.easy_consumers.Bench",
    },
}
if os.environ.get("BENCH_RECOVERY"):  # the ec-recovery server: the same consumer, recovering
    EASY_CHANNELS["SOCKETS"]["bench-recovery/"] = "benchmarks.apps.easy_consumers.RecoveringBench"
if os.environ.get("BENCH_PRESENCE"):  # the ec-presence server: the same consumer, tracked
    EASY_CHANNELS["SOCKETS"]["bench-presence/"] = "benchmarks.apps.easy_consumers.PresentBench"

LAYER = os.environ.get("BENCH_LAYER", "memory")
PREFIX = os.environ.get("BENCH_PREFIX", "ecbench")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

_HOSTS = [{"address": REDIS_URL, "socket_timeout": 15}]
if LAYER == "memory":
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
elif LAYER == "redis":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": _HOSTS, "prefix": PREFIX},
        }
    }
elif LAYER == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": _HOSTS, "prefix": PREFIX},
        }
    }
else:
    raise ImproperlyConfigured(f"BENCH_LAYER must be memory, redis or pubsub, not {LAYER!r}")

# Warnings (e.g. easy_channels' own about an unavailable layer or dropped frames) go to the
# server's log file, which the harness scans after the run.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
