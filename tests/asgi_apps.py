"""ASGI applications for the system checks that import ASGI_APPLICATION (W004, W005, W008)."""

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator, WebsocketDenier
from django.core.handlers.asgi import ASGIHandler
from django.urls import path

from easy_channels import security
from easy_channels.routing import websocket_router, websocket_urlpatterns
from tests.elsewhere import ElsewhereConsumer
from tests.testapp.sockets import ChatConsumer


class Outer:
    """ASGI middleware around the whole application that keeps it in ``.app`` (as Sentry's does)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)


guarded = ProtocolTypeRouter(
    {"websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(websocket_router))}
)
guarded_logging = ProtocolTypeRouter(
    {"websocket": security.AllowedHostsOriginValidator(AuthMiddlewareStack(websocket_router))}
)
unguarded = ProtocolTypeRouter({"websocket": AuthMiddlewareStack(websocket_router)})
unguarded_own_router = ProtocolTypeRouter(
    {"websocket": URLRouter([path("ws/x/", ElsewhereConsumer.as_asgi())])}
)
wrapped_guarded = Outer(guarded)
wrapped_unguarded = Outer(unguarded)

# W008: no websocket branch (see also tests/asgi_http_only.py), or a URLRouter of the project's
# own that leaves routes out.
django_only = ASGIHandler()  # what get_asgi_application() returns: startproject's asgi.py
own_router_partial = ProtocolTypeRouter(
    {
        "http": ASGIHandler(),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(
                URLRouter(
                    [
                        path("ws/chat/<str:name>/", ChatConsumer.as_asgi()),
                        path("ws/", URLRouter([path("elsewhere/", ElsewhereConsumer.as_asgi())])),
                    ]
                )
            )
        ),
    }
)
own_router_with_ours = ProtocolTypeRouter(
    {
        "websocket": AllowedHostsOriginValidator(
            URLRouter([path("ws/plain/", WebsocketDenier.as_asgi()), *websocket_urlpatterns])
        )
    }
)
