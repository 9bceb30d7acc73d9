"""Small helpers over channels' WebsocketCommunicator."""

from __future__ import annotations

import json
import re
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


ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.rst"
DOCS = ROOT / "docs"

#: The pages whose ``python`` blocks run in one namespace, in this order (tests/test_readme.py):
#: README.rst's own, then the topic and reference pages it became the landing page of.
DOC_PAGES = [
    README,
    *(DOCS / "topics" / f"{name}.rst" for name in ("consumers", "middleware", "sending")),
    *(DOCS / "topics" / f"{name}.rst" for name in ("scaling", "testing", "client", "example")),
    *(DOCS / "ref" / f"{name}.rst" for name in ("commands", "checks", "api", "settings")),
]


def code_blocks(page: Path, language: str) -> list[tuple[str | None, str]]:
    """``(caption, code)`` of each ``.. code-block:: <language>`` of ``page``, in order."""
    blocks = []
    lines = page.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.strip() != f".. code-block:: {language}":
            continue
        indent = len(line) - len(line.lstrip())
        caption, body, options = None, [], True
        for following in lines[i + 1 :]:
            depth = len(following) - len(following.lstrip())
            if following.strip() and depth <= indent:
                break
            if options and following.strip().startswith(":"):
                name, _, value = following.strip()[1:].partition(":")
                caption = value.strip() if name == "caption" else caption
                continue
            options = False
            body.append(following)
        blocks.append((caption, textwrap.dedent("\n".join(body)).strip("\n")))
    return blocks


def fenced_blocks(page: Path, language: str) -> list[str]:
    """The ```` ```<language> ```` blocks of a Markdown page, in order."""
    return re.findall(rf"^```{re.escape(language)}\n(.*?)^```$", page.read_text(), re.M | re.S)


def readme_blocks(language: str) -> list[str]:
    """The ``<language>`` blocks of README.rst and its pages (:data:`DOC_PAGES`), in order."""
    return [code for page in DOC_PAGES for _, code in code_blocks(page, language)]
