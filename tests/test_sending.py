"""
Sending from outside a consumer: async code, a sync view on an ASGI request, a plain thread,
another process (Redis), inside transactions; user groups; errors at the call site.

Every test that sends runs on the in-memory layer and on Redis (the ``channel_layer`` fixture).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import sys
import threading
import uuid
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.http import HttpResponse
from django.test import AsyncClient
from django.urls import path
from django.views.decorators.http import require_POST

from easy_channels import JSONWebSocket, LayerUnavailable, server_only, stats
from easy_channels.layer import user_group
from easy_channels.sending import (
    aclose_group,
    aclose_user,
    agroup_call_event,
    agroup_send,
    asend_to,
    auser_send,
    close_group,
    close_user,
    group_call_event,
    group_send,
    send_to,
    user_send,
)
from tests.conftest import redis_layer_config, require_redis
from tests.utils import communicator, group_members, local_members, receive, request


class Member(JSONWebSocket):
    groups = ["news"]

    def on_whoami(self):
        return self.channel_name

    def on_groups(self):
        return sorted(self.joined_groups)

    @server_only
    def on_refresh(self, payload):
        self.emit("refreshed", payload)


class Bare(JSONWebSocket):
    """In the group, but without the server-side handler."""

    groups = ["news"]

    def on_echo(self, payload):
        return payload


class Outsider(JSONWebSocket):
    """In no group."""


# A sync Django view; the test that uses it routes requests here with ROOT_URLCONF.
@require_POST
def notify_view(request):
    group_send("news", "notified", {"text": request.POST["text"]})
    return HttpResponse(status=204)


urlpatterns = [path("notify/", notify_view)]


async def connect(consumer=Member, **scope):
    comm = communicator(consumer, **scope)
    assert (await comm.connect())[0]
    return comm


async def disconnect(*comms):
    for comm in comms:
        await comm.disconnect()


async def next_output(comm, timeout=2):  # noqa: ASYNC109
    """The next frame (decoded) or close message the socket sent."""
    output = await comm.receive_output(timeout)
    if output["type"] == "websocket.send":
        return json.loads(output["text"])
    return output


async def make_user(username):
    return await sync_to_async(User.objects.create_user)(username)


def closed(code, reason=None):
    message = {"type": "websocket.close", "code": code}
    if reason is not None:
        message["reason"] = reason
    return message


# -- group_send ------------------------------------------------------------------------------------


async def test_agroup_send_reaches_every_member(channel_layer):
    a, b, outsider = await connect(), await connect(), await connect(Outsider)
    await agroup_send("news", "hello", {"text": "hi"})
    assert await receive(a) == {"event": "hello", "text": "hi"}
    assert await receive(b) == {"event": "hello", "text": "hi"}
    assert await outsider.receive_nothing(0.2)
    await agroup_send("news", "bare")  # no payload
    assert await receive(a) == {"event": "bare"}
    await disconnect(a, b, outsider)


async def test_group_send_from_a_plain_thread(channel_layer):
    """No event loop in the thread, the server's loop running in another one (the main one)."""
    a, b = await connect(), await connect()
    errors = []

    def work():
        try:
            group_send("news", "hello", {"n": 1})
            group_send("news", "hello", {"n": 2})  # again: nothing left over from the first
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    # Received without the thread's end waking the loop up: on the in-memory layer a send from
    # a private event loop would only be noticed when something else woke the socket's loop.
    for comm in (a, b):
        assert await receive(comm, timeout=1) == {"event": "hello", "n": 1}
        assert await receive(comm, timeout=1) == {"event": "hello", "n": 2}
    await asyncio.to_thread(thread.join, 5)
    assert not thread.is_alive()
    assert errors == []
    await disconnect(a, b)


async def test_async_twins_from_an_event_loop_in_another_thread(channel_layer):
    """A thread running its own event loop (asyncio.run in a worker, say)."""
    a = await connect()
    errors = []

    def work():
        try:
            asyncio.run(agroup_send("news", "hello", {"n": 1}))
            asyncio.run(aclose_group("news", 4001))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    assert await receive(a, timeout=1) == {"event": "hello", "n": 1}
    assert await a.receive_output(1) == closed(4001)
    await asyncio.to_thread(thread.join, 5)
    assert not thread.is_alive()
    assert errors == []
    await disconnect(a)


