"""
The browser test site serving docs/topics/presence.rst's room, its code run exactly as the page
shows it, through the package's router (tests/browser/test_presence_docs.py).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.browser.client_site.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from easy_channels.routing import websocket_router  # noqa: E402
from tests.utils import DOCS, code_blocks  # noqa: E402

PAGE = DOCS / "topics" / "presence.rst"
exec(compile(code_blocks(PAGE, "py")[0][1], str(PAGE), "exec"), {"__name__": "chat.sockets"})

application = ProtocolTypeRouter(
    {
        "http": ASGIStaticFilesHandler(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(websocket_router),
    }
)
