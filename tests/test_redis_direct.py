"""
Group sends and receives on channels-redis in one round trip each (easy_channels.redis_direct),
interoperating with channels-redis' own methods on the same storage.
"""

from __future__ import annotations

import logging
import uuid

import pytest
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer

import easy_channels
from easy_channels import redis_direct
from easy_channels.backends import InboxReads
from easy_channels.hub import hub_for
from easy_channels.outgoing import FRAME_TYPE
from tests.conftest import redis_layer_config, require_redis
from tests.test_groups import AsyncRoom, join
from tests.utils import group_members, receive

pytestmark = pytest.mark.redis


@pytest.fixture
async def redis_layer(settings):
    require_redis()
    settings.CHANNEL_LAYERS = {"default": redis_layer_config(f"easytest{uuid.uuid4().hex}")}
    layer = get_channel_layer()
    yield layer
    await layer.flush()  # only this test's prefix
    await layer.close_pools()


def _other_process(layer: RedisChannelLayer, **options) -> RedisChannelLayer:
    """A second layer on the same Redis and prefix: what another server process would hold."""
    return RedisChannelLayer(hosts=layer.hosts, prefix=layer.prefix, **options)


async def test_the_stock_layer_takes_the_direct_path_and_a_changed_one_does_not(redis_layer):
    assert redis_direct.supports(redis_layer)

    class Custom(RedisChannelLayer):
        async def group_send(self, group, message):  # e.g. adds auditing
            await super().group_send(group, message)

    assert not redis_direct.supports(Custom(hosts=redis_layer.hosts))
    assert not redis_direct.supports(object())  # not a layer at all


async def test_another_channels_redis_major_version_takes_the_stock_path(redis_layer, monkeypatch):
    """Its storage may differ from the 4.x one redis_direct reads and writes."""
    import channels_redis

    monkeypatch.setattr(channels_redis, "__version__", "5.0.0")
    assert not redis_direct.supports(RedisChannelLayer(hosts=redis_layer.hosts))


async def test_one_round_trip_per_group_send_and_none_to_receive_locally(settings):
    """
    Watched with MONITOR in a Redis of its own: a broadcast to a group whose members are in
    the sending process (its event loop) is one EVALSHA, which checks the group's members,
    and no BZPOPMIN: the members get it from the sender, not back from Redis (that took one
    BZPOPMIN per broadcast before). channels-redis' own methods make four round trips to send
    and four to receive (this test fails with redis_direct.supports returning False).
    """
    import asyncio

    from redis.asyncio import Redis

    from tests.liveserver import RedisServer

    require_redis()
    with RedisServer() as store:
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [{"address": store.url, "socket_timeout": 15}]},
            }
        }
        layer = get_channel_layer()
        members = await join(AsyncRoom, "counted", n=3)
        await easy_channels.agroup_send("counted", "warm", {})  # loads the script, learns members
        for comm in members:
            assert (await receive(comm))["event"] == "warm"

        admin = Redis.from_url(store.url)
        seen: list[str] = []
        watching = asyncio.Event()

        async def watch() -> None:
            async with admin.monitor() as monitor:
                watching.set()
                async for command in monitor.listen():
                    if command["client_type"] != "lua":  # commands run by a script aren't trips
                        seen.append(command["command"].split()[0].upper())

        watcher = asyncio.create_task(watch())
        await watching.wait()
        await asyncio.sleep(0.1)
        broadcasts = 20
        for i in range(broadcasts):
            await easy_channels.agroup_send("counted", "tick", {"i": i})
            for comm in members:
                assert await receive(comm) == {"event": "tick", "i": i}
        await asyncio.sleep(0.1)
        watcher.cancel()
        for comm in members:
            await comm.disconnect()
        await admin.aclose()
        await layer.close_pools()
    calls = {name: seen.count(name) for name in set(seen)}
    assert calls.get("EVALSHA") == broadcasts, calls
    # The hub's reader blocks in BZPOPMIN 2 s at a time: a few, none per broadcast.
    assert calls.get("BZPOPMIN", 0) <= 3, calls
    assert sum(calls.values()) <= broadcasts + 3, calls


async def test_local_members_get_it_from_the_sender_and_others_through_redis(redis_layer):
    """Members here get a group message once, from the sender; another process's, via Redis."""
    other = _other_process(redis_layer)
    remote = await other.new_channel()
    await other.group_add("mixed", remote)
    members = await join(AsyncRoom, "mixed", n=2)
    payload = {"items": [1, 2]}
    await easy_channels.agroup_call_event("mixed", "note", payload)
    await easy_channels.agroup_send("mixed", "news", {"n": 1})
    for comm in members:
        assert await receive(comm) == {"event": "news", "n": 1}
        assert await comm.receive_nothing(0.2)  # once: not again through Redis
    first, second = await other.receive(remote), await other.receive(remote)
    assert first["type"] == "easy_channels.call" and second["type"] == "easy_channels.frame"
    for comm in members:
        await comm.disconnect()
    await other.close_pools()


async def test_group_send_reaches_raw_channels_members_of_the_group(redis_layer):
    """Channels' own consumers in the same group get our group sends, as channels-redis sends."""
    (ours,) = await join(AsyncRoom, "mixed", n=1)
    specific = await redis_layer.new_channel()  # a raw consumer's channel in this process
    plain = "rawworker"  # a worker's plain channel
    for channel in (specific, plain):
        await redis_layer.group_add("mixed", channel)
    await easy_channels.agroup_send("mixed", "hello", {"n": 1})
    assert await receive(ours) == {"event": "hello", "n": 1}
    for channel in (specific, plain):
        message = await redis_layer.receive(channel)
        assert message["type"] == FRAME_TYPE and '"hello"' in message["text"]
        assert "__asgi_channel__" not in message
    await ours.disconnect()


