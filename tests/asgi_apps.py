"""ASGI applications for the origin-validator system check."""

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from easy_channels import security
from easy_channels.routing import websocket_router
from tests.elsewhere import ElsewhereConsumer

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
