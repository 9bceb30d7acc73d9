"""
System checks (``manage.py check``): misconfiguration is reported at startup with the fix,
instead of surfacing as a refused socket in production.

Ids: ``easy_channels.E0xx`` errors, ``easy_channels.W0xx`` warnings. The security checks
(the ASGI application's origin check, server versions) and W008 (ASGI_APPLICATION serves the
routes) are in :mod:`easy_channels.security_checks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from . import redis_direct
from .conf import DEFAULTS, get_config
from .handlers import tables_for

if TYPE_CHECKING:
    from .registry import Route

__all__ = [
    "check_consumers",
    "check_development_server",
    "check_settings",
    "error",
    "registered_routes",
    "warning",
]

_SETTING = "EASY_CHANNELS"


def error(id_: int, msg: str, hint: str, obj: Any = None) -> Error:
    """``easy_channels.E<id_>``, with the fix in ``hint``."""
    return Error(msg, hint=hint, obj=obj, id=f"easy_channels.E{id_:03d}")


def warning(id_: int, msg: str, hint: str, obj: Any = None) -> Warning:
    """``easy_channels.W<id_>``, with the fix in ``hint``."""
    return Warning(msg, hint=hint, obj=obj, id=f"easy_channels.W{id_:03d}")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _str_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def _str_dict(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


#: key -> (test, what it must be)
_TYPES = {
    "MIDDLEWARE": (_str_list, "a list of dotted paths"),
    "SOCKETS": (_str_dict, 'a dict of {"route/": "dotted.path.Consumer"}'),
    "URL_PREFIX": (lambda v: isinstance(v, str) and not v.startswith("/"), "a string not "
                   "starting with '/' (routes match the path without its leading slash)"),
    "USER_GROUPS": (lambda v: isinstance(v, bool), "True or False"),
    "AUTO_ACCEPT": (lambda v: isinstance(v, bool), "True or False"),
    "CHANNEL_LAYER": (lambda v: isinstance(v, str), "an alias of CHANNEL_LAYERS"),
    "MAX_MESSAGE_SIZE": (_positive_int, "a positive number of bytes"),
    "MAX_JSON_DEPTH": (_positive_int, "a positive integer"),
    "MAX_CONSECUTIVE_ERRORS": (_positive_int, "a positive integer"),
    "MAX_PENDING_MESSAGES": (_positive_int, "a positive integer"),
    "MAX_PENDING_BYTES": (_positive_int, "a positive integer"),
    "DISCONNECT_TIMEOUT": (_positive_number, "a positive number of seconds"),
    "LAYER_TIMEOUT": (_positive_number, "a positive number of seconds"),
    "THROTTLE": (lambda v: isinstance(v, dict), 'a dict like {"RATE": "20/s", ...}'),
    "RECOVERY": (lambda v: isinstance(v, dict), 'a dict like {"WINDOW": 120, "HISTORY": 500}'),
    "PRESENCE": (lambda v: isinstance(v, dict), 'a dict like {"INTERVAL": 0.1, "TIMEOUT": 30}'),
}  # fmt: skip


def _bad_types(user: dict[str, Any]) -> list[str]:
    """Keys of the user's EASY_CHANNELS dict whose value has the wrong type, in _TYPES order."""
    return [key for key, (test, _) in _TYPES.items() if key in user and not test(user[key])]


def _settings_reported() -> bool:
    """EASY_CHANNELS is no dict or has a value of the wrong type: check_settings reports it."""
    user = getattr(settings, _SETTING, None)
    return user is not None and (not isinstance(user, dict) or bool(_bad_types(user)))


@register(Tags.compatibility)
def check_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[Any]:
    """E001-E004, W001: the EASY_CHANNELS dict itself."""
    user = getattr(settings, _SETTING, None)
    if user is None:
        return []
    if not isinstance(user, dict):
        return [
            error(
                1,
                f"{_SETTING} must be a dict, not {type(user).__name__}.",
                f'Write {_SETTING} = {{"URL_PREFIX": "ws/", ...}} in settings.py.',
            )
        ]
    messages: list[Any] = []
    for key in sorted(set(user) - set(DEFAULTS)):
        messages.append(
            warning(
                1,
                f"{_SETTING} has an unknown key {key!r}; it is ignored.",
                f"Valid keys: {', '.join(sorted(DEFAULTS))}.",
            )
        )
    bad_types = _bad_types(user)
    for key in bad_types:
        expected = _TYPES[key][1]
        messages.append(
            error(
                2,
                f"{_SETTING}[{key!r}] is {user[key]!r}; it must be {expected}.",
                f"Fix {_SETTING}[{key!r}] in settings.py, or remove it to use the "
                f"default {DEFAULTS[key]!r}.",
            )
        )
    if bad_types:
        return messages
    messages += _check_middleware_setting()
    messages += _check_channel_layer()
    messages += _check_throttle(get_config().throttle)
    return messages


