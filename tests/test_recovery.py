"""
Sessions that survive a dropped connection (``recovery = True``), through the test kit, on the
in-memory layer and on Redis: groups back before on_connect, missed group messages replayed in
order and never twice, requests answered once, and the cases where recovery is not possible.
"""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

import easy_channels
from easy_channels import JSONWebSocket
from easy_channels.testing import SocketCommunicator
from tests.utils import DOCS, code_blocks


class Room(JSONWebSocket):
    recovery = True
    #: what each on_connect saw: (recovered, groups it was in)
    connects: list[tuple[bool, list[str]]] = []
    #: how many times on_insert ran, per ``n``
    inserted: dict[int, int] = {}

    def on_connect(self):
        Room.connects.append((self.recovered, sorted(self.joined_groups)))

    async def on_join(self, payload):
        await self.group_add(payload["group"])
        return sorted(self.joined_groups)

    async def on_leave(self, payload):
        await self.group_discard(payload["group"])

    async def on_say(self, payload):
        await self.group_send(payload["group"], "said", {"text": payload["text"]})

    async def on_say_others(self, payload):
        await self.group_send(
            payload["group"], "said", {"text": payload["text"]}, exclude_self=True
        )

    async def on_insert(self, payload):
        Room.inserted[payload["n"]] = Room.inserted.get(payload["n"], 0) + 1
        await asyncio.sleep(payload.get("slow", 0))
        return {"row": payload["n"]}

    async def on_bye(self):
        await self.close(4001, "bye")


class Plain(JSONWebSocket):
    """Not recovering: in the same groups, it gets the frames as they always were."""

    async def on_join(self, payload):
        await self.group_add(payload["group"])


@pytest.fixture(autouse=True)
def _reset():
    Room.connects.clear()
    Room.inserted.clear()


async def _member(group: str = "room", cls: type = Room, **kwargs) -> SocketCommunicator:
    comm = SocketCommunicator(cls, "/ws/room/", **kwargs)
    assert await comm.connect()
    await comm.request("join", group=group)
    return comm


async def _texts(comm: SocketCommunicator, count: int) -> list[str]:
    return [(await comm.receive_event())[1]["text"] for _ in range(count)]


async def test_a_fresh_session_is_told_its_id_and_not_recovered(channel_layer):
    ana = SocketCommunicator(Room, "/ws/room/")
    assert await ana.connect()
    assert await ana.request("join", group="room") == ["room"]
    assert ana.session_id and ana.recovered is False
    assert Room.connects == [(False, [])]
    await ana.disconnect()


async def test_a_dropped_socket_resumes_in_its_groups_with_what_it_missed(channel_layer):
    ana, bob = await _member(), await _member()
    await ana.request("join", group="other")
    await bob.request("say", group="room", text="seen")
    assert await _texts(ana, 1) == ["seen"]
    await ana.drop()

    await bob.request("say", group="room", text="one")  # from a consumer
    await easy_channels.agroup_send("room", "said", {"text": "two"})  # from a view / task
    await sync_to_async(easy_channels.group_send)("other", "said", {"text": "three"})
    await bob.request("say", group="room", text="four")

    again = await ana.resume()
    assert again.recovered is True and again.session_id == ana.session_id
    # Back in both groups before on_connect ran, and told so.
    assert Room.connects[-1] == (True, ["other", "room"])
    assert await _texts(again, 4) == ["one", "two", "three", "four"]
    await bob.request("say", group="room", text="new")
    assert await _texts(again, 1) == ["new"]  # after the replay, and nothing twice
    await again.assert_nothing_received()
    for comm in (again, bob):
        await comm.disconnect()


async def test_messages_sent_during_the_replay_come_after_it_once(channel_layer):
    ana, bob = await _member(), await _member()
    await ana.drop()
    for i in range(20):
        await bob.request("say", group="room", text=f"gap{i}")
    resuming = asyncio.ensure_future(ana.resume())
    for i in range(20):  # some of these land while the resumed socket rejoins and replays
        await bob.request("say", group="room", text=f"live{i}")
        await asyncio.sleep(0)
    again = await resuming
    assert again.recovered
    expected = [f"gap{i}" for i in range(20)] + [f"live{i}" for i in range(20)]
    assert await _texts(again, 40) == expected
    await again.assert_nothing_received()
    for comm in (again, bob):
        await comm.disconnect()


async def test_a_second_drop_resumes_from_where_the_first_resume_read(channel_layer):
    ana, bob = await _member(), await _member()
    await ana.drop()
    await bob.request("say", group="room", text="one")
    again = await ana.resume()
    assert await _texts(again, 1) == ["one"]
    await again.drop()
    await bob.request("say", group="room", text="two")
    third = await again.resume()
    assert third.recovered and await _texts(third, 1) == ["two"]
    await third.assert_nothing_received()
    for comm in (third, bob):
        await comm.disconnect()


