"""
README.rst and its pages stay true: their ``.. code-block:: python`` blocks (README.rst, then
the topic and reference pages of docs/, see tests.utils.DOC_PAGES) run, in order, in one
namespace, and each example behaves as the text around it says.
"""

from __future__ import annotations

import json
import re

import pytest
from channels.routing import URLRouter
from django.contrib.auth.models import AnonymousUser
from django.urls import re_path

from tests.utils import README, communicator, readme_blocks, receive, request, send


def python_blocks() -> list[str]:
    return readme_blocks("python")


@pytest.fixture(scope="module")
def ns():
    namespace: dict = {"__name__": "readme"}
    for block in python_blocks():
        exec(compile(block, str(README), "exec"), namespace)
    return namespace


def test_readme_has_the_original_examples():
    text = "\n".join(python_blocks())
    for name in ("ChatConsumer", "ConsumerA", "ConsumerB", "UserGatherMiddleware"):
        assert re.search(rf"^class {name}\(", text, re.M), name
    assert "from django_easy_channels import JSONWebSocket" in text


def chat(ns, cls, name):
    # The README's own websocket_urlpatterns for ChatConsumer; the same pattern for the others.
    if cls == "ChatConsumer":
        app = URLRouter(ns["websocket_urlpatterns"])
    else:
        app = URLRouter([re_path(r"^ws/chat/(?P<name>\w+)/", ns[cls].as_asgi())])
    return communicator(app, f"/ws/chat/{name}/")


async def test_chat_sync_and_async_consumers_share_the_room(ns, channel_layer):
    ana = chat(ns, "ChatConsumer", "ana")
    bob = chat(ns, "AsyncChatConsumer", "bob")
    assert (await ana.connect())[0] and (await bob.connect())[0]
    await send(ana, "broadcast_message", message="Hello World!")
    expected = {"event": "message", "message": "Hello World!", "from": "ana"}
    assert await receive(ana) == expected
    assert await receive(bob) == expected
    await send(bob, "broadcast_message", message="Hi")
    expected = {"event": "message", "message": "Hi", "from": "bob"}
    assert await receive(ana) == expected
    assert await receive(bob) == expected
    await ana.disconnect()
    await bob.disconnect()


async def test_counter_acks(ns):
    comm = communicator(ns["CounterConsumer"])
    await comm.connect()
    assert await request(comm, "increment", ack=1) == {"event": "ack", "ack": 1, "data": 1}
    assert await request(comm, "increment", ack="b", by=5) == {
        "event": "ack",
        "ack": "b",
        "data": 6,
    }
    await send(comm, "increment")
    assert await comm.receive_nothing(0.2)
    await comm.disconnect()


async def test_shop_errors(ns):
    comm = communicator(ns["ShopConsumer"])
    await comm.connect()
    assert await request(comm, "price", ack=1, item="apple") == {
        "event": "ack",
        "ack": 1,
        "data": {"item": "apple", "price": 3},
    }
    assert await request(comm, "price", ack=2) == {
        "event": "error",
        "code": "invalid",
        "message": "Invalid data.",
        "details": {"item": ["This field is required."]},
        "ack": 2,
    }
    await send(comm, "price", item="crown_jewels")
    assert await receive(comm) == {
        "event": "error",
        "code": "forbidden",
        "message": "Not for sale.",
    }
    await send(comm, "price", item="plum")
    assert await receive(comm) == {
        "event": "error",
        "code": "not_found",
        "message": "No such item: plum.",
        "details": {"item": "plum"},
    }
    await send(comm, "buy", item="apple")
    assert await receive(comm) == {
        "event": "error",
        "code": "unknown_event",
        "message": "Unknown event 'buy'.",
    }
    await comm.disconnect()


async def test_lobby_and_staff(ns, channel_layer):
    a, b = communicator(ns["LobbyConsumer"]), communicator(ns["LobbyConsumer"])
    staff = communicator(ns["StaffConsumer"])
    for c in (a, b, staff):
        assert (await c.connect())[0]
    a_name = (await receive(a))["you"]
    b_name = (await receive(b))["you"]
    assert await request(a, "whoami") == {
        "event": "ack",
        "ack": 1,
        "data": {"you": a_name, "groups": ["lobby"]},
    }
    await send(a, "say", text="hi")
    assert await receive(b) == {"event": "said", "text": "hi"}
    assert await a.receive_nothing(0.2)
    await send(a, "whisper", to=b_name, text="psst")
    assert await receive(b) == {"event": "whispered", "text": "psst", "from": a_name}
    assert (await request(a, "announce", text="x"))["code"] == "unknown_event"
    await send(staff, "announce", text="Closing at 6")
    assert await receive(a) == {"event": "announcement", "text": "Closing at 6"}
    assert await receive(b) == {"event": "announcement", "text": "Closing at 6"}
    assert await staff.receive_nothing(0.2)
    await a.disconnect(code=1001)
    assert await receive(b) == {"event": "left", "who": a_name, "code": 1001}
    await b.disconnect()
    await staff.disconnect()


