"""Small helpers over channels' WebsocketCommunicator."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.urls import re_path


def communicator(consumer, path: str = "/ws/", route: str | None = None, **scope: Any):
    """A WebsocketCommunicator for ``consumer`` (a class, routed through URLRouter if ``route``)."""
    app = consumer.as_asgi() if isinstance(consumer, type) else consumer
    if route is not None:
        app = URLRouter([re_path(route, app)])
    comm = WebsocketCommunicator(app, path)
    comm.scope.update(scope)
    return comm


async def send(comm: WebsocketCommunicator, event: str, **payload: Any) -> None:
    await comm.send_to(text_data=json.dumps({"event": event, **payload}))


async def receive(comm: WebsocketCommunicator, timeout: float = 2) -> dict[str, Any]:
    return json.loads(await comm.receive_from(timeout))


async def request(comm: WebsocketCommunicator, event: str, ack: Any = 1, **payload: Any) -> Any:
    """Send with an ack id and return the whole reply frame."""
    await comm.send_to(text_data=json.dumps({"event": event, "ack": ack, **payload}))
    return await receive(comm)


def local_members(layer, group: str) -> set[str]:
    """The channel names of this process's sockets in ``group`` (see easy_channels.hub)."""
    from easy_channels.hub import hub_for

    return {member.channel_name for member in hub_for(layer).members.get(group, ())}


async def group_members(layer, group: str) -> set[str]:
    """The channel names the layer holds in ``group`` (in-memory or channels-redis)."""
    if hasattr(layer, "_group_key"):  # channels_redis.core.RedisChannelLayer
        connection = layer.connection(layer.consistent_hash(group))
        members = await connection.zrange(layer._group_key(group), 0, -1)
        return {m.decode() for m in members}
    return set(layer.groups.get(group, {}))


README = Path(__file__).resolve().parent.parent / "README.rst"


def readme_blocks(language: str) -> list[str]:
    """The ``.. code-block:: <language>`` blocks of README.rst, dedented, in order."""
    blocks = []
    lines = README.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.strip() != f".. code-block:: {language}":
            continue
        body = []
        for following in lines[i + 1 :]:
            if following.strip() and not following.startswith((" ", "\t")):
                break
            body.append(following)
        blocks.append(textwrap.dedent("\n".join(body)).strip("\n"))
    return blocks