async def test_excluded_sends_of_the_session_stay_excluded_in_the_replay(channel_layer):
    ana, bob = await _member(), await _member()
    await ana.request("say_others", group="room", text="mine")
    assert await _texts(bob, 1) == ["mine"]
    await ana.drop()
    await bob.request("say", group="room", text="theirs")
    again = await ana.resume()
    assert await _texts(again, 1) == ["theirs"]
    await again.assert_nothing_received()
    for comm in (again, bob):
        await comm.disconnect()


async def test_other_consumers_in_the_group_get_frames_unchanged(channel_layer):
    plain, ana = await _member(cls=Plain), await _member()
    await ana.send_to(text_data='{"event":"say","group":"room","text":"hi"}')
    assert await plain.receive_from() == '{"event":"said","text":"hi"}'
    raw = await ana.receive_from()  # the test kit's raw view: the position comes first
    assert raw.startswith('{"_pos":["room","') and raw.endswith('"event":"said","text":"hi"}')
    for comm in (plain, ana):
        await comm.disconnect()


@pytest.mark.parametrize("how", ["client", "server"])
async def test_a_clean_close_ends_the_session(channel_layer, how):
    ana, bob = await _member(), await _member()
    if how == "client":
        await ana.disconnect()  # code 1000, as socket.close() in a browser
    else:
        await ana.send_to(text_data='{"event":"bye"}')
        assert (await ana.receive_output())["type"] == "websocket.close"
        await ana.disconnect(code=4001)
    await bob.request("say", group="room", text="after")
    again = await ana.resume()
    assert again.recovered is False and again.session_id != ana.session_id
    assert Room.connects[-1] == (False, [])
    await again.assert_nothing_received()
    for comm in (again, bob):
        await comm.disconnect()


async def test_past_the_window_a_new_session_starts(channel_layer, settings):
    settings.EASY_CHANNELS = {"RECOVERY": {"WINDOW": 0.5}}
    ana, bob = await _member(), await _member()
    await ana.drop()
    await bob.request("say", group="room", text="lost")
    await asyncio.sleep(1.6)  # past the window (and Redis' whole-second expiry)
    again = await ana.resume()
    assert again.recovered is False and Room.connects[-1] == (False, [])
    await again.assert_nothing_received()
    for comm in (again, bob):
        await comm.disconnect()


async def test_past_the_history_a_new_session_starts(channel_layer, settings):
    settings.EASY_CHANNELS = {"RECOVERY": {"HISTORY": 3}}
    ana, bob = await _member(), await _member()
    await bob.request("say", group="room", text="read")
    assert await _texts(ana, 1) == ["read"]
    await ana.drop()
    for i in range(5):  # two more than the history keeps: "read" and "0", "1" are trimmed
        await bob.request("say", group="room", text=str(i))
    again = await ana.resume()
    assert again.recovered is False
    await again.assert_nothing_received()
    for comm in (again, bob):
        await comm.disconnect()


async def test_a_session_resumes_only_for_its_own_user(channel_layer):
    ana_user = await sync_to_async(User.objects.create_user)("ana", password="x")
    eve_user = await sync_to_async(User.objects.create_user)("eve", password="x")
    ana = await _member(user=ana_user)
    await ana.drop()
    stolen = SocketCommunicator(Room, f"/ws/room/?ec_session={ana.session_id}", eve_user)
    assert await stolen.connect()
    assert (await stolen.receive_output())["text"].startswith('{"event":"_session"')
    assert Room.connects[-1][0] is False
    await stolen.disconnect()
    again = await ana.resume()  # still there for ana
    assert again.recovered is True
    await again.disconnect()


async def test_a_request_whose_ack_was_lost_is_answered_without_running_twice(channel_layer):
    ana = await _member()
    ack = await ana.send_request("insert", n=7)
    first = ana.pending[ack]
    assert await ana.answer(ack) == {"row": 7}
    slow = await ana.send_request("insert", n=8, slow=0.3)
    await ana.drop()  # before its answer: the client sends it again after the reconnect
    again = await ana.resume()
    await again.send_to(text_data=first)  # a client asking again
    assert await again.answer(ack) == {"row": 7}  # answered from the session
    assert await again.answer(slow) == {"row": 8}  # waited for the first run's answer
    assert Room.inserted == {7: 1, 8: 1}
    await again.disconnect()


RECOVERY_PAGE = DOCS / "topics" / "recovery.rst"


