"""System checks: every id, compared as whole lists (as django-debug-toolbar's tests do)."""

from __future__ import annotations

import pytest
from django.core.checks import Error, Warning

from easy_channels import JSONWebSocket, register
from easy_channels.checks import check_consumers, check_development_server, check_settings
from easy_channels.conf import DEFAULTS
from easy_channels.security_checks import check_asgi_application, check_asgi_routes

SOCKETS = {"elsewhere/": "tests.elsewhere.ElsewhereConsumer"}


def test_the_test_project_is_clean():
    assert check_settings() == [] and check_consumers() == [] and check_asgi_application() == []
    assert check_asgi_routes() == [] and check_development_server() == []


def test_e001_not_a_dict(settings):
    settings.EASY_CHANNELS = ["MIDDLEWARE"]
    assert check_settings() == [
        Error(
            "EASY_CHANNELS must be a dict, not list.",
            hint='Write EASY_CHANNELS = {"URL_PREFIX": "ws/", ...} in settings.py.',
            id="easy_channels.E001",
        )
    ]
    assert check_consumers() == []  # reported once, by check_settings


def test_w001_unknown_key(settings):
    settings.EASY_CHANNELS = {"MAX_MESAGE_SIZE": 10}
    assert check_settings() == [
        Warning(
            "EASY_CHANNELS has an unknown key 'MAX_MESAGE_SIZE'; it is ignored.",
            hint=f"Valid keys: {', '.join(sorted(DEFAULTS))}.",
            id="easy_channels.W001",
        )
    ]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("MIDDLEWARE", "a.B", "a list of dotted paths"),
        ("SOCKETS", {"x/": 1}, 'a dict of {"route/": "dotted.path.Consumer"}'),
        ("URL_PREFIX", "/ws/", "a string not starting with '/' (routes match the path without "
         "its leading slash)"),
        ("USER_GROUPS", "yes", "True or False"),
        ("AUTO_ACCEPT", 1, "True or False"),
        ("CHANNEL_LAYER", None, "an alias of CHANNEL_LAYERS"),
        ("MAX_MESSAGE_SIZE", 0, "a positive number of bytes"),
        ("MAX_JSON_DEPTH", "32", "a positive integer"),
        ("MAX_CONSECUTIVE_ERRORS", -1, "a positive integer"),
        ("MAX_PENDING_MESSAGES", 1.5, "a positive integer"),
        ("DISCONNECT_TIMEOUT", True, "a positive number of seconds"),
        ("LAYER_TIMEOUT", 0, "a positive number of seconds"),
        ("THROTTLE", "20/s", 'a dict like {"RATE": "20/s", ...}'),
    ],
)  # fmt: skip
def test_e002_bad_types(settings, key, value, expected):
    settings.EASY_CHANNELS = {key: value}
    assert check_settings() == [
        Error(
            f"EASY_CHANNELS[{key!r}] is {value!r}; it must be {expected}.",
            hint=f"Fix EASY_CHANNELS[{key!r}] in settings.py, or remove it to use the default "
            f"{DEFAULTS[key]!r}.",
            id="easy_channels.E002",
        )
    ]
    assert check_consumers() == []


def test_e003_middleware_that_does_not_import_or_is_not_middleware(settings):
    settings.EASY_CHANNELS = {
        "MIDDLEWARE": ["tests.nope.Gate", "tests.elsewhere.ElsewhereConsumer"]
    }
    hint = (
        "Each entry must be the dotted path of an easy_channels.SocketMiddleware subclass, "
        "like 'myapp.sockets.TokenMiddleware'."
    )
    assert check_settings() == [
        Error(
            "Could not import 'tests.nope.Gate' for EASY_CHANNELS['MIDDLEWARE']: No module named "
            "'tests.nope'.",
            hint=hint,
            id="easy_channels.E003",
        ),
        Error(
            "<class 'tests.elsewhere.ElsewhereConsumer'> in EASY_CHANNELS['MIDDLEWARE'] is not a "
            "subclass of easy_channels.SocketMiddleware.",
            hint=hint,
            id="easy_channels.E003",
        ),
    ]


def test_e004_unknown_channel_layer_alias(settings):
    settings.EASY_CHANNELS = {"CHANNEL_LAYER": "fast"}
    assert check_settings() == [
        Error(
            "EASY_CHANNELS['CHANNEL_LAYER'] is 'fast', which is not in CHANNEL_LAYERS.",
            hint="Use one of ['default'].",
            id="easy_channels.E004",
        )
    ]


