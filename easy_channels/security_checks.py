"""
The checks of the ASGI application and the server: W004 (ASGI_APPLICATION reaches our router
without an origin check), W005 (ASGI_APPLICATION doesn't import), W006 (an old daphne) and W008
(ASGI_APPLICATION doesn't reach the registered routes). W004 and W008 look into the application
with one walk, :func:`_walk`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import Tags, register

from .checks import registered_routes, warning

if TYPE_CHECKING:
    from .consumers import JSONWebSocket

__all__ = ["check_asgi_application", "check_asgi_routes", "check_server_versions"]


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
    path, application, failure = _asgi_application()
    if failure is not None:  # asgi.py may fail for reasons of its own; say so, don't crash
        return [warning(5, *_import_failure(path, failure))]
    if application is not None and _walk(application, through_origin_check=False).anything:
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


def _asgi_application() -> tuple[str, Any, Exception | None]:
    """ASGI_APPLICATION ("" if unset), and the application or what importing it raised."""
    path = getattr(settings, "ASGI_APPLICATION", None) or ""
    if not path:
        return path, None, None
    from django.utils.module_loading import import_string

    try:
        return path, import_string(path), None
    except Exception as exc:
        return path, None, exc


def _import_failure(path: str, exc: Exception) -> tuple[str, str]:
    """W005's message and hint: a wrong setting, or an error in the project's own asgi.py."""
    import traceback

    module = path.rpartition(".")[0]
    if isinstance(exc, ModuleNotFoundError) and exc.name and module.startswith(exc.name):
        return (
            f"ASGI_APPLICATION is {path!r}, but there is no module {exc.name!r}.",
            "Set ASGI_APPLICATION to the dotted path of your asgi.py's application, such as "
            "'mysite.asgi.application'.",
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


# Deployment only, like W004: it imports ASGI_APPLICATION (see the comment above W004).
@register(Tags.urls, deploy=True)
def check_asgi_routes(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[Any]:
    """W008: routes are registered, but ASGI_APPLICATION reaches neither our router nor them."""
    routes = registered_routes()
    if not routes:
        return []
    path, application, _ = _asgi_application()
    if application is None:  # no ASGI_APPLICATION, or W005 reports why it doesn't import
        return []
    from .conf import get_config

    reached = _walk(application, through_origin_check=True)
    if reached.router:
        return []
    missing = [route for route in routes if route.consumer not in reached.consumers]
    if not missing:
        return []
    prefix = get_config().url_prefix
    unreachable = ", ".join(route.shown(prefix) for route in missing)
    if reached.consumers:
        msg = (
            "ASGI_APPLICATION serves only some socket routes: it reaches some registered "
            f"consumers but not easy_channels' router. Unreachable: {unreachable}."
        )
    else:
        msg = (
            "ASGI_APPLICATION serves no socket route: it reaches neither easy_channels' router "
            f"nor any registered consumer. Unreachable: {unreachable}."
        )
    return [
        warning(
            8,
            msg,
            'Route websockets to easy_channels: "websocket": AllowedHostsOriginValidator('
            "AuthMiddlewareStack(websocket_router)), with websocket_router from "
            "easy_channels.routing, or include easy_channels.routing.websocket_urlpatterns in "
            "your own URLRouter. If an app of yours reaches them in a way this check cannot see "
            '(it follows inner, application and app attributes), add "easy_channels.W008" to '
            "SILENCED_SYSTEM_CHECKS.",
            path,
        )
    ]


@dataclass
class _Reached:
    """What a walk of an ASGI application found."""

    #: easy_channels.routing.websocket_router, which serves every registered route.
    router: bool = False
    #: JSONWebSocket subclasses reached as classes or as their as_asgi() apps.
    consumers: set[type[JSONWebSocket]] = field(default_factory=set)

    @property
    def anything(self) -> bool:
        return self.router or bool(self.consumers)


def _walk(application: Any, *, through_origin_check: bool) -> _Reached:
    """
    What the websocket side of an ASGI application reaches of easy_channels.

    An ASGI app can't be asked where it routes, so this looks at the attributes Channels' own
    apps (and most middleware) keep: a ProtocolTypeRouter's ``application_mapping`` (its
    "websocket" branch only), a URLRouter's routes, a wrapper's ``inner``/``application``/``app``,
    an ``as_asgi()`` app's ``consumer_class``. An app of the project's own that calls another
    without keeping it in such an attribute hides it. W004 asks what is reached before an origin
    check (``through_origin_check=False``: an OriginValidator ends the walk), W008 what is
    reached at all.
    """
    from channels.routing import URLRouter
    from channels.security.websocket import OriginValidator

    from .consumers import JSONWebSocket
    from .routing import websocket_router

    found = _Reached()
    seen: set[int] = set()
    todo = [application]
    while todo:
        app = todo.pop()
        if app is None or id(app) in seen:
            continue
        seen.add(id(app))
        if isinstance(app, OriginValidator) and not through_origin_check:
            continue
        if app is websocket_router:
            found.router = True
            continue
        consumer = app if isinstance(app, type) else getattr(app, "consumer_class", None)
        if isinstance(consumer, type) and issubclass(consumer, JSONWebSocket):
            found.consumers.add(consumer)
            continue
        mapping = getattr(app, "application_mapping", None)
        if isinstance(mapping, dict):
            todo.append(mapping.get("websocket"))
        elif isinstance(app, URLRouter):
            todo += [getattr(route, "callback", None) for route in app.routes]
        else:
            todo += [getattr(app, attr, None) for attr in ("inner", "application", "app")]
    return found


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
