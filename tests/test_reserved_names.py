"""
Names of easy_channels' own (issue 11, point 2): the user groups, the stats group, the layer
probe's group and the hub's channels can't be joined or sent to through the public API, and a
user's group can't be guessed from the user's primary key.

An app that joins groups its client names (``self.group_add(payload["room"])``) let any
client join ``easy_channels.user.<pk>`` and read everything ``user_send()`` sent to that user.

Every test that touches a layer runs on the in-memory layer and on Redis (``channel_layer``).
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.utils.crypto import salted_hmac

from easy_channels import JSONWebSocket, layer, server_only
from easy_channels.hub import hub_for
from easy_channels.layer import check_channel_name, check_group_name, user_group
from easy_channels.processes import PROCESS_GROUP
from easy_channels.sending import (
    aclose_group,
    aclose_user,
    agroup_call_event,
    agroup_send,
    asend_to,
    auser_send,
    close_group,
    group_call_event,
    group_send,
    send_to,
    user_send,
)
from tests.utils import communicator, group_members, local_members, receive, request

PREFIX = "easy_channels."
#: What every refusal of a reserved group name says: the prefix and the way to reach users.
RESERVED_GROUP = "group names starting with 'easy_channels.' are reserved"
RESERVED_CHANNEL = "it is one of easy_channels' own channels (under 'easy_channels.'"


class Rooms(JSONWebSocket):
    """Joins, leaves and sends to the groups its client names, from async and sync handlers."""

    async def on_join(self, payload):
        await self.group_add(payload["room"])
        return sorted(self.joined_groups)

    async def on_leave(self, payload):
        await self.group_discard(payload["room"])
        return sorted(self.joined_groups)

    async def on_say(self, payload):
        await self.group_send(payload["room"], "said", {"text": "spoofed"})

    async def on_call(self, payload):
        await self.group_call_event(payload["room"], "leak", {"to": self.channel_name})

    async def on_whisper(self, payload):
        await self.send_to(payload["to"], "whispered", {"text": "spoofed"})

    def on_join_sync(self, payload):
        self.group_add(payload["room"])
        return sorted(self.joined_groups)

    def on_leave_sync(self, payload):
        self.group_discard(payload["room"])
        return sorted(self.joined_groups)

    def on_say_sync(self, payload):
        self.group_send(payload["room"], "said", {"text": "spoofed"})

    def on_call_sync(self, payload):
        self.group_call_event(payload["room"], "leak", {"to": self.channel_name})

    def on_whisper_sync(self, payload):
        self.send_to(payload["to"], "whispered", {"text": "spoofed"})

    def on_whoami(self):
        return self.channel_name

    def on_groups(self):
        return sorted(self.joined_groups)

    @server_only
    def on_leak(self, payload):
        """What a group_call_event into the user's group would run in the user's socket."""
        self.emit("leaked", payload)


async def make_user(username):
    return await sync_to_async(User.objects.create_user)(username)


async def connect(consumer=Rooms, **scope):
    comm = communicator(consumer, **scope)
    assert (await comm.connect())[0]
    return comm


def reserved_groups(user) -> list[str]:
    """The user's group by its old predictable name and by its real one, and our other groups."""
    return [
        f"easy_channels.user.{user.pk}",
        user_group(user),
        PROCESS_GROUP,
        "easy_channels.probe",
    ]


def assert_refused(reply, ack, prefix_message=RESERVED_GROUP):
    """The handler's ValueError became an error frame that says why (DEBUG shows the text)."""
    assert reply["event"] == "error", reply
    assert reply["code"] == "handler_error"
    assert reply["ack"] == ack
    assert reply["message"].startswith("ValueError: Invalid "), reply
    assert prefix_message in reply["message"]


# -- the reproduction ------------------------------------------------------------------------------


async def test_an_anonymous_client_cannot_join_a_users_group(channel_layer, settings):
    settings.DEBUG = True  # the error frame then carries the ValueError's text
    alice = await make_user("alice")
    a = await connect(user=alice)
    intruder = await connect(user=AnonymousUser())
    for ack, room in enumerate([f"easy_channels.user.{alice.pk}", user_group(alice)], start=1):
        assert_refused(await request(intruder, "join", ack=ack, room=room), ack)
    assert (await request(intruder, "groups", ack=3))["data"] == []
    assert local_members(channel_layer, user_group(alice)) == {(await request(a, "whoami"))["data"]}

    token = uuid.uuid4().hex
    await sync_to_async(user_send)(alice, "private", {"token": token})
    assert await receive(a) == {"event": "private", "token": token}
    assert await intruder.receive_nothing(0.2)
    await a.disconnect()
    await intruder.disconnect()