async def test_group_send_from_sync_to_async(channel_layer):
    """As Channels runs a sync handler or Django a sync view: a thread under the server's loop."""
    a, b = await connect(), await connect()
    await sync_to_async(group_send)("news", "hello", {"text": "hi"})
    await sync_to_async(group_send, thread_sensitive=False)("news", "again")
    for comm in (a, b):
        assert await receive(comm) == {"event": "hello", "text": "hi"}
        assert await receive(comm) == {"event": "again"}
    await disconnect(a, b)


async def test_a_json_socket_skips_payloads_only_socketio_carries(channel_layer, caplog):
    """A tuple, a string, bytes: for Socket.IO members; a JSON one counts and logs it, once."""
    a = await connect()
    before = stats()["drops"].get("unsupported_payload", 0)
    with caplog.at_level(logging.WARNING, logger="easy_channels"):
        await agroup_send("news", "moved", (5, 6))
        await agroup_send("news", "note", "a string")
        await agroup_send("news", "photo", {"png": b"\x89PNG"})
        await agroup_send("news", "hello", {"n": 1})
        assert await receive(a) == {"event": "hello", "n": 1}
    assert stats()["drops"]["unsupported_payload"] - before == 3
    warnings = [r for r in caplog.records if "carries dict payloads only" in r.getMessage()]
    assert len(warnings) == 1 and "Member" in warnings[0].getMessage()
    await disconnect(a)


async def test_group_send_from_a_sync_view_on_an_asgi_request(channel_layer, settings):
    settings.ROOT_URLCONF = __name__
    a = await connect()
    response = await AsyncClient().post("/notify/", {"text": "from a view"})
    assert response.status_code == 204
    assert await receive(a) == {"event": "notified", "text": "from a view"}
    await disconnect(a)


ROOT = Path(__file__).resolve().parent.parent

_PROCESS_SCRIPT = """
import json, sys

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "easy_channels"],
    CHANNEL_LAYERS={"default": json.loads(sys.argv[1])},
    SECRET_KEY=sys.argv[3],  # the servers': it names the user groups
)
django.setup()

from easy_channels.sending import close_user, group_send, user_send

group_send("news", "from_process", {"n": 1})
user_send(int(sys.argv[2]), "for_you")
close_user(int(sys.argv[2]), 4001, "bye")
"""


@pytest.fixture
async def redis_config(settings):
    """The default layer on Redis only; yields its configuration."""
    require_redis()
    config = redis_layer_config(f"easytest{uuid.uuid4().hex}")
    settings.CHANNEL_LAYERS = {"default": config}
    layer = get_channel_layer()
    yield config
    await layer.flush()
    await layer.close_pools()


@pytest.mark.redis
async def test_sending_from_another_process_without_an_event_loop(redis_config, settings):
    """What a Celery task or a management command does: its own process, no event loop."""
    config = redis_config
    user = await make_user("alice")
    a, member = await connect(user=user), await connect()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _PROCESS_SCRIPT,
        json.dumps(config),
        str(user.pk),
        settings.SECRET_KEY,
        cwd=ROOT,
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    assert await next_output(a) == {"event": "from_process", "n": 1}
    assert await next_output(member) == {"event": "from_process", "n": 1}
    assert await next_output(a) == {"event": "for_you"}
    assert await next_output(a) == closed(4001, "bye")
    assert await member.receive_nothing(0.2)
    await disconnect(a, member)


# -- group_call_event, send_to ---------------------------------------------------------------------


async def test_group_call_event_calls_server_side_handlers(channel_layer):
    a, bare, outsider = await connect(), await connect(Bare), await connect(Outsider)
    await agroup_call_event("news", "refresh", {"n": 1})
    assert await receive(a) == {"event": "refreshed", "n": 1}
    await sync_to_async(group_call_event)("news", "refresh", {"n": 2})
    assert await receive(a) == {"event": "refreshed", "n": 2}
    # The member without on_refresh ignored both, and still answers.
    assert await bare.receive_nothing(0.2)
    assert (await request(bare, "echo", x=1))["data"] == {"x": 1}
    assert await outsider.receive_nothing(0.1)
    await disconnect(a, bare, outsider)