async def test_raw_group_send_reaches_our_sockets(redis_layer):
    """channels-redis' own group_send, from another process, reaches the hub's group channel."""
    a, b = await join(AsyncRoom, "rawsend")
    other = _other_process(redis_layer)
    await other.group_send("rawsend", {"type": FRAME_TYPE, "text": '{"event":"raw"}'})
    for comm in (a, b):
        assert await receive(comm) == {"event": "raw"}
    await other.close_pools()
    await a.disconnect()
    await b.disconnect()


async def test_members_that_changed_since_the_last_send_all_get_the_next_one(redis_layer):
    """The sender's memory of a group's members is checked by Redis, never trusted."""
    other = _other_process(redis_layer)
    first, second = await other.new_channel(), await other.new_channel()
    await other.group_add("changing", first)
    await easy_channels.agroup_send("changing", "one", {})
    assert '"one"' in (await other.receive(first))["text"]

    await other.group_add("changing", second)  # joins after this sender learned the members
    await easy_channels.agroup_send("changing", "two", {})
    assert '"two"' in (await other.receive(first))["text"]
    assert '"two"' in (await other.receive(second))["text"]

    await other.group_discard("changing", first)
    await easy_channels.agroup_send("changing", "three", {})
    assert '"three"' in (await other.receive(second))["text"]
    connection = other.connection(0)
    assert await connection.zcard(other.prefix + other.non_local_name(first)) == 0
    await other.close_pools()


async def test_members_past_group_expiry_are_dropped_and_not_sent_to(redis_layer):
    """channels-redis' group_expiry: a membership not renewed in time ends at the next send."""
    stale, fresh = "stalechannel", "freshchannel"
    await redis_layer.group_add("expiring", fresh)
    connection = redis_layer.connection(0)
    long_ago = 1_000_000  # a score (join time) far beyond group_expiry
    await connection.zadd(redis_layer._group_key("expiring"), {stale: long_ago})
    await easy_channels.agroup_send("expiring", "ping", {})
    assert '"ping"' in (await redis_layer.receive(fresh))["text"]
    assert await group_members(redis_layer, "expiring") == {fresh}
    assert await connection.zcard(redis_layer.prefix + stale) == 0


async def test_a_member_at_capacity_loses_the_message_counted_and_logged(redis_layer, caplog):
    """
    Every loss is counted; the warning comes once a minute per group at most, since a killed
    process stays a member (with a full channel) until group_expiry.
    """
    other = _other_process(redis_layer, capacity=2)
    full, roomy = "fullchannel", "roomychannel"
    for channel in (full, roomy):
        await other.group_add("crowded", channel)
    for _ in range(2):
        await other.send(full, {"type": "filler"})
    redis_layer.capacity = 2
    before = easy_channels.stats()["drops"].get("channel_full", 0)
    with caplog.at_level(logging.WARNING, logger="easy_channels"):
        await easy_channels.agroup_send("crowded", "news", {})
        assert easy_channels.stats()["drops"]["channel_full"] == before + 1
        assert "channel(s) of group 'crowded' at capacity lost 1 message(s)" in caplog.text
        assert '"news"' in (await other.receive(roomy))["text"]
        caplog.clear()
        await easy_channels.agroup_send("crowded", "more_news", {})
        assert easy_channels.stats()["drops"]["channel_full"] == before + 2
        assert "crowded" not in caplog.text
    assert [(await other.receive(full))["type"] for _ in range(2)] == ["filler", "filler"]
    await other.close_pools()


async def test_hub_group_channels_share_one_channel_key_read_by_one_reader(redis_layer):
    (a,) = await join(AsyncRoom, "left", n=1)
    (b,) = await join(AsyncRoom, "right", n=1)
    hub = hub_for(redis_layer)
    channels = [hub.channels["left"], hub.channels["right"]]
    assert isinstance(hub.reads, InboxReads)  # the backend, chosen once for the layer
    assert {redis_layer.non_local_name(c) for c in channels} == {hub.reads.inbox}
    assert hub.reads.reading  # one reader for the groups and the sockets
    await a.disconnect()
    await b.disconnect()
    assert not hub.reads.reading and hub.reads.handlers == {}


async def test_the_stats_responder_reads_its_own_inbox_and_stops_at_once(redis_layer):
    """
    It reads with one BZPOPMIN at a time (redis_direct.pop), not channels-redis' receive,
    which once kept a cancelled responder alive through three cancels at a loop's shutdown.
    """
    import asyncio

    from easy_channels import processes

    (comm,) = await join(AsyncRoom, "any", n=1)
    for _ in range(50):  # the responder joins its group in the background
        members = await group_members(redis_layer, processes.PROCESS_GROUP)
        if members:
            break
        await asyncio.sleep(0.05)
    (channel,) = members
    assert channel.startswith("easy_channels.hub.") and channel.endswith("!stats"), channel
    (reply,) = await processes.acollect_stats(redis_layer, wait=0.5)
    assert reply["sockets_open"] >= 1

    task = processes._responders.existing(redis_layer).task
    await comm.disconnect()
    await asyncio.wait({task}, timeout=1)
    assert task.done()
    for _ in range(20):  # it leaves as it stops (shielded from the cancel)
        if not await group_members(redis_layer, processes.PROCESS_GROUP):
            break
        await asyncio.sleep(0.05)
    assert await group_members(redis_layer, processes.PROCESS_GROUP) == set()