def _check_middleware_setting() -> list[Any]:
    from .middleware import load_middleware

    messages = []
    for path in get_config().middleware:
        try:
            load_middleware(path, f"{_SETTING}['MIDDLEWARE']")
        except ImproperlyConfigured as exc:
            messages.append(
                error(
                    3,
                    str(exc),
                    "Each entry must be the dotted path of an easy_channels.SocketMiddleware "
                    "subclass, like 'myapp.sockets.TokenMiddleware'.",
                )
            )
    return messages


def _check_channel_layer() -> list[Any]:
    alias = get_config().channel_layer
    layers = getattr(settings, "CHANNEL_LAYERS", None)
    if not layers:
        return [
            warning(
                2,
                "CHANNEL_LAYERS is not configured: groups, group_send(), send_to() and "
                "user groups won't work.",
                'Add CHANNEL_LAYERS = {"default": {"BACKEND": '
                '"channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": '
                '["redis://127.0.0.1:6379"]}}} (or channels.layers.InMemoryChannelLayer in '
                "development).",
            )
        ]
    if alias not in layers:
        return [
            error(
                4,
                f"{_SETTING}['CHANNEL_LAYER'] is {alias!r}, which is not in CHANNEL_LAYERS.",
                f"Use one of {sorted(layers)}.",
            )
        ]
    return [w for name, layer in layers.items() for w in _check_redis_timeouts(name, layer)]


#: channels-redis (4.x) blocks each receive in BZPOPMIN for this many seconds.
_BZPOPMIN_SECONDS = 5


def _redis_default_socket_timeout() -> float | None:
    try:
        from redis._defaults import DEFAULT_SOCKET_TIMEOUT  # redis-py 8+
    except ImportError:
        return None  # older redis-py: no read timeout unless configured
    return DEFAULT_SOCKET_TIMEOUT


def _host_socket_timeout(host: Any) -> tuple[bool, float | None]:
    """``(set, value)`` of a channels-redis host entry's socket_timeout (dict or URL query)."""
    from urllib.parse import parse_qs, urlsplit

    if isinstance(host, dict):
        if "socket_timeout" in host:
            return True, host["socket_timeout"]
        host = host.get("address", "")
    if isinstance(host, str):
        values = parse_qs(urlsplit(host).query).get("socket_timeout")
        if values:
            try:
                return True, float(values[0])
            except ValueError:
                return False, None
    return False, None


def _check_redis_timeouts(alias: str, layer: Any) -> list[Any]:
    """
    W007: a redis read timeout that the blocking receive of channels-redis runs into.

    Only where channels-redis' own receive still runs: a channels-redis version whose storage
    redis_direct doesn't speak (a subclass changing send or receive is not checked here).
    """
    if (
        not isinstance(layer, dict)
        or layer.get("BACKEND") != "channels_redis.core.RedisChannelLayer"
    ):
        return []
    hosts = (layer.get("CONFIG") or {}).get("hosts") or ["redis://localhost:6379"]
    if isinstance(hosts, (str, bytes)):
        return []  # channels-redis itself refuses this, with a clear message
    if redis_direct.supports_version():
        # easy_channels reads this layer itself, each read blocking well under redis-py's
        # default timeout (redis_direct.POP_BLOCK_SECONDS): a plain URL loses nothing.
        return []
    default = _redis_default_socket_timeout()
    for host in hosts:
        is_set, value = _host_socket_timeout(host)
        timeout = value if is_set else default
        if timeout is not None and timeout <= _BZPOPMIN_SECONDS:
            where = "redis-py's default" if not is_set else "its"
            return [
                warning(
                    7,
                    f"CHANNEL_LAYERS[{alias!r}] uses {where} socket_timeout of {timeout:g} s, "
                    f"but channels-redis waits up to {_BZPOPMIN_SECONDS} s for each message: "
                    "idle sockets hit read timeouts, disconnects get slow, and a message "
                    "handed out as the read times out is lost.",
                    'Give each host a longer read timeout: "hosts": [{"address": '
                    '"redis://127.0.0.1:6379/0", "socket_timeout": 15, '
                    '"socket_connect_timeout": 2}].',
                    f"CHANNEL_LAYERS[{alias!r}]",
                )
            ]
    return []