def test_w002_no_channel_layers(settings):
    settings.CHANNEL_LAYERS = {}
    (warning,) = check_settings()
    assert warning.id == "easy_channels.W002"
    assert "groups, group_send(), send_to() and user groups won't work" in warning.msg


REDIS = "channels_redis.core.RedisChannelLayer"


@pytest.mark.parametrize(
    ("backend", "hosts", "warns"),
    [
        # easy_channels reads channels-redis 4 itself (blocking 2 s at a time), so a plain URL
        # with redis-py's 5 s default is fine, on one server or sharded.
        (REDIS, ["redis://127.0.0.1:6379/0"], None),
        (REDIS, [("127.0.0.1", 6379)], None),
        (REDIS, None, None),
        (REDIS, [{"address": "redis://h", "socket_timeout": 5}], None),
        (REDIS, ["redis://a/0", "redis://b/0"], None),
        ("channels_redis.pubsub.RedisPubSubChannelLayer", ["redis://h"], None),
        ("channels.layers.InMemoryChannelLayer", None, None),
    ],
)  # fmt: skip
def test_w007_redis_read_timeout_shorter_than_the_blocking_receive(settings, backend, hosts, warns):
    _assert_w007(settings, backend, hosts, warns)


def _assert_w007(settings, backend, hosts, warns):
    """check_settings() with these hosts gives W007 saying ``warns`` (None: no warning)."""
    config = {} if hosts is None else {"hosts": hosts}
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": backend, "CONFIG": config}}
    warnings = check_settings()
    if warns is None:
        assert warnings == []
        return
    (warning,) = warnings
    assert warning.id == "easy_channels.W007"
    assert warns in warning.msg and "waits up to 5 s for each message" in warning.msg
    assert '"socket_timeout": 15' in warning.hint
    assert warning.obj == "CHANNEL_LAYERS['default']"


@pytest.mark.parametrize(
    ("hosts", "warns"),
    [
        (["redis://127.0.0.1:6379/0"], "redis-py's default socket_timeout of 5 s"),
        ([("127.0.0.1", 6379)], "redis-py's default socket_timeout of 5 s"),
        (None, "redis-py's default socket_timeout of 5 s"),
        ([{"address": "redis://h", "socket_timeout": 5}], "its socket_timeout of 5 s"),
        (["redis://h/0?socket_timeout=2"], "its socket_timeout of 2 s"),
        ([{"address": "redis://a", "socket_timeout": 15}, "redis://b"], "default"),
        ([{"address": "redis://h", "socket_timeout": 15}], None),
        ([{"address": "redis://h", "socket_timeout": None}], None),
        (["redis://h/0?socket_timeout=15"], None),
    ],
)  # fmt: skip
def test_w007_where_channels_redis_receives_itself(settings, monkeypatch, hosts, warns):
    """A channels-redis whose storage easy_channels doesn't speak receives with its own code."""
    import channels_redis

    monkeypatch.setattr(channels_redis, "__version__", "5.0.0")
    _assert_w007(settings, REDIS, hosts, warns)


def test_w007_the_test_settings_follow_the_readme():
    """tests/conftest.py builds its Redis layers the way README.rst recommends."""
    from easy_channels.checks import _check_redis_timeouts
    from tests.conftest import redis_layer_config

    assert _check_redis_timeouts("default", redis_layer_config("x")) == []


@pytest.mark.parametrize(
    ("throttle", "message"),
    [
        ({"RATE": "fast"}, "EASY_CHANNELS['THROTTLE']['RATE']: invalid rate 'fast'; use "
         "'<count>/<period>' such as '20/s' or '100/m'"),
        ({"RATE": "0/s"}, "EASY_CHANNELS['THROTTLE']['RATE']: invalid rate '0/s'; use "
         "'<count>/<period>' such as '20/s' or '100/m'"),
        ({"BURST": "5"}, "EASY_CHANNELS['THROTTLE']['BURST'] must be an integer."),
    ],
)  # fmt: skip
def test_e005_throttle(settings, throttle, message):
    settings.EASY_CHANNELS = {"THROTTLE": throttle}
    (error,) = check_settings()
    assert (error.id, error.msg) == ("easy_channels.E005", message)


def test_e006_sockets_setting(settings):
    settings.EASY_CHANNELS = {"SOCKETS": {"x/": "tests.elsewhere.Missing"}}
    (error,) = check_consumers()
    assert error.id == "easy_channels.E006"
    assert error.msg.startswith("Could not import 'tests.elsewhere.Missing' for")
    settings.EASY_CHANNELS = {"SOCKETS": {"x/": "tests.utils.send"}}
    (error,) = check_consumers()
    assert error.id == "easy_channels.E006"
    assert "is not a subclass of easy_channels.JSONWebSocket" in error.msg


