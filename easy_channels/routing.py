"""
``websocket_router``: one ASGI app that routes to every registered consumer.

In asgi.py::

    from easy_channels.routing import websocket_router

    application = ProtocolTypeRouter({
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(websocket_router)),
    })

The router is built on first use, so importing it before Django's apps are ready is fine, and
rebuilt when the registry or the EASY_CHANNELS setting changes. A handshake to a path no route
matches is logged and, instead of raising in the server, accepted and closed with 4404 (after a
``connect_error`` frame), which a browser can read and the browser client does not retry.
``websocket_urlpatterns`` is the plain list, for projects that compose their own ``URLRouter``.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, cast

from asgiref.sync import markcoroutinefunction
from channels.routing import URLRouter
from django.core.signals import setting_changed
from django.urls import re_path

from .connection import Connection
from .registry import registry
from .wire import JSONCodec

if TYPE_CHECKING:
    from .conf import Config
    from .connection import Receive, Send

__all__ = ["get_urlpatterns", "http_router", "websocket_router", "websocket_urlpatterns"]  # noqa: F822

logger = logging.getLogger("easy_channels")


def get_urlpatterns() -> list[Any]:
    """``path()``/``re_path()`` entries for every registered route, with URL_PREFIX applied."""
    from .conf import get_config

    prefix = get_config().url_prefix
    return [route.url_pattern(prefix) for route in registry.routes()]


#: Seconds between two warnings about one unknown path (scanners would flood the log).
UNKNOWN_PATH_WARNING_SECONDS = 60.0
#: Close code and reason of a handshake no route matches (HTTP's 404 in the private 4xxx range,
#: as 4401 and 4403 are for refusals).
UNKNOWN_PATH_CLOSE_CODE = 4404
UNKNOWN_PATH_REASON = "No route for this path."
_unknown_paths: OrderedDict[str, float] = OrderedDict()


def _near_miss(path: str) -> str | None:
    """The served path a client probably meant: a missing trailing slash or URL_PREFIX."""
    from .conf import get_config

    prefix = get_config().url_prefix
    bare = path.lstrip("/")
    candidates = [bare + "/", prefix + bare, prefix + bare + "/"]
    if bare.startswith(prefix):
        candidates.append(bare[len(prefix) :])
    patterns = get_urlpatterns()
    for candidate in candidates:
        if any(pattern.resolve(candidate) for pattern in patterns):
            return "/" + candidate
    return None


def _warn_unknown_path(path: str) -> None:
    now = time.monotonic()
    last = _unknown_paths.pop(path, None)
    if last is not None and now - last < UNKNOWN_PATH_WARNING_SECONDS:
        _unknown_paths[path] = last
        return
    _unknown_paths[path] = now
    while len(_unknown_paths) > 1024:
        _unknown_paths.popitem(last=False)
    from .conf import get_config

    routes = ", ".join(route.shown(get_config().url_prefix) for route in registry.routes())
    guess = _near_miss(path)
    logger.warning(
        "easy_channels: no socket route for path %r%s. Served (URL_PREFIX %r): %s",
        path,
        f" (did you mean {guess!r}?)" if guess else "",
        get_config().url_prefix,
        routes or "no routes (register consumers with @register or EASY_CHANNELS['SOCKETS'])",
    )


async def _unknown_path(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """
    Refuse a handshake no route matches (logged) so that the client can tell why.

    Refused as ``Reject`` refuses (:meth:`Connection.refuse`): accepted, told why in a
    ``connect_error`` frame, then closed with 4404. A refusal before accept is an HTTP 403 that
    reaches JavaScript as a bare 1006, which the browser client would retry forever; and daphne
    drops close reasons, so the frame is what carries the reason on every server.
    """
    path = str(scope.get("path"))
    _warn_unknown_path(path)
    if scope.get("type") != "websocket":
        return
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    from .conf import get_config

    config = get_config()
    codec = JSONCodec(config.max_message_size, config.max_json_depth)
    connection = Connection(send, codec, owner="websocket_router", path=path, max_early=0)
    await connection.refuse(UNKNOWN_PATH_CLOSE_CODE, UNKNOWN_PATH_REASON)


class _LazyRouter:
    """The ASGI app behind ``websocket_router`` (see the module docstring)."""

    def __init__(self) -> None:
        self._router: URLRouter
        self._built_from: tuple[int, Config] | None = None

    def _current(self) -> URLRouter:
        from .conf import get_config

        version, config = registry.version, get_config()  # a new config dict after a change
        built = self._built_from
        if built is None or built[0] != version or built[1] is not config:
            # django-stubs types re_path() for views; URLRouter takes ASGI apps in them.
            fallback: Any = re_path(r"", cast(Any, _unknown_path))
            self._router = URLRouter([*get_urlpatterns(), fallback])
            self._built_from = (version, config)
        return self._router

    @property
    def routes(self) -> list[Any]:
        """The URLRouter's routes (for introspection, e.g. system checks)."""
        return self._current().routes

    @markcoroutinefunction
    def __call__(
        self, scope: dict[str, Any], receive: Receive, send: Send
    ) -> Coroutine[Any, Any, None]:
        # The router's own coroutine is returned, not awaited in one of ours: a frame less
        # held by every open socket (the mark keeps it an ASGI 3 application for servers).
        if socketio_path_of(scope) is not None:
            return serve_socketio(scope, receive, send)
        router: Any = self._current()
        result: Coroutine[Any, Any, None] = router(scope, receive, send)
        return result

    def invalidate(self) -> None:
        """Build the router again on next use (the registry or the settings changed)."""
        self._built_from = None

    def __repr__(self) -> str:
        return "<easy_channels websocket_router>"


