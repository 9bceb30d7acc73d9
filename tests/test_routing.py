"""sockets.py autodiscovery, @register, EASY_CHANNELS['SOCKETS'], the generated router."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.urls import re_path

from easy_channels import JSONWebSocket, register
from easy_channels.registry import RouteConflict, SocketRegistry, registry
from easy_channels.routing import websocket_router
from tests.utils import communicator, receive, request, send

ROOT = Path(__file__).resolve().parent.parent


def test_autodiscovery_found_both_apps_and_the_setting():
    routes = {(r.route, r.consumer.__qualname__, r.source) for r in registry.routes()}
    assert routes == {
        ("chat/<str:name>/", "ChatConsumer", "@register"),
        (r"^echo/(?P<n>\d+)/$", "EchoConsumer", "@register"),
        ("private/", "PrivateConsumer", "@register"),
        ("elsewhere/", "ElsewhereConsumer", "EASY_CHANNELS['SOCKETS']"),
    }


def test_websocket_urlpatterns_apply_the_prefix():
    from easy_channels.routing import websocket_urlpatterns

    assert [str(p.pattern) for p in websocket_urlpatterns] == [
        "ws/chat/<str:name>/",
        r"^ws/echo/(?P<n>\d+)/$",
        "ws/private/",
        "ws/elsewhere/",
    ]
    assert websocket_urlpatterns[0].name == "chat"


def test_the_router_and_as_asgi_apps_are_asgi3_applications_to_servers():
    """
    Both return their inner coroutine instead of awaiting it (a frame less per open socket),
    so they carry the coroutine-function mark: uvicorn would otherwise serve them as ASGI 2
    and Channels' test tools and daphne (asgiref) as double-callables.
    """
    from asgiref.compatibility import is_double_callable
    from uvicorn._compat import iscoroutinefunction

    class Plain(JSONWebSocket):
        pass

    for app in (websocket_router, Plain.as_asgi()):
        assert not is_double_callable(app)
        call = app if inspect.isfunction(app) else type(app).__call__
        assert iscoroutinefunction(call)


async def test_router_serves_registered_routes(channel_layer):
    ana = communicator(websocket_router, "/ws/chat/ana/")
    bob = communicator(websocket_router, "/ws/chat/bob/")
    assert (await ana.connect())[0] and (await bob.connect())[0]
    await send(ana, "broadcast_message", message="hi")
    assert await receive(bob) == {"event": "message", "message": "hi", "from": "ana"}
    await ana.disconnect()
    await bob.disconnect()

    echo = communicator(websocket_router, "/ws/echo/42/")
    assert (await echo.connect())[0]
    assert (await request(echo, "echo", x=1))["data"] == {"x": 1, "n": "42"}
    await echo.disconnect()

    elsewhere = communicator(websocket_router, "/ws/elsewhere/")
    assert (await elsewhere.connect())[0]
    assert (await request(elsewhere, "ping"))["data"] == "pong"
    await elsewhere.disconnect()


async def assert_no_route(path: str) -> None:
    """A handshake to ``path`` is accepted, told why in a connect_error, then closed with 4404."""
    comm = communicator(websocket_router, path)
    # Accepted, so that a browser sees the close code (a refused handshake is a bare 1006).
    assert await comm.connect() == (True, None)
    assert await comm.receive_output(1) == {
        "type": "websocket.send",
        "text": '{"event":"connect_error","code":4404,"message":"No route for this path."}',
    }
    assert await comm.receive_output(1) == {
        "type": "websocket.close",
        "code": 4404,
        "reason": "No route for this path.",
    }
    assert await comm.receive_nothing()
    await comm.wait(1)  # the app has returned


async def test_unknown_path_is_accepted_and_closed_with_4404(caplog):
    await assert_no_route("/ws/nope/")
    assert "no socket route for path '/ws/nope/'" in caplog.text
    assert not [r for r in caplog.records if r.exc_info]


async def test_unknown_path_of_another_scope_type_is_only_logged(caplog):
    sent = []

    async def receive():
        raise AssertionError("nothing is read from an HTTP request to an unknown path")

    async def send(message):
        sent.append(message)

    await websocket_router({"type": "http", "path": "/ws/nope-http/"}, receive, send)
    assert sent == []
    assert "no socket route for path '/ws/nope-http/'" in caplog.text


@pytest.mark.parametrize(
    ("path", "meant"),
    [("/ws/echo/42", "/ws/echo/42/"), ("/echo/42/", "/ws/echo/42/"), ("/echo/42", "/ws/echo/42/")],
)
async def test_an_unknown_path_names_the_routes_and_a_near_miss(caplog, path, meant):
    from easy_channels import routing

    routing._unknown_paths.clear()
    for _ in range(2):  # warned once a minute per path
        await assert_no_route(path)
    lines = [r.getMessage() for r in caplog.records if "no socket route" in r.getMessage()]
    assert len(lines) == 1, lines
    assert f"no socket route for path {path!r} (did you mean {meant!r}?)." in lines[0]
    assert "Served (URL_PREFIX 'ws/'): /ws/chat/<str:name>/, /ws/echo/(?P<n>" in lines[0]


async def test_url_prefix_setting(settings):
    settings.EASY_CHANNELS = {**settings.EASY_CHANNELS, "URL_PREFIX": "sockets/v1/"}
    comm = communicator(websocket_router, "/sockets/v1/echo/7/")
    assert (await comm.connect())[0]
    assert (await request(comm, "echo"))["data"] == {"n": "7"}
    await comm.disconnect()
    await assert_no_route("/ws/echo/7/")


async def test_registering_later_rebuilds_the_router(clean_registry):
    await assert_no_route("/ws/late/")  # the router is built now

    @register("late/")
    class Late(JSONWebSocket):
        def on_ping(self):
            return "late pong"

    comm = communicator(websocket_router, "/ws/late/")
    assert (await comm.connect())[0]
    assert (await request(comm, "ping"))["data"] == "late pong"
    await comm.disconnect()


def test_register_returns_the_class_and_refuses_duplicates(clean_registry):
    class A(JSONWebSocket):
        pass

    class B(JSONWebSocket):
        pass

    assert register("dup/")(A) is A
    register("dup/")(A)  # the same class again (a re-imported module) is fine
    with pytest.raises(
        ImproperlyConfigured, match=r"Two consumers on the socket route 'dup/'.*A.*B"
    ):
        register("dup/")(B)
    register(regex="^dup/$")(B)  # a regex is a different route


def test_register_arguments_are_checked():
    fresh = SocketRegistry()

    class A(JSONWebSocket):
        pass

    with pytest.raises(ImproperlyConfigured, match="needs one of"):
        fresh.register(A)
    with pytest.raises(ImproperlyConfigured, match="needs one of"):
        fresh.register(A, "a/", regex="^a/$")
    with pytest.raises(ImproperlyConfigured, match="only register JSONWebSocket subclasses"):
        fresh.register(object, "a/")
    with pytest.raises(ImproperlyConfigured, match=r"starts with '/'.*namespace='/chat'"):
        fresh.register(A, "/a/")
    with pytest.raises(ImproperlyConfigured, match=r"a Socket\.IO namespace is '/'"):
        fresh.register(A, namespace="chat")


def test_namespaces_are_registered_beside_routes(settings):
    fresh = SocketRegistry()

    class A(JSONWebSocket):
        pass

    class B(JSONWebSocket):
        pass

    fresh.register(A, "a/", namespace="/a")
    fresh.register(B, namespace="/")
    assert [route.route for route in fresh.registered()] == ["a/"]
    assert fresh.namespaces() == {"/a": A, "/": B}
    with pytest.raises(RouteConflict, match="namespace '/a'"):
        fresh.register(B, namespace="/a")


def test_sockets_setting_errors(settings):
    settings.EASY_CHANNELS = {"SOCKETS": {"x/": "tests.elsewhere.Nope"}}
    with pytest.raises(ImproperlyConfigured, match=r"Could not import 'tests.elsewhere.Nope'"):
        registry.routes()
    settings.EASY_CHANNELS = {"SOCKETS": {"x/": "tests.utils.communicator"}}
    with pytest.raises(
        ImproperlyConfigured, match=r"not a subclass of easy_channels\.JSONWebSocket"
    ):
        registry.routes()
    settings.EASY_CHANNELS = {"SOCKETS": {"chat/<str:name>/": "tests.elsewhere.ElsewhereConsumer"}}
    with pytest.raises(ImproperlyConfigured, match="Two consumers on the socket route"):
        registry.routes()


def test_a_broken_sockets_module_fails_startup_and_rolls_back_its_registrations():
    script = (
        "import django\n"
        "try:\n"
        "    django.setup()\n"
        "except RuntimeError as exc:\n"
        "    print('raised:', exc)\n"
        "from easy_channels.registry import registry\n"
        "print(sorted(r.route for r in registry.registered()))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings_broken", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = out.stdout.splitlines()
    assert lines[0] == "raised: broken sockets.py", out.stderr
    assert "broken/" not in lines[1] and "private/" in lines[1]


# -- the original README routes the class itself ----------------------------------------------


async def test_readme_routing_without_as_asgi(channel_layer):
    from tests.testapp import sockets as consumers

    websocket_urlpatterns = [
        re_path(r"^ws/chat/(?P<name>\w+)/", consumers.ChatConsumer),
    ]
    app = URLRouter(websocket_urlpatterns)
    ana = communicator(app, "/ws/chat/ana/")
    assert (await ana.connect())[0]
    await send(ana, "broadcast_message", message="Hello World!")
    assert await receive(ana) == {"event": "message", "message": "Hello World!", "from": "ana"}
    await ana.disconnect()


def test_calling_a_consumer_class_normally_still_makes_an_instance():
    from tests.elsewhere import ElsewhereConsumer

    assert isinstance(ElsewhereConsumer(), ElsewhereConsumer)


# -- secure by default -------------------------------------------------------------------------

HOOKS: list[str] = []


class Spy(JSONWebSocket):
    def on_connect(self):
        HOOKS.append("on_connect")


def secured(consumer=None):
    inner = URLRouter([re_path(r"^ws/spy/$", Spy.as_asgi())]) if consumer else websocket_router
    return AllowedHostsOriginValidator(AuthMiddlewareStack(inner))


@pytest.mark.parametrize(
    "headers",
    [
        [(b"origin", b"http://evil.example")],
        [],
        [(b"origin", b"null")],
    ],
    ids=["foreign", "missing", "null"],
)
async def test_handshakes_from_other_origins_are_refused_before_any_hook(headers):
    HOOKS.clear()
    comm = communicator(secured(Spy), "/ws/spy/", headers=headers)
    assert (await comm.connect())[0] is False
    assert HOOKS == []


async def test_same_origin_handshake_is_accepted():
    HOOKS.clear()
    comm = communicator(secured(Spy), "/ws/spy/", headers=[(b"origin", b"http://testserver")])
    assert (await comm.connect())[0] is True
    assert HOOKS == ["on_connect"]
    await comm.disconnect()


# -- the management command --------------------------------------------------------------------


def test_management_command_lists_routes():
    out = StringIO()
    call_command("easy_channels", stdout=out, no_color=True)
    text = out.getvalue()
    assert "/ws/chat/<str:name>/  (name: chat)" in text
    assert "consumer:           tests.testapp.sockets.ChatConsumer  [@register]" in text
    assert "client events:      broadcast_message" in text
    assert "server-only events: announce" in text
    assert "middleware:         easy_channels.middleware.RequireAuthentication" in text
    assert "regex /ws/echo/(?P<n>\\d+)/$" in text
    assert "[EASY_CHANNELS['SOCKETS']]" in text


def test_management_command_json_includes_the_global_middleware(settings):
    settings.EASY_CHANNELS = {
        **settings.EASY_CHANNELS,
        "MIDDLEWARE": ["easy_channels.middleware.Throttle"],
    }
    out = StringIO()
    call_command("easy_channels", "--json", stdout=out)
    routes = {r["route"]: r for r in json.loads(out.getvalue())}
    assert routes["/ws/private/"]["middleware"] == [
        "easy_channels.middleware.Throttle",
        "easy_channels.middleware.RequireAuthentication",
    ]
    assert routes["/ws/chat/<str:name>/"]["server_only_events"] == ["announce"]
    assert routes["/ws/chat/<str:name>/"]["groups"] == ["chatroom"]


async def test_require_authentication_through_the_router():
    from asgiref.sync import sync_to_async
    from django.contrib.auth.models import AnonymousUser

    anonymous = communicator(websocket_router, "/ws/private/", user=AnonymousUser())
    assert (await anonymous.connect())[0]
    assert await receive(anonymous) == {
        "event": "connect_error",
        "code": 4401,
        "message": "Authentication required.",
    }
    assert (await anonymous.receive_output(1))["code"] == 4401

    ana = await sync_to_async(User.objects.create_user)("ana", password="x")
    comm = communicator(websocket_router, "/ws/private/", user=ana)
    assert (await comm.connect())[0]
    assert (await request(comm, "whoami"))["data"] == "ana"
    await comm.disconnect()
