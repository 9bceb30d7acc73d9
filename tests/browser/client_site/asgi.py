"""ASGI application of the browser-client test site: static files, pages and test consumers."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.browser.client_site.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import path  # noqa: E402

from easy_channels.routing import websocket_router  # noqa: E402
from tests.browser.client_site import consumers, readme  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": ASGIStaticFilesHandler(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(
            URLRouter(
                [
                    path("ws/lab/<str:key>/", consumers.Lab.as_asgi()),
                    path("ws/refuse/<str:key>/", consumers.Refuse.as_asgi()),
                    path("ws/recovering/<str:key>/", consumers.Recovering.as_asgi()),
                    path("ws/unavailable/<str:key>/", consumers.Unavailable.as_asgi()),
                    path("ws/present/<str:key>/", consumers.Present.as_asgi()),
                    # The docs' own consumers, for their JavaScript examples.
                    path("ws/chat/<str:room>/", readme.ChatConsumer.as_asgi()),
                    path("ws/counter/", readme.CounterConsumer.as_asgi()),
                ]
            )
        ),
    }
)

#: The same pages with the package's own router as the whole WebSocket app, as a project's
#: asgi.py has it. This site registers no consumer: no path has a route.
router_application = ProtocolTypeRouter(
    {
        "http": ASGIStaticFilesHandler(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(websocket_router),
    }
)