async def test_send_to_one_socket(channel_layer):
    a, b = await connect(), await connect()
    b_name = (await request(b, "whoami"))["data"]
    await asend_to(b_name, "psst", {"n": 1})
    assert await receive(b) == {"event": "psst", "n": 1}
    await sync_to_async(send_to)(b_name, "psst", {"n": 2})
    assert await receive(b) == {"event": "psst", "n": 2}
    assert await a.receive_nothing(0.2)
    await disconnect(a, b)


# -- close_group -----------------------------------------------------------------------------------


async def test_aclose_group_closes_every_member(channel_layer):
    a, b, outsider = await connect(), await connect(), await connect(Outsider)
    await aclose_group("news")
    assert await a.receive_output(1) == {"type": "websocket.close", "code": 4000}
    assert await b.receive_output(1) == {"type": "websocket.close", "code": 4000}
    assert await outsider.receive_nothing(0.2)
    await disconnect(a, b, outsider)
    assert await group_members(channel_layer, "news") == set()


async def test_close_group_with_a_code_and_reason(channel_layer):
    a, b = await connect(), await connect()
    await sync_to_async(close_group)("news", 4001, "maintenance")
    assert await a.receive_output(1) == closed(4001, "maintenance")
    assert await b.receive_output(1) == closed(4001, "maintenance")
    await disconnect(a, b)
    assert await group_members(channel_layer, "news") == set()


# -- user groups -----------------------------------------------------------------------------------


async def test_user_send_reaches_every_socket_of_that_user_only(channel_layer):
    alice, bob = await make_user("alice"), await make_user("bob")
    a1, a2 = await connect(user=alice), await connect(user=alice)
    b1 = await connect(user=bob)
    anonymous = await connect(user=AnonymousUser())
    assert local_members(channel_layer, user_group(alice)) == {
        (await request(a1, "whoami"))["data"],
        (await request(a2, "whoami"))["data"],
    }

    await sync_to_async(user_send)(alice, "hello", {"to": "alice"})
    assert await receive(a1) == {"event": "hello", "to": "alice"}
    assert await receive(a2) == {"event": "hello", "to": "alice"}
    assert await b1.receive_nothing(0.2)
    assert await anonymous.receive_nothing(0.1)

    await auser_send(bob.pk, "hello", {"to": "bob"})  # by primary key
    assert await receive(b1) == {"event": "hello", "to": "bob"}
    assert await a1.receive_nothing(0.2)
    assert await a2.receive_nothing(0.1)
    await disconnect(a1, a2, b1, anonymous)


async def test_an_anonymous_socket_joins_no_user_group(channel_layer):
    anonymous = await connect(user=AnonymousUser())
    assert (await request(anonymous, "groups"))["data"] == ["news"]
    await disconnect(anonymous)


async def test_close_user_closes_that_users_sockets_only(channel_layer):
    alice, bob = await make_user("alice"), await make_user("bob")
    a1, a2, b1 = await connect(user=alice), await connect(user=alice), await connect(user=bob)
    await sync_to_async(close_user)(alice)
    assert await a1.receive_output(1) == closed(4000)
    assert await a2.receive_output(1) == closed(4000)
    assert await b1.receive_nothing(0.2)
    await disconnect(a1, a2)
    assert await group_members(channel_layer, user_group(alice)) == set()

    await aclose_user(bob.pk, 4003, "banned")
    assert await b1.receive_output(1) == closed(4003, "banned")
    await disconnect(b1)
    assert await group_members(channel_layer, user_group(bob)) == set()


async def test_user_groups_off(channel_layer, settings):
    settings.EASY_CHANNELS = {"USER_GROUPS": False}
    alice = await make_user("alice")
    a = await connect(user=alice)
    assert (await request(a, "groups"))["data"] == ["news"]
    assert await group_members(channel_layer, user_group(alice)) == set()
    match = r"EASY_CHANNELS\['USER_GROUPS'\] = True"
    with pytest.raises(ImproperlyConfigured, match=match):
        await sync_to_async(user_send)(alice, "hello")
    with pytest.raises(ImproperlyConfigured, match=match):
        await sync_to_async(close_user)(alice)
    with pytest.raises(ImproperlyConfigured, match=match):
        await auser_send(alice.pk, "hello")
    with pytest.raises(ImproperlyConfigured, match=match):
        await aclose_user(alice)
    await disconnect(a)


