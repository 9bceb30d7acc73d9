"""ASGI application of the real-server tests (served by uvicorn and daphne in subprocesses)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from easy_channels.routing import websocket_router  # noqa: E402
from tests.servers import consumers  # noqa: E402

application = ProtocolTypeRouter(
    {
        "websocket": URLRouter(
            [
                path("ws/echo/", consumers.Echo.as_asgi()),
                path("ws/crash/", consumers.CrashAfterAccept.as_asgi()),
                path("ws/reject/", consumers.Rejecting.as_asgi()),
                path("ws/chat/<str:name>/", consumers.Chat.as_asgi()),
                path("ws/flood/", consumers.Flood.as_asgi()),
                path("ws/stall/", consumers.Stall.as_asgi()),
                path("ws/throttled/", consumers.Throttled.as_asgi()),
                path("ws/slow/", consumers.Slow.as_asgi()),
            ]
        )
    }
)

#: The package's own router (tests.settings registers its consumers): for what a client of a
#: path no route matches gets from a real server.
router_application = ProtocolTypeRouter({"websocket": websocket_router})