def test_e007_two_consumers_on_one_route(settings):
    settings.EASY_CHANNELS = {"SOCKETS": {"chat/<str:name>/": "tests.elsewhere.ElsewhereConsumer"}}
    assert check_consumers() == [
        Error(
            "Two consumers on the socket route 'chat/<str:name>/': "
            "tests.testapp.sockets.ChatConsumer (@register) and "
            "tests.elsewhere.ElsewhereConsumer (EASY_CHANNELS['SOCKETS']).",
            hint="Remove the route from EASY_CHANNELS['SOCKETS'] or change it.",
            id="easy_channels.E007",
        )
    ]


def test_consumers_served_only_on_a_namespace_are_checked(clean_registry):
    @register(namespace="/only")
    class OnlyHere(JSONWebSocket):
        middlewares = ["tests.nope.Gate"]

    assert [message.id for message in check_consumers()] == ["easy_channels.E008"]


def test_e008_and_w003_consumer_middleware_and_unreachable_handlers(clean_registry):
    @register("bad/")
    class Bad(JSONWebSocket):
        middlewares = ["tests.nope.Gate"]

        def on__private(self):
            pass

        def on_ünïcode(self):
            pass

        def on_fine(self):
            pass

    name = "tests.test_checks.test_e008_and_w003_consumer_middleware_and_unreachable_handlers" \
        ".<locals>.Bad"  # fmt: skip
    hint = (
        "Event names are 1-100 ASCII letters, digits or underscores, not starting with '_' and "
        "not a name JSONWebSocket uses itself. Rename the method (or prefix it with '_' if it "
        "is a helper, not a handler), or bind another name to it with @easy_channels.on('name')."
    )
    assert check_consumers() == [
        Error(
            f"Could not import 'tests.nope.Gate' for {name}.middlewares: No module named "
            "'tests.nope'.",
            hint="List SocketMiddleware subclasses (or their dotted paths).",
            obj=Bad,
            id="easy_channels.E008",
        ),
        Warning(
            f"{name}.on__private() can never be called: no event name reaches it.",
            hint=hint,
            obj=Bad,
            id="easy_channels.W003",
        ),
        Warning(
            f"{name}.on_ünïcode() can never be called: no event name reaches it.",
            hint=hint,
            obj=Bad,
            id="easy_channels.W003",
        ),
    ]


W004_HINT = (
    "Wrap it: AllowedHostsOriginValidator(AuthMiddlewareStack(websocket_router)), from "
    "easy_channels.security (it logs what it refuses) or channels.security.websocket."
)


@pytest.mark.parametrize("app", ["unguarded", "unguarded_own_router", "wrapped_unguarded"])
def test_w004_websocket_branch_without_origin_validator(settings, app):
    settings.ASGI_APPLICATION = f"tests.asgi_apps.{app}"
    assert check_asgi_application() == [
        Warning(
            "The websocket branch of ASGI_APPLICATION reaches easy_channels' router without an "
            "origin check: any web site can open sockets with your users' cookies (cross-site "
            "WebSocket hijacking).",
            hint=W004_HINT,
            obj=f"tests.asgi_apps.{app}",
            id="easy_channels.W004",
        )
    ]


@pytest.mark.parametrize("app", ["guarded", "guarded_logging"])
def test_w004_is_quiet_when_guarded(settings, app):
    settings.ASGI_APPLICATION = f"tests.asgi_apps.{app}"
    assert check_asgi_application() == []


def test_w005_asgi_application_that_does_not_import(settings):
    settings.ASGI_APPLICATION = "tests.nope.application"
    (warning,) = check_asgi_application()
    assert warning.id == "easy_channels.W005"
    assert "there is no module 'tests.nope'" in warning.msg
    assert "'mysite.asgi.application'" in warning.hint


def test_w005_tells_a_wrong_attribute_from_an_error_in_asgi_py(settings):
    settings.ASGI_APPLICATION = "tests.asgi_apps.nope"
    (warning,) = check_asgi_application()
    assert "has no attribute 'nope'" in warning.msg
    settings.ASGI_APPLICATION = "tests.asgi_broken.application"
    (warning,) = check_asgi_application()
    assert "RuntimeError('the project's own bug')" in warning.msg.replace('"', "'")
    assert "asgi_broken.py, line" in warning.msg and "your asgi.py" in warning.msg


