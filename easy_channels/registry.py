"""
The socket registry: which consumer serves which route.

Apps register consumers in their ``sockets.py`` with :func:`register`; ``EASY_CHANNELS["SOCKETS"]``
adds consumers that live elsewhere. :class:`~easy_channels.apps.EasyChannelsConfig` imports every
app's ``sockets`` module at startup, as the admin does with ``admin.py``. Like the admin's site,
the registry keeps its data in ``_registry`` so ``autodiscover_modules`` can roll back what a
failing ``sockets.py`` registered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django.core.exceptions import ImproperlyConfigured
from django.urls import path as django_path
from django.urls import re_path
from django.utils.module_loading import autodiscover_modules, import_string

if TYPE_CHECKING:
    from django.urls import URLPattern

    from .consumers import JSONWebSocket

__all__ = [
    "Namespace",
    "Route",
    "RouteConflict",
    "SocketRegistry",
    "autodiscover",
    "register",
    "registry",
]

C = TypeVar("C", bound=type)

SOCKETS_SETTING = "EASY_CHANNELS['SOCKETS']"


class RouteConflict(ImproperlyConfigured):
    """Two consumers claim one route."""


@dataclass(frozen=True)
class Route:
    """One route: a Django ``path()`` route or a regex, the consumer class, an optional name."""

    route: str
    is_regex: bool
    consumer: type[JSONWebSocket]
    name: str | None = None
    #: Where it was declared: "@register" or EASY_CHANNELS['SOCKETS'].
    source: str = "@register"

    @property
    def key(self) -> tuple[bool, str]:
        return (self.is_regex, self.route)

    def full_route(self, prefix: str) -> str:
        """The route with URL_PREFIX applied (after a regex's ``^``)."""
        if not self.is_regex:
            return prefix + self.route
        body = self.route[1:] if self.route.startswith("^") else self.route
        return "^" + re.escape(prefix) + body

    def shown(self, prefix: str) -> str:
        """The route as a path (``/ws/chat/<str:room>/``), for logs, checks and commands."""
        return "/" + self.full_route(prefix).lstrip("^/")

    def url_pattern(self, prefix: str) -> URLPattern:
        make = re_path if self.is_regex else django_path
        # django-stubs types path() for views; Channels' URLRouter takes ASGI apps in them.
        app = cast(Any, self.consumer.as_asgi())
        pattern: URLPattern = make(self.full_route(prefix), app, name=self.name)
        return pattern

    def __str__(self) -> str:
        return f"{'regex ' if self.is_regex else ''}{self.route!r}"


@dataclass(frozen=True)
class Namespace:
    """A Socket.IO namespace (``"/"``, ``"/chat"``) and the consumer that serves it."""

    namespace: str
    consumer: type[JSONWebSocket]
    source: str = "@register"

    @property
    def key(self) -> tuple[bool, str]:
        # A namespace starts with "/", which no route does (checked): one dict holds both,
        # so autodiscover_modules() rolls back a failing sockets.py's namespaces too.
        return (False, self.namespace)

    def __str__(self) -> str:
        return f"namespace {self.namespace!r}"


def check_namespace(namespace: Any, where: str) -> str:
    if not isinstance(namespace, str) or not NAMESPACE_RE.fullmatch(namespace):
        raise ImproperlyConfigured(
            f"{where}: a Socket.IO namespace is '/' or '/' followed by letters, digits and "
            f"-_./ (like '/chat'), not {namespace!r}."
        )
    return namespace


NAMESPACE_RE = re.compile(r"/[A-Za-z0-9_\-./]{0,99}")


class SocketRegistry:
    """Routes registered with :func:`register`, keyed by route (see the module docstring)."""

    def __init__(self) -> None:
        self._routes: dict[tuple[bool, str], Route | Namespace] = {}
        #: Bumped on every change, so the router knows when to rebuild without comparing routes.
        self.version = 0

    @property
    def _registry(self) -> dict[tuple[bool, str], Route | Namespace]:
        # autodiscover_modules() copies and, when a sockets.py fails, reassigns this attribute.
        return self._routes

    @_registry.setter
    def _registry(self, routes: dict[tuple[bool, str], Route | Namespace]) -> None:
        self._routes = routes
        self.version += 1

    def register(
        self,
        consumer: type[JSONWebSocket],
        route: str | None = None,
        *,
        regex: str | None = None,
        name: str | None = None,
        namespace: str | None = None,
    ) -> None:
        from .consumers import JSONWebSocket

        if (route is not None and regex is not None) or (
            route is None and regex is None and namespace is None
        ):
            raise ImproperlyConfigured(
                f"register() for {consumer.__qualname__} needs one of a path() route "
                "('chat/<str:name>/') or regex= ('^chat/(?P<name>\\w+)/$'), and/or a "
                "Socket.IO namespace= ('/chat')."
            )
        if not (isinstance(consumer, type) and issubclass(consumer, JSONWebSocket)):
            raise ImproperlyConfigured(
                f"@register can only register JSONWebSocket subclasses, not {consumer!r}."
            )
        if namespace is not None:
            self._add(Namespace(check_namespace(namespace, f"@register({namespace!r})"), consumer))
        if route is None and regex is None:
            return
        if route is not None and route.startswith("/"):
            raise ImproperlyConfigured(
                f"The route {route!r} of {consumer.__qualname__} starts with '/': routes are "
                "relative to URL_PREFIX ('chat/<str:room>/'); a Socket.IO namespace is "
                "namespace='/chat'."
            )
        pattern = regex if regex is not None else route
        assert pattern is not None  # exactly one of them was checked above
        self._add(Route(pattern, regex is not None, consumer, name))

    def _add(self, entry: Route | Namespace) -> None:
        current = self._routes.get(entry.key)
        if current is not None and _qualname(current.consumer) != _qualname(entry.consumer):
            raise RouteConflict(
                f"Two consumers on the socket route {entry}: {_qualname(current.consumer)} "
                f"and {_qualname(entry.consumer)}. Give one of them another route."
            )
        if current != entry:  # a re-imported module re-registers its class: no change
            self._routes[entry.key] = entry
            self.version += 1

    def registered(self) -> list[Route]:
        """Routes registered with @register, in registration order."""
        return [entry for entry in self._routes.values() if isinstance(entry, Route)]

    def namespaces(self) -> dict[str, type[JSONWebSocket]]:
        """Socket.IO namespaces: @register(namespace=...), then EASY_CHANNELS['SOCKETS']."""
        from .conf import get_config

        served = {
            entry.namespace: entry.consumer
            for entry in self._routes.values()
            if isinstance(entry, Namespace)
        }
        for key, dotted in get_config().sockets.items():
            if isinstance(key, str) and key.startswith("/"):
                consumer = load_consumer(dotted)
                other = served.setdefault(check_namespace(key, SOCKETS_SETTING), consumer)
                if other is not consumer:
                    raise RouteConflict(
                        f"Two consumers on the Socket.IO namespace {key!r}: {_qualname(other)} "
                        f"(@register) and {_qualname(consumer)} ({SOCKETS_SETTING})."
                    )
        return served

    def routes(self) -> list[Route]:
        """Every route: @register ones, then EASY_CHANNELS['SOCKETS']. Raises on conflicts."""
        from .conf import get_config

        routes = self.registered()
        seen = {r.key: r for r in routes}
        for route, dotted in get_config().sockets.items():
            if isinstance(route, str) and route.startswith("/"):
                continue  # a Socket.IO namespace (see namespaces())
            entry = Route(route, False, load_consumer(dotted), source=SOCKETS_SETTING)
            other = seen.get(entry.key)
            if other is not None and other.consumer is not entry.consumer:
                raise RouteConflict(
                    f"Two consumers on the socket route {entry}: {_qualname(other.consumer)} "
                    f"({other.source}) and {_qualname(entry.consumer)} ({entry.source})."
                )
            if other is None:
                seen[entry.key] = entry
                routes.append(entry)
        return routes


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def load_consumer(dotted: Any) -> type[JSONWebSocket]:
    """Import a consumer class named in EASY_CHANNELS['SOCKETS']."""
    from .consumers import JSONWebSocket

    if not isinstance(dotted, str):
        raise ImproperlyConfigured(
            f"{SOCKETS_SETTING} values must be dotted paths of consumer classes, not {dotted!r}."
        )
    try:
        cls = import_string(dotted)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"Could not import {dotted!r} for {SOCKETS_SETTING}: {exc}."
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, JSONWebSocket)):
        raise ImproperlyConfigured(
            f"{dotted!r} in {SOCKETS_SETTING} is not a subclass of easy_channels.JSONWebSocket."
        )
    return cls


#: The registry every app's sockets.py registers into.
registry = SocketRegistry()


def register(
    route: str | None = None,
    *,
    regex: str | None = None,
    name: str | None = None,
    namespace: str | None = None,
) -> Callable[[C], C]:
    """
    Class decorator: serve this consumer at ``route`` (Django ``path()`` syntax) or ``regex``,
    and/or to Socket.IO clients on ``namespace``.

    ::

        @register("chat/<str:room>/", namespace="/chat")
        class ChatConsumer(JSONWebSocket): ...

    The route gets ``EASY_CHANNELS["URL_PREFIX"]`` ("ws/") in front. Returns the class unchanged.
    """

    def decorator(consumer: C) -> C:
        registry.register(consumer, route, regex=regex, name=name, namespace=namespace)
        return consumer

    return decorator


def autodiscover() -> None:
    """Import every installed app's ``sockets`` module (rolled back if one raises)."""
    autodiscover_modules("sockets", register_to=registry)
