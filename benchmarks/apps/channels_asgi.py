"""ASGI app of the raw Channels server (``/ws/bench/``); same settings as easy_channels'."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.apps.settings")
get_asgi_application()  # django.setup()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from benchmarks.apps.channels_consumers import Bench  # noqa: E402

application = ProtocolTypeRouter({"websocket": URLRouter([path("ws/bench/", Bench.as_asgi())])})