def test_w004_runs_with_deploy_only_and_never_imports_the_app_otherwise(settings):
    """Importing asgi.py freezes its AllowedHostsOriginValidator's hosts (see checks.py)."""
    import sys

    from django.core.checks import run_checks

    settings.ASGI_APPLICATION = "tests.livetest_unimported.application"
    assert "tests.livetest_unimported" not in sys.modules
    plain = {m.id for m in run_checks()}
    assert "easy_channels.W005" not in plain  # not even tried
    deploy = {m.id for m in run_checks(include_deployment_checks=True)}
    assert "easy_channels.W005" in deploy
    settings.ASGI_APPLICATION = "tests.asgi_apps.unguarded"
    assert "easy_channels.W004" in {m.id for m in run_checks(include_deployment_checks=True)}
    assert "easy_channels.W004" not in {m.id for m in run_checks()}


def test_checks_run_through_manage_py_check(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.EASY_CHANNELS = {"MAX_MESSAGE_SIZE": -1}
    with pytest.raises(SystemCheckError, match=r"easy_channels\.E002"):
        call_command("check")


def test_installed_daphne_is_recent_enough():
    from easy_channels.security_checks import check_server_versions

    assert check_server_versions() == []


@pytest.mark.parametrize(
    ("installed", "warns"),
    [("4.2.1", True), ("3.0.2", True), ("4.1", True), ("4.2.2", False), ("4.10.0", False),
     ("5.0.0rc1", False), ("4.2.2.post1", False), ("4.2.1rc9", True)],
)  # fmt: skip
def test_old_daphne_is_a_security_warning(installed, warns):
    from easy_channels.security_checks import _daphne_warnings

    warnings = _daphne_warnings(installed)
    assert [w.id for w in warnings] == (["easy_channels.W006"] if warns else [])
    if warns:
        assert installed in warnings[0].msg and "daphne>=4.2.2" in warnings[0].hint


def _ids(*, deploy: bool) -> list[str]:
    """The ids of everything Django's check framework reports now."""
    from django.core.checks import run_checks

    return [m.id for m in run_checks(include_deployment_checks=deploy)]


def _w008(*, deploy: bool = True) -> list[Warning]:
    from django.core.checks import run_checks

    messages = run_checks(include_deployment_checks=deploy)
    return [m for m in messages if m.id == "easy_channels.W008"]


W008_HINT = (
    'Route websockets to easy_channels: "websocket": AllowedHostsOriginValidator('
    "AuthMiddlewareStack(websocket_router)), with websocket_router from easy_channels.routing, "
    "or include easy_channels.routing.websocket_urlpatterns in your own URLRouter. If an app of "
    "yours reaches them in a way this check cannot see (it follows inner, application and app "
    'attributes), add "easy_channels.W008" to SILENCED_SYSTEM_CHECKS.'
)
ALL_ROUTES = r"/ws/chat/<str:name>/, /ws/echo/(?P<n>\d+)/$, /ws/private/, /ws/elsewhere/"


@pytest.mark.parametrize("app", ["tests.asgi_apps.django_only", "tests.asgi_http_only.application"])
def test_w008_asgi_application_without_a_websocket_branch(settings, app):
    settings.ASGI_APPLICATION = app
    assert _w008() == [
        Warning(
            "ASGI_APPLICATION serves no socket route: it reaches neither easy_channels' router "
            f"nor any registered consumer. Unreachable: {ALL_ROUTES}.",
            hint=W008_HINT,
            obj=app,
            id="easy_channels.W008",
        )
    ]


@pytest.mark.parametrize(
    ("app", "unreachable"),
    [
        # Through an origin check, AuthMiddlewareStack and a nested URLRouter.
        ("own_router_partial", r"/ws/echo/(?P<n>\d+)/$, /ws/private/"),
        ("unguarded_own_router", r"/ws/chat/<str:name>/, /ws/echo/(?P<n>\d+)/$, /ws/private/"),
    ],
)
def test_w008_own_urlrouter_that_leaves_registered_routes_out(settings, app, unreachable):
    settings.ASGI_APPLICATION = f"tests.asgi_apps.{app}"
    assert _w008() == [
        Warning(
            "ASGI_APPLICATION serves only some socket routes: it reaches some registered "
            f"consumers but not easy_channels' router. Unreachable: {unreachable}.",
            hint=W008_HINT,
            obj=f"tests.asgi_apps.{app}",
            id="easy_channels.W008",
        )
    ]


def test_w008_names_routes_with_the_url_prefix(settings):
    settings.EASY_CHANNELS = {"URL_PREFIX": "sockets/", "SOCKETS": SOCKETS}
    settings.ASGI_APPLICATION = "tests.asgi_apps.django_only"
    (warning,) = _w008()
    assert warning.msg.endswith(
        r"Unreachable: /sockets/chat/<str:name>/, /sockets/echo/(?P<n>\d+)/$, /sockets/private/, "
        "/sockets/elsewhere/."
    )


@pytest.mark.parametrize(
    "app",
    ["guarded", "guarded_logging", "unguarded", "wrapped_guarded", "own_router_with_ours"],
)
def test_w008_is_quiet_when_asgi_application_reaches_the_routes(settings, app):
    settings.ASGI_APPLICATION = f"tests.asgi_apps.{app}"
    assert _w008() == []


def test_w008_is_quiet_without_routes_or_an_application_to_look_into(settings, clean_registry):
    settings.ASGI_APPLICATION = "tests.nope.application"
    ids = _ids(deploy=True)
    assert "easy_channels.W005" in ids and "easy_channels.W008" not in ids
    settings.ASGI_APPLICATION = "tests.asgi_broken.application"
    ids = _ids(deploy=True)
    assert "easy_channels.W005" in ids and "easy_channels.W008" not in ids
    del settings.ASGI_APPLICATION
    assert _w008() == []
    settings.ASGI_APPLICATION = "tests.asgi_apps.django_only"
    clean_registry._registry = {}
    settings.EASY_CHANNELS = {}
    assert _w008() == []  # no routes: nothing to serve


def test_w008_runs_with_deploy_only_and_never_imports_the_app_otherwise(settings, monkeypatch):
    """Like W004 (see security_checks.py): manage.py test must not import asgi.py."""
    import sys

    monkeypatch.delitem(sys.modules, "tests.asgi_http_only", raising=False)
    settings.ASGI_APPLICATION = "tests.asgi_http_only.application"
    assert _w008(deploy=False) == []
    assert "tests.asgi_http_only" not in sys.modules
    assert len(_w008(deploy=True)) == 1
    assert "tests.asgi_http_only" in sys.modules


W009 = Warning(
    'DEBUG is on and consumers are registered, but "daphne" is not in INSTALLED_APPS: manage.py '
    "runserver is then Django's WSGI server, which serves no WebSockets (every socket's "
    "handshake gets a 404).",
    hint='Put "daphne" first in INSTALLED_APPS (pip install "django-easy-channels[daphne]"), or, '
    'if you serve with uvicorn in development, add "easy_channels.W009" to '
    "SILENCED_SYSTEM_CHECKS.",
    id="easy_channels.W009",
)


def test_w009_development_server_without_daphne(settings):
    from django.core.checks import run_checks

    settings.DEBUG = True
    assert [m for m in run_checks() if m.id == "easy_channels.W009"] == [W009]


def test_w009_is_quiet_without_debug_or_consumers(settings, clean_registry):
    assert "easy_channels.W009" not in _ids(deploy=False)  # the test settings: DEBUG = False
    settings.DEBUG = True
    clean_registry._registry = {}
    settings.EASY_CHANNELS = {}
    assert "easy_channels.W009" not in _ids(deploy=False)


def test_w009_through_manage_py_check_and_silenced(settings):
    from io import StringIO

    from django.core.management import call_command

    settings.DEBUG = True
    out = StringIO()
    call_command("check", stdout=out, stderr=out)
    assert "(easy_channels.W009) DEBUG is on and consumers are registered" in out.getvalue()
    settings.SILENCED_SYSTEM_CHECKS = ["easy_channels.W009"]
    out = StringIO()
    call_command("check", stdout=out, stderr=out)
    assert "W009" not in out.getvalue() and "(1 silenced)" in out.getvalue()


def _manage_py_check(*args: str, settings_module: str) -> str:
    """``manage.py check`` in a process of its own (daphne's app must not load into this one)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings_module}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout + result.stderr


def test_the_example_project_is_clean_in_development_and_deployment():
    """daphne first in INSTALLED_APPS and DEBUG on (make demo): no W009; asgi.py reaches W008's
    routes through the origin check: nothing from easy_channels with --deploy either."""
    out = _manage_py_check(settings_module="example_project.settings")
    assert "System check identified no issues" in out, out
    out = _manage_py_check("--deploy", settings_module="example_project.settings")
    assert "security.W" in out and "easy_channels." not in out, out


def test_w009_leaves_daphne_after_staticfiles_to_daphne():
    """daphne's own check is an error that stops runserver: W009 would only repeat it."""
    out = _manage_py_check(settings_module="tests.settings_daphne_last")
    assert "(daphne.E001) Daphne must be listed before django.contrib.staticfiles" in out, out
    assert "easy_channels.W009" not in out, out