# -- every consumer method -------------------------------------------------------------------------

GROUP_HANDLERS = ["join", "leave", "say", "call"]


@pytest.mark.parametrize("handler", GROUP_HANDLERS + [f"{h}_sync" for h in GROUP_HANDLERS])
async def test_consumer_methods_refuse_reserved_group_names(channel_layer, settings, handler):
    settings.DEBUG = True
    alice = await make_user("alice")
    a = await connect(user=alice)
    intruder = await connect(user=AnonymousUser())
    for ack, room in enumerate(reserved_groups(alice), start=1):
        assert_refused(await request(intruder, handler, ack=ack, room=room), ack)
    # Nothing reached alice's sockets (no spoofed frame, no server-side call), and the
    # intruder is in none of the groups.
    assert await a.receive_nothing(0.2)
    assert (await request(intruder, "groups", ack=9))["data"] == []
    assert (await request(a, "groups", ack=9))["data"] == [user_group(alice)]
    await a.disconnect()
    await intruder.disconnect()


@pytest.mark.parametrize("handler", ["whisper", "whisper_sync"])
async def test_consumer_send_to_refuses_our_channels(channel_layer, settings, handler):
    settings.DEBUG = True
    alice = await make_user("alice")
    a = await connect(user=alice)
    intruder = await connect(user=AnonymousUser())
    for ack, channel in enumerate(internal_channels(channel_layer, alice), start=1):
        assert_refused(await request(intruder, handler, ack=ack, to=channel), ack, RESERVED_CHANNEL)
    assert await a.receive_nothing(0.2)
    # A socket's own channel name is still fine.
    alice_channel = (await request(a, "whoami"))["data"]
    assert (await request(intruder, handler, ack=9, to=alice_channel))["data"] is None
    assert await receive(a) == {"event": "whispered", "text": "spoofed"}
    await a.disconnect()
    await intruder.disconnect()


def internal_channels(layer, user) -> list[str]:
    """
    Channels of ours no socket has: the shapes of a hub's group channels and of the stats
    responder's channel, and on channels-redis the real group channel of ``user``'s group.
    """
    inbox = f"easy_channels.hub.{uuid.uuid4().hex[:12]}!"
    channels = [inbox + uuid.uuid4().hex, inbox + "stats"]
    real = hub_for(layer).channels.get(user_group(user))
    if real is not None and real.startswith(PREFIX):  # on the in-memory layer it's not
        channels.append(real)
    return channels


async def test_class_groups_refuse_reserved_names(channel_layer, caplog):
    class Spy(JSONWebSocket):
        groups = ["easy_channels.user.1"]

    for consumer in (Spy, Rooms.as_asgi(groups=[user_group(1)])):
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="easy_channels"):
            connected, _ = await communicator(consumer).connect()
        assert connected is False
        (record,) = [r for r in caplog.records if r.exc_info]
        assert "on_connect of" in record.getMessage()
        assert isinstance(record.exc_info[1], ValueError)
        assert RESERVED_GROUP in str(record.exc_info[1])
    assert await group_members(channel_layer, "easy_channels.user.1") == set()
    assert await group_members(channel_layer, user_group(1)) == set()


# -- every module function -------------------------------------------------------------------------

#: name -> a send of that function to ``group``
GROUP_SENDS = {
    "group_send": lambda group: sync_to_async(group_send)(group, "private", {"token": "x"}),
    "group_send(on_commit)": lambda group: sync_to_async(group_send)(
        group, "private", {"token": "x"}, on_commit=True
    ),
    "agroup_send": lambda group: agroup_send(group, "private", {"token": "x"}),
    "group_call_event": lambda group: sync_to_async(group_call_event)(group, "leak", {"n": 1}),
    "agroup_call_event": lambda group: agroup_call_event(group, "leak", {"n": 1}),
    "close_group": lambda group: sync_to_async(close_group)(group, 4001),
    "aclose_group": lambda group: aclose_group(group, 4001),
}


@pytest.mark.parametrize("name", GROUP_SENDS)
async def test_module_functions_refuse_reserved_group_names(channel_layer, name):
    alice = await make_user("alice")
    a = await connect(user=alice)
    for group in reserved_groups(alice):
        with pytest.raises(ValueError, match=re.escape(RESERVED_GROUP)) as refused:
            await GROUP_SENDS[name](group)
        assert "user_send()/close_user()" in str(refused.value)
    assert await a.receive_nothing(0.2)  # no frame, no call, no close
    await a.disconnect()


