"""System checks: every id, compared as whole lists (as django-debug-toolbar's tests do)."""

from __future__ import annotations

import pytest
from django.core.checks import Error, Warning

from easy_channels import JSONWebSocket, register
from easy_channels.checks import check_consumers, check_settings
from easy_channels.conf import DEFAULTS
from easy_channels.security_checks import check_asgi_application

SOCKETS = {"elsewhere/": "tests.elsewhere.ElsewhereConsumer"}


def test_the_test_project_is_clean():
    assert check_settings() == [] and check_consumers() == [] and check_asgi_application() == []


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
        "is a helper, not a handler)."
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


@pytest.mark.parametrize("app", ["unguarded", "unguarded_own_router"])
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
    assert "'myproject.asgi.application'" in warning.hint


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