# -- on_commit -------------------------------------------------------------------------------------


def _send_mutating_the_payload_afterwards(user, channel):
    payload = {"n": 1}
    group_send("news", "saved", payload, on_commit=True)
    payload["n"] = 2  # encoded at the call: the socket gets n=1


# name -> (send with on_commit=True, given the user and channel name of the socket; what it gets)
ON_COMMIT_SENDS = {
    "group_send": (_send_mutating_the_payload_afterwards, {"event": "saved", "n": 1}),
    "group_call_event": (
        lambda user, channel: group_call_event("news", "refresh", {"n": 1}, on_commit=True),
        {"event": "refreshed", "n": 1},
    ),
    "send_to": (
        lambda user, channel: send_to(channel, "saved", {"n": 1}, on_commit=True),
        {"event": "saved", "n": 1},
    ),
    "close_group": (
        lambda user, channel: close_group("news", 4001, on_commit=True),
        closed(4001),
    ),
    "user_send": (
        lambda user, channel: user_send(user, "saved", {"n": 1}, on_commit=True),
        {"event": "saved", "n": 1},
    ),
    "close_user": (
        lambda user, channel: close_user(user.pk, reason="logged out", on_commit=True),
        closed(4000, "logged out"),
    ),
}
ON_COMMIT = pytest.mark.parametrize("name", ON_COMMIT_SENDS)


class Rollback(Exception):
    pass


async def _send_in_a_transaction(comm, send, *, fail):
    """
    Run ``send()`` inside ``transaction.atomic()`` in a worker thread, as a sync view would,
    and check that the socket gets nothing while the transaction is open.
    """
    inside, release = threading.Event(), threading.Event()

    def work():
        with transaction.atomic():
            User.objects.create_user("carol")
            send()
            inside.set()
            assert release.wait(5)
            if fail:
                raise Rollback

    task = asyncio.ensure_future(sync_to_async(work, thread_sensitive=False)())
    assert await asyncio.to_thread(inside.wait, 5)
    assert await comm.receive_nothing(0.3)
    release.set()
    if fail:
        with pytest.raises(Rollback):
            await task
    else:
        await task


@ON_COMMIT
async def test_on_commit_sends_once_the_transaction_commits(channel_layer, name):
    send, expected = ON_COMMIT_SENDS[name]
    alice = await make_user("alice")
    a = await connect(user=alice)
    channel = (await request(a, "whoami"))["data"]
    await _send_in_a_transaction(a, lambda: send(alice, channel), fail=False)
    assert await next_output(a) == expected
    assert await sync_to_async(User.objects.filter(username="carol").exists)()
    await disconnect(a)


@ON_COMMIT
async def test_on_commit_sends_nothing_when_the_transaction_rolls_back(channel_layer, name):
    send, _ = ON_COMMIT_SENDS[name]
    alice = await make_user("alice")
    a = await connect(user=alice)
    channel = (await request(a, "whoami"))["data"]
    await _send_in_a_transaction(a, lambda: send(alice, channel), fail=True)
    assert await a.receive_nothing(0.5)
    assert not await sync_to_async(User.objects.filter(username="carol").exists)()
    # Still open and in its groups.
    await agroup_send("news", "later")
    assert await receive(a) == {"event": "later"}
    await disconnect(a)


async def test_on_commit_outside_a_transaction_sends_at_once(channel_layer):
    a = await connect()
    await sync_to_async(group_send)("news", "now", on_commit=True)
    assert await receive(a) == {"event": "now"}
    await disconnect(a)


