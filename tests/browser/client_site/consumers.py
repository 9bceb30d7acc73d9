"""
Consumers the browser tests drive the client against.

``STATS[key]`` keeps what the server saw per test key (the ``<key>`` of the URL), readable at
``/stats/<key>/``: one uvicorn process serves both, so a module-level dict is enough.
"""

import asyncio
from urllib.parse import parse_qs

from easy_channels import JSONWebSocket, Reject, SocketError

STATS: dict[str, dict] = {}


def new_stats() -> dict:
    return {"connects": 0, "closes": [], "records": []}


def stats_for(scope) -> dict:
    return STATS.setdefault(scope["url_route"]["kwargs"]["key"], new_stats())


class Lab(JSONWebSocket):
    """One consumer with a handler per client feature under test."""

    def on_connect(self):
        self.stats = stats_for(self.scope)
        self.stats["connects"] += 1
        self.emit("welcome", {"connects": self.stats["connects"]})

    def on_disconnect(self, code):
        self.stats["closes"].append(code)

    def on_echo(self, payload):
        """Emit the payload back as ``echoed``, and answer with it."""
        self.emit("echoed", payload)
        return payload

    def on_ticks(self, payload):
        """Emit ``tick`` ``n`` times."""
        for i in range(payload["n"]):
            self.emit("tick", {"i": i})

    def on_fail(self, payload):
        raise SocketError("room_full", "Room is full", details={"room": payload.get("room")})

    async def on_slow(self, payload):
        await asyncio.sleep(payload["seconds"])
        return "late"

    def on_record(self, payload):
        self.stats["records"].append(payload["n"])

    def on_records(self):
        return self.stats["records"]

    def on_close_me(self, payload):
        self.close(payload["code"], payload.get("reason", "Bye."))

    async def on_close_while_busy(self):
        """Close the socket while the client waits for this frame's answer."""
        await self.close(4001, "Busy.")
        await asyncio.sleep(0.2)
        return "never delivered"

    def on_lifecycle_names(self):
        """Events named like the client's lifecycle events, then an ordinary one."""
        for name in ("connect", "disconnect", "reconnecting"):
            self.emit(name, {"from": "server"})
        self.emit("after", {})


class Refuse(JSONWebSocket):
    """Refuses every socket in on_connect, the way an app refuses an anonymous user."""

    def on_connect(self):
        stats_for(self.scope)["connects"] += 1
        raise Reject(4401, "Log in first.")


class Unavailable(JSONWebSocket):
    """The channel layer is down for its first connect (4503), up for the next ones."""

    def on_connect(self):
        from easy_channels import LayerUnavailable

        stats = stats_for(self.scope)
        stats["connects"] += 1
        if stats["connects"] == 1:
            raise LayerUnavailable("The test's layer is down.")


class Recovering(JSONWebSocket):
    """A chat with recovery: its page keeps its session through a network loss."""

    recovery = True

    def on_connect(self):
        self.stats = stats_for(self.scope)
        self.stats["connects"] += 1
        self.stats.setdefault("recovered", []).append(self.recovered)
        self.group_add("room-" + self.scope["url_route"]["kwargs"]["key"])

    def on_say(self, payload):
        self.group_send("room-" + self.scope["url_route"]["kwargs"]["key"], "said", payload)

    async def on_insert(self, payload):
        """A slow write whose answer the test loses on purpose: it must run once."""
        self.stats["records"].append(payload["n"])
        await asyncio.sleep(payload.get("seconds", 0))
        return {"row": payload["n"]}


class Present(JSONWebSocket):
    """
    Presence in ``room-<key>``: each socket is tracked as ``?name=`` (a user; their tabs share
    the key) with the meta ``{"tab": ?tab=}``.
    """

    def on_connect(self):
        query = parse_qs(self.scope["query_string"].decode())
        self.room = "room-" + self.scope["url_route"]["kwargs"]["key"]
        self.name = query["name"][0]
        self.presence_add(self.room, {"tab": query["tab"][0]}, key=self.name)

    def on_retab(self, payload):
        """A new meta: presence_add again (a fresh state here, a leave and a join elsewhere)."""
        self.presence_add(self.room, {"tab": payload["tab"]}, key=self.name)

    def on_leave_room(self):
        self.presence_discard(self.room)

    def on_drop(self):
        """Close with a code the client reconnects after (its on_connect tracks it again)."""
        self.close(4001, "Dropped.")