async def test_consumer_a_and_b(ns, channel_layer):
    a1, a2 = communicator(ns["ConsumerA"]), communicator(ns["ConsumerA"])
    b = communicator(ns["ConsumerB"])
    for c in (a1, a2, b):
        assert (await c.connect())[0]  # accepted although on_connect never calls accept()
    await send(b, "some_event")
    assert await receive(a1) == {"event": "notify", "balance": 42}
    assert await receive(a2) == {"event": "notify", "balance": 42}
    assert await b.receive_nothing(0.2)
    assert await a1.receive_nothing(0.1)  # exactly once per socket
    for c in (a1, a2, b):
        await c.disconnect()


async def test_private_consumer_rejects_anonymous_users(ns):
    from django.contrib.auth.models import User

    comm = communicator(ns["PrivateConsumer"], user=AnonymousUser())
    assert (await comm.connect())[0]
    assert await receive(comm) == {
        "event": "connect_error",
        "code": 4401,
        "message": "Log in first.",
    }
    assert await comm.receive_output(1) == {
        "type": "websocket.close",
        "code": 4401,
        "reason": "Log in first.",
    }
    comm = communicator(ns["PrivateConsumer"], user=User(username="ana"))
    assert (await comm.connect())[0]
    await comm.disconnect()


async def test_user_gather_middleware(ns):
    comm = chat(ns, "NamedChatConsumer", "joselito")
    assert (await comm.connect())[0]
    assert await receive(comm) == {"event": "hello", "name": "joselito"}
    await comm.disconnect()


async def test_token_middleware(ns):
    def connect(token):
        return communicator(ns["TokenEchoConsumer"], f"/ws/echo/?token={token}")

    ana = connect("ana-token")
    assert (await ana.connect())[0]
    assert (await request(ana, "echo", text="hi"))["data"] == {"text": "hi", "sender": "ana"}
    assert (await request(ana, "shout", text="hi"))["data"] == "HI"
    await ana.disconnect()

    guest = connect("guest-token")
    assert (await guest.connect())[0]
    assert (await request(guest, "echo", text="hi"))["data"] == {"text": "hi", "sender": "guest"}
    assert await request(guest, "shout", ack=2, text="hi") == {
        "event": "error",
        "code": "forbidden",
        "message": "Guests may only echo.",
        "ack": 2,
    }
    await guest.disconnect()

    stranger = connect("nope")
    assert (await stranger.connect())[0]
    assert await receive(stranger) == {
        "event": "connect_error",
        "code": 4401,
        "message": "Invalid token.",
    }
    assert (await stranger.receive_output(1))["code"] == 4401


async def test_reference_consumer(ns):
    comm = communicator(ns["ReferenceConsumer"])
    await comm.connect()
    for event in ("ping", "async_ping"):
        await send(comm, event)
        assert await receive(comm) == {"event": "pong"}
    await comm.disconnect()


async def test_as_asgi_overrides_class_attributes(ns, channel_layer):
    from tests.utils import group_members

    comm = communicator(ns["LobbyConsumer"].as_asgi(groups=["vip"]))
    assert (await comm.connect())[0]
    assert len(await group_members(channel_layer, "vip")) == 1
    assert await group_members(channel_layer, "lobby") == set()
    await comm.disconnect()
    with pytest.raises(TypeError, match="not an attribute"):
        await communicator(ns["LobbyConsumer"].as_asgi(nope=1)).connect()


async def test_testing_example(ns, channel_layer):
    await ns["check_the_lobby"]()


def test_readme_renders_without_warnings():
    """PyPI refuses a long description that doesn't render."""
    import docutils.core

    docutils.core.publish_string(
        README.read_text(),
        writer="null",
        settings_overrides={"report_level": 2, "halt_level": 2},
    )


#: Where README.rst's links and images point, so that they work on the package index too.
REPOSITORY = "https://github.com/brenodega28/django_easy_channels/blob/HEAD/"
RAW = "https://raw.githubusercontent.com/brenodega28/django_easy_channels/HEAD/"


def test_readme_links_work_on_the_package_index():
    """PyPI shows README.rst alone: a relative link or image there leads nowhere."""
    from tests.utils import ROOT

    text = README.read_text()
    targets = re.findall(r"`[^`]*<([^>]+)>`_", text)
    targets += re.findall(r"^\s*\.\. (?:image|figure):: (\S+)", text, re.M)
    targets += re.findall(r"^\.\. _[^:]+: (\S+)", text, re.M)
    assert targets
    for target in targets:
        assert target.startswith("https://"), f"relative link in README.rst: {target}"
        for base in (REPOSITORY, RAW):
            if target.startswith(base):
                path = target[len(base) :].partition("#")[0]
                assert (ROOT / path).is_file(), f"README.rst links to a missing file: {path}"
    assert not re.search(r"(?<![`\w])`[^`<>]+`_", text), "README.rst links to its own sections"


def test_package_metadata_names_the_project():
    from importlib.metadata import metadata

    meta = metadata("django-easy-channels")
    assert meta["Author"] == "Breno Gomes"
    urls = dict(url.split(", ", 1) for url in meta.get_all("Project-URL") or [])
    assert {"Documentation", "Source", "Issues", "Changelog"} <= set(urls)
    assert urls["Changelog"] == REPOSITORY + "CHANGELOG.rst"


def test_health_view_returns_the_counters(ns):
    from django.test import RequestFactory

    response = ns["health"](RequestFactory().get("/health/"))
    assert response.status_code == 200
    body = json.loads(response.content)
    assert {"sockets_open", "messages_in", "errors", "drops", "refused"} <= set(body)