def _check_throttle(throttle: dict[str, Any]) -> list[Any]:
    from .middleware import parse_rate

    messages = []
    try:
        parse_rate(throttle.get("RATE", DEFAULTS["THROTTLE"]["RATE"]))
    except ValueError as exc:
        messages.append(
            error(5, f"{_SETTING}['THROTTLE']['RATE']: {exc}", 'Use "20/s", "100/m" or "1000/h".')
        )
    for key in ("BURST", "CLOSE_AFTER"):
        if key in throttle and not (
            isinstance(throttle[key], int) and not isinstance(throttle[key], bool)
        ):
            messages.append(
                error(
                    5,
                    f"{_SETTING}['THROTTLE'][{key!r}] must be an integer.",
                    f"Set it to a whole number, like {DEFAULTS['THROTTLE'][key]}.",
                )
            )
    return messages


@register(Tags.urls)
def check_consumers(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[Any]:
    """E006-E008, W003: routes, consumer classes, their middleware and handler names."""
    from .middleware import load_middleware
    from .registry import RouteConflict, registry

    if _settings_reported():
        return []
    try:
        routes = registry.routes()
    except RouteConflict as exc:
        return [error(7, str(exc), "Remove the route from EASY_CHANNELS['SOCKETS'] or change it.")]
    except ImproperlyConfigured as exc:
        return [
            error(
                6,
                str(exc),
                'EASY_CHANNELS["SOCKETS"] maps routes to dotted paths of JSONWebSocket '
                'subclasses, like {"chat/<str:room>/": "chat.consumers.ChatConsumer"}.',
            )
        ]
    messages: list[Any] = []
    # consumers served only on a Socket.IO namespace are checked too
    for cls in dict.fromkeys([route.consumer for route in routes] + namespace_consumers()):
        name = f"{cls.__module__}.{cls.__qualname__}"
        for entry in cls.middlewares:
            try:
                load_middleware(entry, f"{name}.middlewares")
            except ImproperlyConfigured as exc:
                messages.append(
                    error(
                        8,
                        str(exc),
                        "List SocketMiddleware subclasses (or their dotted paths).",
                        cls,
                    )
                )
        for attr in tables_for(cls).unreachable:
            messages.append(
                warning(
                    3,
                    f"{name}.{attr}() can never be called: no event name reaches it.",
                    "Event names are 1-100 ASCII letters, digits or underscores, not starting "
                    "with '_' and not a name JSONWebSocket uses itself. Rename the method (or "
                    "prefix it with '_' if it is a helper, not a handler), or bind another "
                    "name to it with @easy_channels.on('name').",
                    cls,
                )
            )
    return messages


def registered_routes() -> list[Route]:
    """Every route, or none when check_settings or check_consumers reports an error instead."""
    from .registry import registry

    if _settings_reported():
        return []
    try:
        return registry.routes()
    except ImproperlyConfigured:  # E006/E007
        return []


def namespace_consumers() -> list[Any]:
    """The consumers of the Socket.IO namespaces (none when E013 reports them instead)."""
    from .registry import registry

    try:
        return list(registry.namespaces().values())
    except ImproperlyConfigured:
        return []


@register(Tags.compatibility)
def check_development_server(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[Any]:
    """
    W009: DEBUG is on and consumers are registered, but daphne is not an installed app.

    Then ``manage.py runserver`` is Django's WSGI server, which answers every handshake with a 404.
    daphne listed after django.contrib.staticfiles is daphne's own error (daphne.E001, which stops
    runserver), not repeated here. Reads settings and the app registry only: no asgi.py import.
    """
    from django.apps import apps

    if not settings.DEBUG or apps.is_installed("daphne") or not registered_routes():
        return []
    return [
        warning(
            9,
            'DEBUG is on and consumers are registered, but "daphne" is not in INSTALLED_APPS: '
            "manage.py runserver is then Django's WSGI server, which serves no WebSockets "
            "(every socket's handshake gets a 404).",
            'Put "daphne" first in INSTALLED_APPS (pip install "django-easy-channels[daphne]"), '
            'or, if you serve with uvicorn in development, add "easy_channels.W009" to '
            "SILENCED_SYSTEM_CHECKS.",
        )
    ]
