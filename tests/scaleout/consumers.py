"""
The consumer of the scale-out project, served at ``/ws/room/?name=<name>[&user=<pk>]``.

Every handler answers its ack, so a test knows when the send it asked for has been handed to
the channel layer; frames say which process (``pid``) sent or handled them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qs

import easy_channels
from easy_channels import JSONWebSocket, SocketMiddleware, server_only


@dataclass(frozen=True)
class SocketUser:
    """An authenticated user without a database: all easy_channels' user groups need is ``pk``."""

    pk: int
    is_authenticated = True
    is_anonymous = False


class QueryUser(SocketMiddleware):
    """Names the socket (``?name=``) and logs it in as ``?user=<pk>`` (before the user groups)."""

    async def on_connect(self):
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.consumer.nick = query.get("name", ["anonymous"])[0]
        if "user" in query:
            self.scope["user"] = SocketUser(int(query["user"][0]))


class Room(JSONWebSocket):
    middlewares = [QueryUser]

    def _whoami(self):
        return {
            "name": self.nick,
            "pid": os.getpid(),
            "channel": self.channel_name,
            "groups": sorted(self.joined_groups),
        }

    async def on_join(self, payload):
        await self.group_add(payload["group"])
        return self._whoami()

    async def on_whoami(self):
        return self._whoami()

    async def on_say(self, payload):
        await self.group_send(
            payload["group"],
            "said",
            {"text": payload["text"], "from": self.nick, "pid": os.getpid()},
            exclude_self=payload.get("exclude_self", False),
        )
        return "sent"

    def on_say_sync(self, payload):
        """The same from a ``def`` handler (run in a worker thread), called plainly."""
        self.group_send(
            payload["group"],
            "said",
            {"text": payload["text"], "from": self.nick, "pid": os.getpid()},
            exclude_self=payload.get("exclude_self", False),
        )
        return "sent"

    async def on_call(self, payload):
        await self.group_call_event(
            payload["group"], "announce", {"text": payload["text"], "from": self.nick}
        )
        return "called"

    @server_only
    async def on_announce(self, payload):
        """Reached by group_call_event only; the frame names the process that ran it."""
        await self.emit("announced", {**payload, "to": self.nick, "pid": os.getpid()})

    async def on_whisper(self, payload):
        await self.send_to(
            payload["to"],
            "whispered",
            {"text": payload["text"], "from": self.nick, "pid": os.getpid()},
        )
        return "sent"

    def on_notify_user(self, payload):
        """easy_channels.user_send, the sync sender, from a sync handler."""
        easy_channels.user_send(
            payload["user"], "notified", {"text": payload["text"], "from": self.nick}
        )
        return "sent"

    def on_close_user(self, payload):
        easy_channels.close_user(payload["user"], payload["code"], payload.get("reason"))
        return "sent"

    async def on_close_group(self, payload):
        """easy_channels.aclose_group, the async twin, from an async handler."""
        await easy_channels.aclose_group(payload["group"], payload["code"], payload.get("reason"))
        return "sent"

    async def on_track(self, payload):
        """presence_add(group, meta, key) (tests/test_presence_servers.py)."""
        await self.presence_add(payload["group"], payload.get("meta"), payload.get("key"))
        return self._whoami()

    async def on_untrack(self, payload):
        await self.presence_discard(payload["group"])
        return "untracked"

    async def on_presence(self, payload):
        """easy_channels.apresence(group), as this process reads it."""
        return await easy_channels.apresence(payload["group"])

    async def on_stats(self):
        """This process's counters (easy_channels.stats())."""
        return easy_channels.stats()

    async def on_objects(self):
        """Live socket objects and tasks in this process, after a full garbage collection."""
        import asyncio
        import gc

        gc.collect()
        sockets = sum(isinstance(o, JSONWebSocket) for o in gc.get_objects())
        tasks = sorted(t.get_coro().__qualname__ for t in asyncio.all_tasks())
        return {"sockets": sockets, "tasks": tasks}


class RecoveringRoom(Room):
    """The same room with recovery (tests/test_recovery_servers.py)."""

    recovery = True

    async def on_connect(self):
        self.emit("hello", {"recovered": self.recovered, "groups": sorted(self.joined_groups)})


class DiscreetRoom(Room):
    """The same room, whose sockets don't see entries whose meta says ``invisible``."""

    def presence_visible(self, key, meta):
        return not meta.get("invisible")
