"""
What the reshaped core promises beyond behaviour: what an idle socket holds, what connecting
costs the in-memory layer, and where state lives (docs/architecture.md).
"""

from __future__ import annotations

import asyncio

from easy_channels import JSONWebSocket
from easy_channels import worker as worker_module
from easy_channels.connection import State
from tests.utils import communicator, receive, request


class Room(JSONWebSocket):
    groups = ["core"]

    async def on_echo(self, payload):
        return payload

    async def on_whoami(self):
        return self.channel_name

    async def on_state(self):
        return self._connection.state.value


def _tasks(qualname: str) -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_coro().__qualname__ == qualname]


async def test_an_idle_socket_holds_no_worker_task_and_no_queue(channel_layer, monkeypatch):
    """
    Each socket had a worker task and an asyncio.Queue for life (~5 KiB): now they exist only
    while there is work, and after a client frame the worker lingers WORKER_LINGER seconds.
    """
    monkeypatch.setattr(worker_module, "WORKER_LINGER", 0.2)
    comms = [communicator(Room) for _ in range(5)]
    for comm in comms:
        assert (await comm.connect())[0]
    await asyncio.sleep(0.05)
    assert _tasks("Worker._work") == []
    assert (await request(comms[0], "echo", x=1))["data"] == {"x": 1}
    assert len(_tasks("Worker._work")) == 1  # lingering for the next frame
    assert (await request(comms[0], "echo", x=2))["data"] == {"x": 2}
    await asyncio.sleep(0.4)
    assert _tasks("Worker._work") == []
    # A lingering worker doesn't hold up a disconnect.
    assert (await request(comms[1], "echo", x=3))["data"] == {"x": 3}
    loop = asyncio.get_running_loop()
    started = loop.time()
    for comm in comms:
        await comm.disconnect()
    assert loop.time() - started < 0.15


async def test_connecting_does_not_sweep_the_in_memory_layer_per_socket(settings):
    """
    Channels' InMemoryChannelLayer.receive() sweeps every channel for expired messages on each
    call; with a reader per socket each connect cost as much as the sockets already there
    (10,000 sockets took 48 s). The hub's socket readers await the queue directly.
    """
    from channels.layers import get_channel_layer

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    layer = get_channel_layer()
    sweeps = 0
    sweep = layer._clean_expired

    def counting_sweep():
        nonlocal sweeps
        sweeps += 1
        sweep()

    layer._clean_expired = counting_sweep
    comms = [communicator(Room) for _ in range(40)]
    for comm in comms:
        assert (await comm.connect())[0]
    await asyncio.sleep(0.05)
    assert sweeps < 5, f"{sweeps} sweeps of the whole layer for 40 connects"
    # The socket channels still work, and a message past the layer's expiry is skipped.
    name = (await request(comms[0], "whoami"))["data"]
    await layer.send(name, {"type": "easy_channels.frame", "text": '{"event":"hi"}'})
    assert await receive(comms[0]) == {"event": "hi"}
    layer.expiry = -1
    await layer.send(name, {"type": "easy_channels.frame", "text": '{"event":"old"}'})
    assert await comms[0].receive_nothing(0.1)
    for comm in comms:
        await comm.disconnect()


async def test_connection_state_after_accept(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    comm = communicator(Room)
    assert (await comm.connect())[0]
    assert (await request(comm, "state"))["data"] == State.OPEN.value
    await comm.disconnect()


async def test_group_membership_is_recorded_once(settings):
    """The hub's Recipient is the one record of a socket's groups (joined_groups reads it)."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    seen = {}

    class Watch(Room):
        async def on_groups(self):
            seen["consumer"] = self.joined_groups
            seen["hub"] = frozenset(self._session.recipient.groups)
            return sorted(self.joined_groups)

    comm = communicator(Watch)
    assert (await comm.connect())[0]
    assert (await request(comm, "groups"))["data"] == ["core"]
    assert seen["consumer"] == seen["hub"] == {"core"}
    assert not hasattr(Watch, "_groups") and "_groups" not in vars(Watch())
    await comm.disconnect()


async def test_the_backend_is_chosen_once_per_layer_and_only_in_backends_py(channel_layer):
    """
    One seam per layer: the hub, the senders and the stats responder ask backend_for(layer),
    chosen on first use, instead of each call site asking redis_direct.supports() again.
    """
    from channels.layers import InMemoryChannelLayer
    from channels_redis.pubsub import RedisPubSubChannelLayer

    from easy_channels.backends import Backend, RedisDirect, backend_for

    direct = not isinstance(channel_layer, InMemoryChannelLayer)
    assert type(backend_for(channel_layer)) is (RedisDirect if direct else Backend)
    assert backend_for(channel_layer) is backend_for(channel_layer)
    assert type(backend_for(RedisPubSubChannelLayer())) is Backend


def test_no_module_but_backends_py_asks_which_layer_it_is():
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "easy_channels"
    askers = []
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "supports":
                askers.append(module.name)
    assert set(askers) <= {"backends.py", "redis_direct.py"}, askers