websocket_router = _LazyRouter()


def socketio_path_of(scope: dict[str, Any]) -> str | None:
    """
    The Socket.IO path if ``scope`` asks for it and a namespace is registered, else None.

    Nothing is served there without a namespace: a project that doesn't use Socket.IO
    doesn't open sessions to anyone who asks.
    """
    from .conf import get_config

    socketio = get_config().socketio
    if not isinstance(socketio, dict) or not isinstance(socketio.get("PATH"), str):
        return None  # a broken setting (check easy_channels.E012): nothing served there
    path = "/" + socketio["PATH"].strip("/") + "/"
    asked = scope.get("path", "")
    if asked != path and asked != path[:-1]:
        return None
    return path if registry.namespaces() else None


async def serve_socketio(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """A Socket.IO request: a WebSocket, or an HTTP long-polling request."""
    from .engineio_asgi import serve_polling, serve_websocket
    from .engineio_settings import EngineSettings
    from .socketio import server

    settings = EngineSettings.from_config()
    if scope["type"] == "websocket":
        await serve_websocket(server, settings, scope, receive, send)
    else:
        await serve_polling(server, settings, scope, receive, send, _relay())


def _relay() -> Any:
    """The relay of the default channel layer (None without one): polls need no sticky
    sessions."""
    from django.conf import settings

    if not getattr(settings, "CHANNEL_LAYERS", None):
        return None
    from channels.layers import get_channel_layer

    from .conf import get_config
    from .engineio_relay import relay_for

    layer = get_channel_layer(get_config().channel_layer)
    return relay_for(layer) if layer is not None else None


def http_router(application: Any) -> Any:
    """
    The ``"http"`` application of asgi.py: Socket.IO's long-polling requests (at
    ``EASY_CHANNELS["SOCKETIO"]["PATH"]``) are served here, every other request by
    ``application`` (Django's)::

        application = ProtocolTypeRouter({
            "http": http_router(django_asgi_app),
            "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(websocket_router)),
        })
    """

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope.get("type") == "http" and socketio_path_of(scope) is not None:
            await _serve_polling_request(scope, receive, send)
        else:
            await application(scope, receive, send)

    return app


async def _serve_polling_request(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """
    A long-polling request, checked as the docs' websocket stack checks a handshake: a
    browser's ``Origin`` must be one of ALLOWED_HOSTS (a request without one, from a client
    that is not a browser, passes), and the session-opening request goes through Channels'
    ``AuthMiddlewareStack`` (when django.contrib.auth is installed), so the consumers of the
    session see ``scope["user"]``. Later polls skip it: they only carry packets.
    """
    from django.apps import apps

    from .security import allowed_http_origin

    if not allowed_http_origin(scope):
        await send({"type": "http.response.start", "status": 403, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    opening = b"sid=" not in scope.get("query_string", b"")
    if opening and apps.is_installed("django.contrib.auth") and "user" not in scope:
        from channels.auth import AuthMiddlewareStack

        stack: Any = AuthMiddlewareStack(cast(Any, serve_socketio))  # typed for ASGI 2 apps
        await stack(scope, receive, send)
    else:
        await serve_socketio(scope, receive, send)


def __getattr__(name: str) -> Any:
    if name == "websocket_urlpatterns":
        return get_urlpatterns()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _reset(*, setting: str, **kwargs: Any) -> None:
    if setting in ("EASY_CHANNELS", "INSTALLED_APPS"):
        websocket_router.invalidate()


setting_changed.connect(_reset)