@pytest.mark.parametrize("function", ["send_to", "asend_to"])
async def test_module_functions_refuse_our_channels(channel_layer, function):
    alice = await make_user("alice")
    a = await connect(user=alice)
    send = sync_to_async(send_to) if function == "send_to" else asend_to
    for channel in internal_channels(channel_layer, alice):
        with pytest.raises(ValueError, match=re.escape(RESERVED_CHANNEL)):
            await send(channel, "private", {"token": "x"})
    assert await a.receive_nothing(0.2)
    await send((await request(a, "whoami"))["data"], "private", {"token": "y"})
    assert await receive(a) == {"event": "private", "token": "y"}
    await a.disconnect()


def test_the_checks_name_the_prefix_and_the_fix():
    assert getattr(layer, "RESERVED_PREFIX", None) == PREFIX  # one constant for both checks
    for group in ("easy_channels.user.1", "easy_channels.", PREFIX + "anything"):
        with pytest.raises(ValueError) as refused:
            check_group_name(group)
        assert str(refused.value) == (
            f"Invalid group name {group!r}: group names starting with 'easy_channels.' are "
            "reserved for easy_channels' own groups; use user_send()/close_user() to reach a "
            "user's sockets, and another name for your groups."
        )
    inbox = "easy_channels.hub.0123456789ab!"
    for channel in (inbox, inbox + "stats", inbox + "0" * 32, inbox + "s", inbox + "sx" * 16):
        with pytest.raises(ValueError, match=re.escape(RESERVED_CHANNEL)):
            check_channel_name(channel)
    # On channels-redis a socket's own channel is in its process's inbox (redis_direct).
    assert check_channel_name(inbox + "s" + "0" * 32) == inbox + "s" + "0" * 32
    # Names that merely look alike are the app's.
    for group in ("easy_channels", "easy_channelsX.user.1", "room.easy_channels.user.1"):
        assert check_group_name(group) == group
    for channel in ("specific.abc!def", "specific..inmemory!xyz", "x.easy_channels.hub.1!2"):
        assert check_channel_name(channel) == channel


# -- our own code still reaches users --------------------------------------------------------------


async def test_user_groups_still_work(channel_layer):
    alice, bob = await make_user("alice"), await make_user("bob")
    a, b = await connect(user=alice), await connect(user=bob)
    assert (await request(a, "groups"))["data"] == [user_group(alice)]
    await auser_send(alice.pk, "hello")
    await sync_to_async(user_send)(alice, "again")
    assert await receive(a) == {"event": "hello"}
    assert await receive(a) == {"event": "again"}
    assert await b.receive_nothing(0.2)
    await aclose_user(alice, 4001, "bye")
    assert await a.receive_output(1) == {"type": "websocket.close", "code": 4001, "reason": "bye"}
    await a.disconnect()
    assert await group_members(channel_layer, user_group(alice)) == set()
    assert (await request(b, "groups"))["data"] == [user_group(bob)]
    await b.disconnect()


# -- the user group's name -------------------------------------------------------------------------


def test_the_user_group_is_a_keyed_hash_of_the_primary_key(settings):
    name = user_group(7)
    assert name != "easy_channels.user.7"
    assert (
        name
        == "easy_channels.user."
        + (salted_hmac("easy_channels.user_group", "7", algorithm="sha256").hexdigest()[:32])
    )
    assert re.fullmatch(r"[A-Za-z0-9\-_.]{1,99}", name)
    # Stable for one key, whichever way the user is given; another user, another group.
    assert user_group(7) == name == user_group("7") == user_group(SimpleNamespace(pk=7))
    assert user_group(8) != name
    # Another SECRET_KEY, other groups.
    with override_settings(SECRET_KEY="another secret key"):
        assert user_group(7) != name
        assert user_group(7).startswith("easy_channels.user.")
    assert user_group(7) == name


def test_odd_primary_keys_make_valid_names():
    for pk in ("a b/ü" * 50, uuid.uuid4(), -1, "", "easy_channels.user.1"):
        name = user_group(pk)
        assert re.fullmatch(r"easy_channels\.user\.[0-9a-f]{32}", name), name


def test_the_user_group_is_the_same_in_another_process(settings):
    """What a Celery worker or a second server process computes, sharing SECRET_KEY."""
    script = (
        "import sys; from django.conf import settings; "
        "settings.configure(SECRET_KEY=sys.argv[1]); "
        "from easy_channels.layer import user_group; print(user_group(7))"
    )
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-c", script, settings.SECRET_KEY],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=30,
        check=True,
    )
    assert result.stdout.strip() == user_group(7)


def test_an_empty_secret_key_is_refused_with_the_fix():
    with override_settings(SECRET_KEY=""), pytest.raises(ImproperlyConfigured) as refused:
        user_group(7)
    assert "easy_channels names user groups with a hash keyed by SECRET_KEY" in str(refused.value)
