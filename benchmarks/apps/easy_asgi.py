"""
ASGI app of the easy_channels server (``/ws/bench/``), wired as README's "Installing" says but
without the origin validator and auth stack (the load generator sends no Origin or cookies).

With ``BENCH_PYINSTRUMENT=<path>`` set, SIGUSR1 starts a pyinstrument profiler on the serving
(main) thread and SIGUSR2 stops it and writes ``<path>.txt`` and ``<path>.html``: the harness
profiles only the load it drives, not start-up or idle time (see ``benchmarks.profiling``).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.apps.settings")
get_asgi_application()  # django.setup()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from benchmarks.apps.profiler_hooks import install_pyinstrument_hooks  # noqa: E402
from easy_channels.routing import http_router, websocket_router  # noqa: E402

# HTTP: Socket.IO's long-polling (benchmarks/polling_relay.py); every load here is a WebSocket.
application = ProtocolTypeRouter(
    {"http": http_router(get_asgi_application()), "websocket": websocket_router}
)

install_pyinstrument_hooks()
