"""The namespaces of the Socket.IO conformance suite (see ``settings.py``)."""

from __future__ import annotations

import easy_channels
from easy_channels import JSONWebSocket, Reject, SocketError, on


class Main(JSONWebSocket):
    """Namespace "/" of the conformance suite: echo the CONNECT auth, messages and acks."""

    def on_connect(self):
        self.emit("auth", self.auth)

    def on_message(self, *args):
        self.emit("message-back", args)  # a tuple is sent as several arguments

    @on("message-with-ack")
    def message_with_ack(self, *args):
        return args  # the ack's arguments


class Custom(JSONWebSocket):
    """Namespace "/custom": echo the CONNECT auth."""

    def on_connect(self):
        self.emit("auth", self.auth)


class Room(JSONWebSocket):
    """
    Rooms for both protocols: Socket.IO namespace "/room" and JSON route "room/" (one group
    can hold members of both).
    """

    def on_connect(self):
        if self.auth.get("token") == "bad":
            raise Reject(4401, "Bad token.")
        self.emit("welcome", {"auth": self.auth})

    async def on_join(self, room):
        if isinstance(room, dict):  # a JSON client: {"event": "join", "room": ...}
            room = room["room"]
        await self.group_add(room)
        return sorted(self.joined_groups)

    async def on_say(self, payload):
        await self.group_send(
            payload["room"],
            "said",
            {"text": payload["text"]},
            exclude_self=payload.get("exclude_self", False),
        )

    @on("new message")
    def new_message(self, text):
        return {"echo": text}

    def on_two(self):
        return ("a", 2)

    def on_refuse(self):
        raise SocketError("not_allowed", "Nope.", details={"why": "test"})

    def on_binary(self, data):
        return {"got": data, "size": len(data)}

    async def on_whoami(self):
        return self.channel_name

    async def on_whisper(self, payload):
        await self.send_to(payload["to"], "whispered", {"text": payload["text"]})

    async def on_shout(self, payload):
        """Group sends of payloads the JSON protocol can't carry (and a dict, last)."""
        room = payload["room"]
        await self.group_send(room, "shouted", ("x", 2, {"k": 1}))  # three arguments
        await self.group_send(room, "shouted", "a string")
        await self.group_send(room, "shouted", [1, 2])
        await self.group_send(room, "shouted", {"blob": b"\x00\xffbin"})  # binary
        await self.send_to(payload["to"], "shouted", ("to", "you"))
        await self.group_send(room, "shouted", {"last": True})

    def on_shout_from_thread(self, payload):
        """The module functions, from a sync handler's thread."""
        easy_channels.group_send(payload["room"], "shouted", ("from", "thread"))
        easy_channels.send_to(self.channel_name, "shouted", b"\x01raw")

    async def on_poke(self, payload):
        await self.group_call_event(payload["room"], "poked", {"by": payload["by"]})

    async def on_poked(self, payload):
        await self.emit("poked", payload)

    async def on_ask(self, payload):
        return await self.call("question", payload, timeout=2)

    async def on_track(self, payload):
        await self.presence_add(payload["room"], {"name": payload["name"]}, key=payload["name"])

    async def on_untrack(self, payload):
        await self.presence_discard(payload["room"])

    async def on_leave(self):
        await self.close()


class RecoveringRoom(Room):
    """Room with recovery = True: Socket.IO's connection state recovery (namespace /recovering)."""

    recovery = True

    def on_connect(self):
        self.emit("welcome", {"recovered": self.recovered})
