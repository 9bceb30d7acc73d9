import contextlib

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class EasyChannelsConfig(AppConfig):
    name = "easy_channels"
    verbose_name = "Easy Channels"

    def ready(self) -> None:
        from . import (  # noqa: F401
            checks,
            presence_checks,
            recovery_checks,
            security_checks,
            socketio_checks,
        )
        from .registry import autodiscover, registry

        autodiscover()
        # The consumers named in EASY_CHANNELS["SOCKETS"] are imported now, not at the first
        # connection: a process that only sends (a worker, a view) must know whether one of
        # them recovers, to record its group messages. A bad entry is check E006's to report.
        with contextlib.suppress(ImproperlyConfigured):
            registry.routes()