async def test_on_commit_in_a_savepoint_that_rolls_back(channel_layer):
    a = await connect()

    def work():
        with transaction.atomic():
            group_send("news", "kept", on_commit=True)
            try:
                with transaction.atomic():
                    group_send("news", "dropped", on_commit=True)
                    raise Rollback
            except Rollback:
                pass
            group_send("news", "kept_too", on_commit=True)

    await sync_to_async(work)()
    assert await receive(a) == {"event": "kept"}
    assert await receive(a) == {"event": "kept_too"}
    assert await a.receive_nothing(0.3)
    await disconnect(a)


def _unreachable_redis() -> dict:
    """A Redis layer pointing at a loopback port nothing listens on: every call fails at once."""
    from tests.liveserver import free_port

    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},
    }


async def test_a_send_failing_after_the_commit_is_logged(settings, caplog):
    """The write is committed and later on_commit callbacks still run; the failure is logged."""
    settings.CHANNEL_LAYERS = {"default": _unreachable_redis()}
    channel = "nobody.reads!here"
    later = []

    def work():
        with transaction.atomic():
            User.objects.create_user("carol")
            send_to(channel, "lost", on_commit=True)
            transaction.on_commit(lambda: later.append("ran"))

    with caplog.at_level(logging.ERROR, logger="easy_channels"):
        await sync_to_async(work)()
    assert later == ["ran"]
    assert await sync_to_async(User.objects.filter(username="carol").exists)()
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "send_to('nobody.reads!here') failed after the transaction committed" in record.message
    assert isinstance(record.exc_info[1], LayerUnavailable)
    # Without a transaction to protect, the caller gets the error, on_commit or not.
    with pytest.raises(LayerUnavailable):
        await sync_to_async(send_to)(channel, "lost", on_commit=True)
    with pytest.raises(LayerUnavailable):
        await sync_to_async(send_to)(channel, "lost")
    with pytest.raises(LayerUnavailable):
        await asend_to(channel, "lost")


async def test_a_full_channel_drops_the_message_without_breaking_the_sender(settings, caplog):
    """ChannelFull: the sender carries on; the drop is logged with the channel and counted."""
    full = {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1}}
    settings.CHANNEL_LAYERS = {"default": full}
    channel = "nobody.reads!here"
    before = stats()["drops"].get("channel_full", 0)
    with caplog.at_level(logging.WARNING, logger="easy_channels"):
        await sync_to_async(send_to)(channel, "fills_it")
        await sync_to_async(send_to)(channel, "dropped")
        await asend_to(channel, "dropped_too")
    assert stats()["drops"]["channel_full"] == before + 2
    messages = [r.getMessage() for r in caplog.records if r.name == "easy_channels"]
    assert (
        messages
        == [
            "easy_channels: dropped a message to nobody.reads!here (easy_channels.frame): "
            "the channel is at capacity"
        ]
        * 2
    )


# -- errors at the call site -----------------------------------------------------------------------


NAN = {"x": math.nan}

BAD_CALLS = [
    pytest.param(
        lambda: group_send("no spaces", "e"), ValueError, "Invalid group name", id="group"
    ),
    pytest.param(lambda: group_send("n" * 100, "e"), ValueError, "Invalid group name", id="long"),
    pytest.param(lambda: group_send("news", "bad\nname"), ValueError, "Invalid event", id="event"),
    pytest.param(lambda: group_send("news", "error"), ValueError, "reserved", id="reserved"),
    pytest.param(lambda: group_send("news", "e", {"event": 1}), ValueError, "key", id="key"),
    pytest.param(lambda: group_send("news", "e", NAN), ValueError, "JSON", id="nan"),
    pytest.param(
        lambda: group_send("news", "e", [object()]), TypeError, "JSON serializable", id="list"
    ),
    pytest.param(
        lambda: group_send("news", "connect", (1, 2)), ValueError, "Socket.IO", id="sio-reserved"
    ),
    pytest.param(lambda: send_to("x.y!z", "e", (math.nan,)), ValueError, "JSON", id="tuple-nan"),
    pytest.param(
        lambda: group_send("news", "e", {"x": object()}),
        TypeError,
        "JSON serializable",
        id="object",
    ),
    pytest.param(lambda: group_call_event("news", "e", NAN), ValueError, "JSON", id="call-nan"),
    pytest.param(lambda: group_call_event("news", "a\tb"), ValueError, "event", id="call-event"),
    pytest.param(lambda: send_to("", "e"), ValueError, "channel name", id="channel"),
    pytest.param(lambda: send_to(None, "e"), ValueError, "channel name", id="no-channel"),
    pytest.param(lambda: close_group("news", 1001), ValueError, "close code", id="code"),
    pytest.param(lambda: close_group("news", "4000"), TypeError, "close code", id="code-type"),
    pytest.param(lambda: user_send(None, "e"), ValueError, "primary key", id="no-user"),
    pytest.param(lambda: close_user(AnonymousUser()), ValueError, "anonymous", id="anonymous"),
]