async def test_the_recovery_pages_chat_and_its_test(channel_layer, clean_registry):
    """docs/topics/recovery.rst: its consumer, served by the router, and its test, as shown."""
    consumer_code, _, test_code = (code for _, code in code_blocks(RECOVERY_PAGE, "py"))
    clean_registry._registry = {}  # the test apps' own chat route would clash with the page's
    module: dict = {"__name__": "tests.orders.sockets", "__package__": "tests.orders"}
    exec(compile(consumer_code, str(RECOVERY_PAGE), "exec"), module)
    assert module["ChatConsumer"].recovery is True
    namespace: dict = {"__name__": "tests.orders.test_snippet"}
    exec(compile(test_code, str(RECOVERY_PAGE), "exec"), namespace)
    await namespace["test_a_dropped_socket_gets_what_it_missed"]()
    # What the page says the browser asks for when recovered is false.
    fresh = SocketCommunicator("/ws/chat/lobby/")
    assert await fresh.connect()
    assert [m["text"] for m in await fresh.request("history")] == ["while you were away"]
    await fresh.disconnect()


async def test_on_commit_sends_during_the_gap_are_replayed(channel_layer):
    from django.db import transaction

    ana, bob = await _member(), await _member()
    await ana.drop()

    def view():
        with transaction.atomic():
            easy_channels.group_send("room", "said", {"text": "committed"}, on_commit=True)

    await sync_to_async(view)()
    again = await ana.resume()
    assert again.recovered and await _texts(again, 1) == ["committed"]
    for comm in (again, bob):
        await comm.disconnect()


async def test_close_user_ends_the_session(channel_layer):
    user = await sync_to_async(User.objects.create_user)("cyd", password="x")
    cyd = await _member(user=user)
    await cyd.receive_nothing(0.05)  # its session frame has arrived
    await easy_channels.aclose_user(user.pk, 4001, "bye")
    while (await cyd.receive_output())["type"] != "websocket.close":
        pass
    await cyd.disconnect(code=4001)
    again = await cyd.resume()
    assert again.recovered is False
    await again.disconnect()


async def test_sockets_that_never_come_back_leave_nothing_after_the_window(channel_layer, settings):
    """2,000 sockets drop and never return: their sessions and the history expire."""
    settings.EASY_CHANNELS = {"RECOVERY": {"WINDOW": 1}}
    from easy_channels.recovery import MemoryStore, store_for

    store = store_for(channel_layer)
    for wave in range(4):
        sockets = [await _member(f"wave{wave}") for _ in range(500)]
        await sockets[0].request("say", group=f"wave{wave}", text="kept a while")
        for comm in sockets:
            await comm.drop()
    # Past the window, and the renewal interval a group's marker may outlive it by (Redis
    # expires keys in whole seconds).
    await asyncio.sleep(3.5)
    if isinstance(store, MemoryStore):
        await store.load("anything")  # expired entries go on the next use
        assert (store.sessions, store.histories, store.open, store.until, store.acks) == (
            {},
            {},
            {},
            {},
            {},
        )
    else:
        left = [key async for key in channel_layer.connection(0).scan_iter(f"{store.prefix}*")]
        assert left == []
        assert store.open == {}


def test_recovery_on_a_layer_that_cant_keep_sessions_is_a_check_error(settings, clean_registry):
    from django.core.checks import run_checks

    from easy_channels import register

    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {}}
    }

    @register("recovering/")
    class Recovering(JSONWebSocket):
        recovery = True

    @register(namespace="/recovering")  # a Socket.IO namespace only: checked as well
    class RecoveringNamespace(JSONWebSocket):
        recovery = True

    errors = [e.msg for e in run_checks() if e.id == "easy_channels.E010"]
    assert len(errors) == 2, errors
    assert "Recovering has recovery = True" in errors[0]
    assert "RecoveringNamespace has recovery = True" in errors[1]
    settings.EASY_CHANNELS = {"RECOVERY": {"WINDOW": 0, "HISTORY": "many", "SIZE": 1}}
    messages = [e.msg for e in run_checks() if e.id == "easy_channels.E009"]
    assert len(messages) == 3, messages


@pytest.mark.redis
async def test_a_redis_that_forgot_everything_starts_a_new_session(settings):
    """A Redis restarted without persistence has no session to resume: a fresh start."""
    import uuid

    from channels.layers import get_channel_layer

    from tests.conftest import redis_layer_config, require_redis
    from tests.liveserver import RedisServer

    require_redis()
    with RedisServer() as store:
        config = redis_layer_config(f"forgot{uuid.uuid4().hex[:8]}")
        config["CONFIG"]["hosts"][0]["address"] = store.url
        settings.CHANNEL_LAYERS = {"default": config}
        layer = get_channel_layer()
        ana = await _member()
        await ana.drop()
        store.stop()
        store.start()  # empty, as after a restart
        for _ in range(10):  # as the browser client retries a 4503 (stale pooled connections)
            again = await ana.resume(timeout=10)
            if again.session_id is not None:
                break
            assert (await again.receive_event())[1]["code"] == 4503
            await again.receive_close()
            await asyncio.sleep(0.2)
        assert again.recovered is False and again.session_id != ana.session_id
        await again.disconnect()
        await layer.close_pools()
