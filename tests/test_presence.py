"""
Presence (``presence_add``, ``presence()``), through the test kit, on the in-memory layer and on
Redis: the state a socket gets, the diffs the others get (coalesced), tabs of one key, meta
updates, visibility, the module functions, and nothing left behind.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured

import easy_channels
from easy_channels import JSONWebSocket
from easy_channels.testing import SocketCommunicator
from tests.utils import DOCS, code_blocks


class Lobby(JSONWebSocket):
    async def on_track(self, payload):
        await self.presence_add(
            payload.get("group", "lobby"), payload.get("meta"), payload.get("key")
        )

    async def on_untrack(self, payload):
        await self.presence_discard(payload.get("group", "lobby"))

    async def on_leave(self, payload):
        await self.group_discard(payload.get("group", "lobby"))

    def on_whoami(self):
        return self.channel_name


class SyncLobby(JSONWebSocket):
    """The same from sync handlers."""

    def on_track(self, payload):
        self.presence_add(payload.get("group", "lobby"), payload.get("meta"), payload.get("key"))

    def on_untrack(self, payload):
        self.presence_discard(payload.get("group", "lobby"))


class Discreet(Lobby):
    """Sees nobody who asked to be invisible (but itself)."""

    def presence_visible(self, key, meta):
        return not meta.get("invisible") or key == self.scope["query_string"].decode()


async def _tracked(
    key, meta=None, cls=Lobby, group="lobby", path="/ws/lobby/", **kwargs
) -> SocketCommunicator:
    comm = SocketCommunicator(cls, path, **kwargs)
    assert await comm.connect()
    await comm.request("track", key=key, meta=meta, group=group)
    event, state = await comm.receive_event()
    assert event == "presence_state"
    comm.state = state
    return comm


async def _diffs(comm: SocketCommunicator, until) -> list[dict]:
    """presence_diff frames until ``until(view)`` holds for the view they build."""
    diffs = []
    while not until(comm.view):
        event, diff = await comm.receive_event(timeout=5)
        assert event == "presence_diff"
        diffs.append(diff)
        _apply(comm.view, diff)
    return diffs


def _apply(view: dict, diff: dict) -> None:
    """What a client does with a diff: add the joins' metas, remove the leaves' (one each)."""
    for key, metas in diff["joins"].items():
        view.setdefault(key, []).extend(metas)
    for key, metas in diff["leaves"].items():
        for meta in metas:
            view[key].remove(meta)
        if not view[key]:
            del view[key]


def _view(comm: SocketCommunicator) -> dict:
    comm.view = {key: list(metas) for key, metas in comm.state["members"].items()}
    return comm.view


@pytest.mark.parametrize("cls", [Lobby, SyncLobby])
async def test_state_then_diffs_as_others_come_and_go(channel_layer, cls):
    ana = await _tracked("ana", {"status": "here"}, cls=cls)
    assert ana.state == {"group": "lobby", "members": {"ana": [{"status": "here"}]}}
    _view(ana)
    bob = await _tracked("bob", cls=cls)
    assert bob.state["members"] == {"ana": [{"status": "here"}], "bob": [{}]}
    assert await _diffs(ana, lambda view: "bob" in view) == [
        {"group": "lobby", "joins": {"bob": [{}]}, "leaves": {}}
    ]
    await bob.request("untrack")
    assert await bob.receive_event() == ("presence_state", {"group": "lobby", "members": {}})
    assert await _diffs(ana, lambda view: "bob" not in view) == [
        {"group": "lobby", "joins": {}, "leaves": {"bob": [{}]}}
    ]
    assert await easy_channels.apresence("lobby") == {"ana": [{"status": "here"}]}
    await bob.assert_nothing_received(0.3)  # no longer tracked: told nothing more
    for comm in (ana, bob):
        await comm.disconnect()


async def test_tabs_of_one_key(channel_layer):
    watcher = await _tracked("watcher")
    _view(watcher)
    tab1 = await _tracked("ana", {"tab": 1})
    tab2 = await _tracked("ana", {"tab": 2})
    await _diffs(watcher, lambda view: len(view.get("ana", [])) == 2)
    assert (await easy_channels.apresence("lobby"))["ana"] == [{"tab": 1}, {"tab": 2}]
    await tab1.disconnect()  # one tab closes: the key stays
    diffs = await _diffs(watcher, lambda view: view.get("ana") == [{"tab": 2}])
    assert diffs[-1]["leaves"] == {"ana": [{"tab": 1}]}
    await tab2.disconnect()  # the last one: the key leaves with its last meta
    diffs = await _diffs(watcher, lambda view: "ana" not in view)
    assert diffs[-1]["leaves"] == {"ana": [{"tab": 2}]}
    assert await easy_channels.apresence("lobby") == {"watcher": [{}]}
    await watcher.disconnect()


async def test_a_join_storm_is_coalesced(channel_layer):
    watcher = await _tracked("watcher")
    _view(watcher)
    storm = [SocketCommunicator(Lobby, "/ws/lobby/", timeout=10) for _ in range(50)]
    assert all(await asyncio.gather(*(comm.connect() for comm in storm)))
    await asyncio.gather(*(comm.request("track", key=f"k{n}") for n, comm in enumerate(storm)))
    diffs = await _diffs(watcher, lambda view: len(view) == 51)
    assert len(diffs) <= 5  # a frame per INTERVAL, not one per join
    assert set(watcher.view) == {"watcher", *(f"k{n}" for n in range(50))}
    await asyncio.gather(*(comm.disconnect() for comm in storm))
    await _diffs(watcher, lambda view: len(view) == 1)
    await watcher.disconnect()


async def test_presence_add_again_replaces_the_meta(channel_layer):
    watcher = await _tracked("watcher")
    _view(watcher)
    ana = await _tracked("ana", {"status": "here"})
    await _diffs(watcher, lambda view: "ana" in view)
    await ana.request("track", key="ana", meta={"status": "away"})
    event, state = await ana.receive_event()  # a fresh state, and no diff of its own change
    assert event == "presence_state" and state["members"]["ana"] == [{"status": "away"}]
    diffs = await _diffs(watcher, lambda view: view.get("ana") == [{"status": "away"}])
    assert diffs == [
        {
            "group": "lobby",
            "joins": {"ana": [{"status": "away"}]},
            "leaves": {"ana": [{"status": "here"}]},
        }
    ]
    await ana.assert_nothing_received(0.3)
    for comm in (ana, watcher):
        await comm.disconnect()


async def test_keys_default_to_the_user_or_the_socket(channel_layer):
    user = await sync_to_async(User.objects.create_user)("cyd", password="x")
    cyd = await _tracked(None, user=user)
    anon = await _tracked(None)
    members = await easy_channels.apresence("lobby")
    assert set(members) == {str(user.pk), await anon.request("whoami")}
    for comm in (cyd, anon):
        await comm.disconnect()


async def test_visibility_is_per_socket(channel_layer):
    shy = await _tracked("shy", {"invisible": True})
    seer = await _tracked("seer", cls=Discreet, path="/ws/lobby/?seer")
    assert seer.state["members"] == {"seer": [{}]}  # shy is left out
    assert set(shy.state["members"]) == {"shy"}
    _view(seer)
    _view(shy)
    loud = await _tracked("loud")
    await _diffs(seer, lambda view: "loud" in view)
    await _diffs(shy, lambda view: "loud" in view and "seer" in view)
    assert set(seer.view) == {"seer", "loud"}
    assert set(await easy_channels.apresence("lobby")) == {"shy", "seer", "loud"}
    for comm in (shy, seer, loud):
        await comm.disconnect()


async def test_group_discard_stops_tracking(channel_layer):
    watcher = await _tracked("watcher")
    _view(watcher)
    ana = await _tracked("ana")
    await _diffs(watcher, lambda view: "ana" in view)
    await ana.request("leave")
    assert await ana.receive_event() == ("presence_state", {"group": "lobby", "members": {}})
    await _diffs(watcher, lambda view: "ana" not in view)
    for comm in (ana, watcher):
        await comm.disconnect()


async def test_presence_from_sync_code(channel_layer):
    ana = await _tracked("ana", {"n": 1})
    assert await sync_to_async(easy_channels.presence)("lobby") == {"ana": [{"n": 1}]}
    assert await sync_to_async(easy_channels.presence)("nobody-here") == {}
    await ana.disconnect()
    assert await sync_to_async(easy_channels.presence)("lobby") == {}


async def test_presence_in_async_code_refuses_the_sync_function(channel_layer):
    with pytest.raises(RuntimeError, match="apresence"):
        easy_channels.presence("lobby")


async def test_meta_must_be_a_json_object(channel_layer):
    comm = SocketCommunicator(Lobby, "/ws/lobby/")
    assert await comm.connect()
    with pytest.raises(easy_channels.SocketError):
        await comm.request("track", key="x", meta=["not", "a", "dict"])
    await comm.disconnect()


async def test_a_layer_that_cant_keep_presence_is_named(settings):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {}}
    }
    with pytest.raises(ImproperlyConfigured, match="RedisChannelLayer on one Redis server"):
        await easy_channels.apresence("lobby")


async def test_sockets_that_come_and_go_leave_nothing(channel_layer):
    """2,000 sockets tracked in 4 groups come and go: no entry, view or key is left."""
    from easy_channels.presence_store import MemoryPresence, store_for
    from easy_channels.presence_tracker import tracker_for

    for wave in range(4):
        sockets = [SocketCommunicator(Lobby, "/ws/lobby/", timeout=20) for _ in range(500)]
        assert all(await asyncio.gather(*(comm.connect() for comm in sockets)))
        await asyncio.gather(
            *(
                comm.request("track", group=f"wave{wave}", key=f"k{n % 50}")
                for n, comm in enumerate(sockets)
            )
        )
        assert len(await easy_channels.apresence(f"wave{wave}")) == 50
        await asyncio.gather(*(comm.disconnect() for comm in sockets))
    tracker = tracker_for(channel_layer)
    store = store_for(channel_layer)
    for _ in range(50):  # the heartbeat ends, and says so to Redis, once nothing is tracked
        if tracker.heartbeat is None or tracker.heartbeat.done():
            break
        await asyncio.sleep(0.1)
    assert (tracker.groups, tracker.tracked, tracker.stale) == ({}, {}, {})
    if isinstance(store, MemoryPresence):
        assert store.entries_by_group == {}
    else:
        left = [key async for key in channel_layer.connection(0).scan_iter(f"{store.prefix}*")]
        assert left == []


async def test_the_presence_command_lists_groups_and_their_members(channel_layer):
    import io

    from django.core.management import call_command

    ana, bob = await _tracked("ana", {"n": 1}), await _tracked("bob", group="other")
    tab = await _tracked("ana", {"n": 2})

    def run(*args):
        out = io.StringIO()
        call_command("easy_channels_presence", *args, stdout=out)
        return out.getvalue()

    listing = await sync_to_async(run)()
    assert listing.splitlines()[1:] == [
        f"{'lobby':<40} {1:>8} {2:>8}",  # one key (ana), two sockets
        f"{'other':<40} {1:>8} {1:>8}",
    ]
    assert json.loads(await sync_to_async(run)("lobby", "--json")) == {
        "lobby": {"ana": [{"n": 1}, {"n": 2}]}
    }
    assert "ana: [{" in await sync_to_async(run)("lobby")
    for comm in (ana, bob, tab):
        await comm.disconnect()
    assert "No presence is tracked." in await sync_to_async(run)()


@pytest.mark.parametrize(
    "presence, problem",
    [
        ({"INTERVAL": 0}, "['INTERVAL'] is 0"),
        ({"TIMEOUT": "30"}, "['TIMEOUT'] is '30'"),
        ({"TIMOUT": 30}, "unknown key 'TIMOUT'"),
        ({"INTERVAL": 1, "TIMEOUT": 2}, "under three INTERVALs"),
    ],
)
def test_presence_settings_are_checked(settings, presence, problem):
    from django.core.checks import run_checks

    settings.EASY_CHANNELS = {"PRESENCE": presence}
    errors = [m for m in run_checks() if m.id == "easy_channels.E011"]
    assert len(errors) == 1 and problem in errors[0].msg, errors


PRESENCE_PAGE = DOCS / "topics" / "presence.rst"


async def test_the_presence_pages_examples(channel_layer, clean_registry):
    """docs/topics/presence.rst: its consumer, view, visibility rule and test, as shown."""
    from django.test import RequestFactory

    consumer_code, view_code, visible_code, test_code = (
        code for _, code in code_blocks(PRESENCE_PAGE, "py") if "EASY_CHANNELS" not in code
    )
    clean_registry._registry = {}  # only the page's route
    namespace: dict = {"__name__": "chat.sockets"}
    exec(compile(consumer_code, str(PRESENCE_PAGE), "exec"), namespace)
    exec(compile(test_code, str(PRESENCE_PAGE), "exec"), namespace)
    await namespace["test_the_room_sees_who_comes"]()

    exec(compile(view_code, str(PRESENCE_PAGE), "exec"), namespace)
    ana = SocketCommunicator("/ws/room/lobby/?laptop")
    assert await ana.connect()
    response = await sync_to_async(namespace["who_is_here"])(RequestFactory().get("/"), "lobby")
    assert json.loads(response.content) == {"online": [await _channel_name(ana)]}
    await ana.request("away", device="tablet")  # the page's on_away: a new meta
    assert list((await easy_channels.apresence("lobby")).values()) == [
        [{"device": "tablet", "away": True}]
    ]
    await ana.disconnect()

    exec(compile(visible_code, str(PRESENCE_PAGE), "exec"), namespace)
    shy = await _tracked("7", {"invisible": True}, group="everyone")
    friend = await _tracked("9", group="everyone")
    stranger = await _tracked("5", group="everyone")
    me = SocketCommunicator(namespace["ContactsOnly"], "/ws/x/")
    assert await me.connect()
    event, state = await me.receive_event()
    assert event == "presence_state" and state["members"] == {"9": [{}]}
    for comm in (shy, friend, stranger, me):
        await comm.disconnect()


async def _channel_name(comm: SocketCommunicator) -> str:
    """A socket's key when it is anonymous: its channel name, as presence_state shows it."""
    members = (await easy_channels.apresence("lobby")).keys()
    [name] = members
    return name