@pytest.mark.parametrize(("call", "error", "match"), BAD_CALLS)
async def test_bad_arguments_raise_at_the_call_even_on_commit(channel_layer, call, error, match):
    """Raised inside the transaction, where the mistake is, not when it commits."""
    a = await connect()

    def work():
        with transaction.atomic():
            with pytest.raises(error, match=match):
                call()
            return "committed"

    assert await sync_to_async(work)() == "committed"
    assert await a.receive_nothing(0.2)
    await disconnect(a)


async def test_async_twins_validate_too(channel_layer):
    with pytest.raises(ValueError, match="Invalid group name"):
        await agroup_send("no spaces", "e")
    with pytest.raises(ValueError, match="JSON"):
        await agroup_send("news", "e", NAN)
    with pytest.raises(ValueError, match="key"):
        await auser_send(1, "e", {"event": "x"})
    with pytest.raises(ValueError, match="channel name"):
        await asend_to("", "e")
    with pytest.raises(ValueError, match="close code"):
        await aclose_group("news", 999)
    with pytest.raises(TypeError, match="dict"):
        await agroup_call_event("news", "e", "text")


SYNC_TWINS = [
    pytest.param(lambda: group_send("news", "e"), "agroup_send", id="group_send"),
    pytest.param(lambda: group_call_event("news", "e"), "agroup_call_event", id="call_event"),
    pytest.param(lambda: send_to("x.y!z", "e"), "asend_to", id="send_to"),
    pytest.param(lambda: close_group("news"), "aclose_group", id="close_group"),
    pytest.param(lambda: user_send(1, "e"), "auser_send", id="user_send"),
    pytest.param(lambda: close_user(1), "aclose_user", id="close_user"),
    pytest.param(lambda: group_send("news", "e", on_commit=True), "agroup_send", id="on_commit"),
]


@pytest.mark.parametrize(("call", "twin"), SYNC_TWINS)
async def test_sync_functions_refuse_a_running_event_loop(channel_layer, call, twin):
    a = await connect()
    with pytest.raises(RuntimeError, match=rf"use 'await easy_channels\.{twin}\(\.\.\.\)'"):
        call()
    assert await a.receive_nothing(0.2)
    await disconnect(a)


async def test_without_a_channel_layer(settings):
    settings.CHANNEL_LAYERS = {}
    match = "CHANNEL_LAYERS has no layer 'default'"
    with pytest.raises(ImproperlyConfigured, match=match):
        await agroup_send("news", "e")
    with pytest.raises(ImproperlyConfigured, match=match):
        await aclose_user(1)

    def work():
        # Raised at the call, not at commit.
        with transaction.atomic(), pytest.raises(ImproperlyConfigured, match=match):
            group_send("news", "e", on_commit=True)

    await sync_to_async(work)()
    with pytest.raises(ImproperlyConfigured, match=match):
        await sync_to_async(send_to)("x.y!z", "e")


async def test_the_configured_channel_layer_alias_is_used(settings):
    settings.CHANNEL_LAYERS = {"sockets": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.EASY_CHANNELS = {"CHANNEL_LAYER": "sockets"}
    a = await connect()
    await agroup_send("news", "hello")
    assert await receive(a) == {"event": "hello"}
    await sync_to_async(group_send)("news", "again")
    assert await receive(a) == {"event": "again"}
    await disconnect(a)
    settings.EASY_CHANNELS = {"CHANNEL_LAYER": "other"}
    with pytest.raises(ImproperlyConfigured, match="CHANNEL_LAYERS has no layer 'other'"):
        await agroup_send("news", "hello")
