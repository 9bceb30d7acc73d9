"""
The security system checks: W004 (ASGI_APPLICATION reaches our router without an origin check),
W005 (ASGI_APPLICATION doesn't import) and W006 (an old daphne).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import Tags, register

from .checks import warning

__all__ = ["check_asgi_application", "check_server_versions"]


# A deployment check (``manage.py check --deploy``), like Django's own security checks: it imports
# ASGI_APPLICATION, and importing the project's asgi.py is not free of effects. Its
# AllowedHostsOriginValidator copies ALLOWED_HOSTS when built: run with every check (as
# ``manage.py test`` does), it froze ["testserver"] before ChannelsLiveServerTestCase added the
# live server's host, and every handshake got 403. Checks must not change what the app does.
@register(Tags.security, deploy=True)
def check_asgi_application(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[Any]:
    """W004: the websocket branch of ASGI_APPLICATION reaches our router without an origin check."""
    path = getattr(settings, "ASGI_APPLICATION", None)
    if not path:
        return []
    from django.utils.module_loading import import_string

    try:
        application = import_string(path)
    except Exception as exc:  # asgi.py may fail for reasons of its own; say so, don't crash
        return [warning(5, *_import_failure(path, exc))]
    websocket = getattr(application, "application_mapping", {}).get("websocket", application)
    if _reaches_router_unguarded(websocket, set()):
        return [
            warning(
                4,
                "The websocket branch of ASGI_APPLICATION reaches easy_channels' router "
                "without an origin check: any web site can open sockets with your users' "
                "cookies (cross-site WebSocket hijacking).",
                "Wrap it: AllowedHostsOriginValidator(AuthMiddlewareStack(websocket_router)), "
                "from easy_channels.security (it logs what it refuses) or "
                "channels.security.websocket.",
                path,
            )
        ]
    return []


def _import_failure(path: str, exc: Exception) -> tuple[str, str]:
    """W005's message and hint: a wrong setting, or an error in the project's own asgi.py."""
    import traceback

    module = path.rpartition(".")[0]
    if isinstance(exc, ModuleNotFoundError) and exc.name and module.startswith(exc.name):
        return (
            f"ASGI_APPLICATION is {path!r}, but there is no module {exc.name!r}.",
            "Set ASGI_APPLICATION to the dotted path of your asgi.py's application, such as "
            "'myproject.asgi.application'.",
        )
    if isinstance(exc, ImportError) and "does not define" in str(exc):
        return (
            f"ASGI_APPLICATION is {path!r}, but {module!r} has no attribute "
            f"{path.rpartition('.')[2]!r}.",
            f"Name the object {module}.py defines for the server (usually 'application').",
        )
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" ({frame.filename}, line {frame.lineno})" if frame else ""
    return (
        f"Importing ASGI_APPLICATION {path!r} raised {exc!r}{where}: the setting is right, "
        "your asgi.py (or what it imports) fails.",
        "Fix that error; run 'python -c \"import " + module + "\"' to see the traceback.",
    )


def _reaches_router_unguarded(app: Any, seen: set[int]) -> bool:
    """Walk wrappers (``inner``/``application``) and URLRouters down to our consumers."""
    from channels.routing import URLRouter
    from channels.security.websocket import OriginValidator

    from .consumers import JSONWebSocket
    from .routing import websocket_router

    if app is None or id(app) in seen:
        return False
    seen.add(id(app))
    if isinstance(app, OriginValidator):
        return False
    if app is websocket_router:
        return True
    if isinstance(app, type) and issubclass(app, JSONWebSocket):
        return True
    consumer = getattr(app, "consumer_class", None)
    if isinstance(consumer, type) and issubclass(consumer, JSONWebSocket):
        return True
    if isinstance(app, URLRouter):
        return any(
            _reaches_router_unguarded(getattr(r, "callback", None), seen) for r in app.routes
        )
    return any(
        _reaches_router_unguarded(getattr(app, attr, None), seen)
        for attr in ("inner", "application", "app")
    )


#: daphne 4.2.2 bounds the size of incoming WebSocket messages and fixes a header-smuggling bug.
DAPHNE_MINIMUM = (4, 2, 2)


@register(Tags.security)
def check_server_versions(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[Any]:
    """W006: an installed daphne older than 4.2.2."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("daphne")
    except PackageNotFoundError:
        return []
    return _daphne_warnings(installed)


def _daphne_warnings(installed: str) -> list[Any]:
    # Leading digits of each part: "4.2.2rc1" is (4, 2, 2), "5.0.0.post1" is (5, 0, 0).
    parts = [re.sub(r"\D.*", "", piece) for piece in installed.split(".")[:3]]
    if tuple(int(p or 0) for p in parts) >= DAPHNE_MINIMUM:
        return []
    return [
        warning(
            6,
            f"daphne {installed} is installed. Versions before 4.2.2 accept WebSocket messages "
            "of unbounded size and are open to HTTP header smuggling.",
            "pip install 'daphne>=4.2.2'",
        )
    ]