@pytest.mark.redis
async def test_entries_of_a_process_that_stopped_beating_are_left_out(settings):
    """Between a process's death and its reaping, presence() no longer lists its entries."""
    import uuid

    from channels.layers import get_channel_layer

    from easy_channels.presence_store import store_for
    from tests.conftest import redis_layer_config, require_redis

    require_redis()
    settings.CHANNEL_LAYERS = {"default": redis_layer_config(f"easytest{uuid.uuid4().hex}")}
    layer = get_channel_layer()
    store = store_for(layer)
    try:
        for proc, lifetime in (("deadbeef0001", 0.001), ("alive0000002", 30)):
            await store.beat(proc, lifetime, ["lobby"])
            joins = {f"{proc}|1": (proc, {"n": 1})}
            await store.change(proc, "lobby", joins, (), still=True, snapshot=False)
            await store.beat(proc, lifetime, ["lobby"])
        await asyncio.sleep(0.05)  # the first one is overdue now
        assert await easy_channels.apresence("lobby") == {"alive0000002": [{"n": 1}]}
        assert list(await store.entries("lobby")) == ["alive0000002|1"]
        assert await store.reap() == {"lobby": ["deadbeef0001|1"]}
        assert await store.reap() == {}  # reaped once
        assert await easy_channels.apresence("lobby") == {"alive0000002": [{"n": 1}]}
    finally:
        await layer.flush()
        await layer.close_pools()
