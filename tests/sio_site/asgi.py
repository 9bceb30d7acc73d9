"""
ASGI applications of the conformance tests (served by uvicorn and daphne in subprocesses).

``application`` is the Socket.IO project (the Socket.IO suite); ``engineio_application`` a
bare Engine.IO echo server at ``/engine.io/`` (the Engine.IO suite).
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.sio_site.settings")
django.setup()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

from easy_channels.routing import http_router, websocket_router  # noqa: E402
from easy_channels.testing import engineio_echo_application  # noqa: E402

application = ProtocolTypeRouter(
    {"http": http_router(get_asgi_application()), "websocket": websocket_router}
)

#: bare Engine.IO at /engine.io/ (the Engine.IO suite)
engineio_application = engineio_echo_application
