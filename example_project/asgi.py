"""
ASGI entry point: Django for HTTP, easy_channels' router for WebSockets.

``http_router`` hands Socket.IO's HTTP long-polling requests (at ``/socket.io/``) to
easy_channels and every other request to Django; ``websocket_router`` serves both the JSON
protocol's routes (``/ws/...``) and Socket.IO's WebSockets.

Serve it with ``python manage.py runserver`` (daphne), ``daphne example_project.asgi:application``
or ``uvicorn example_project.asgi:application``.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
django_asgi_app = get_asgi_application()  # first: it sets Django up before the imports below

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter  # noqa: E402

from easy_channels.routing import http_router, websocket_router  # noqa: E402
from easy_channels.security import AllowedHostsOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": http_router(django_asgi_app),
        # Refuses sockets opened by pages of other sites (Origin not in ALLOWED_HOSTS), and puts
        # the logged-in user in scope["user"].
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(websocket_router)),
    }
)
