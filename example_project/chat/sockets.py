"""
The chat's socket. Every feature of easy_channels in one small consumer.

A browser connects to ``/ws/chat/<room>/?nickname=ana`` (the route below, under
``EASY_CHANNELS["URL_PREFIX"]``) with the easy_channels client, or to the Socket.IO namespace
``/chat`` with socket.io-client: ``io("/chat", {auth: {room: "lobby", nickname: "ana"}})``. The
same class serves both. Client events: ``say``, ``typing``, ``history``.
Server-side events: ``introduce`` (members answering a newcomer) and ``announce`` (run in every
member by the announce view through ``easy_channels.group_call_event``).
"""

import re
import secrets
from urllib.parse import parse_qs

from django.core.exceptions import ValidationError

from easy_channels import JSONWebSocket, Reject, register, server_only

from .models import Message

NICKNAME_RE = re.compile(r"[A-Za-z0-9_-]{1,20}")
#: What the route's <slug:room> accepts; a Socket.IO client's room is checked against it.
ROOM_RE = re.compile(r"[-a-zA-Z0-9_]+")
RESERVED_NICKNAMES = {"admin", "server", "system"}
HISTORY_SIZE = 50
#: Every socket of every room joins this group, so announcements can reach everyone.
EVERYONE = "chat.everyone"


def room_group(room: str) -> str:
    return f"chat.room.{room}"


@register("chat/<slug:room>/", name="chat", namespace="/chat")
class ChatConsumer(JSONWebSocket):
    def room_and_nickname(self) -> tuple[str, str]:
        """
        Where the client named them: in the URL for the JSON protocol, in the CONNECT packet's
        auth object (``self.auth``) for Socket.IO, whose scope is the Engine.IO handshake's.
        """
        if "url_route" in self.scope:
            query = parse_qs(self.scope["query_string"].decode())
            return self.scope["url_route"]["kwargs"]["room"], query.get("nickname", [""])[0]
        room, nickname = self.auth.get("room"), self.auth.get("nickname")
        return (
            room if isinstance(room, str) else "",
            nickname if isinstance(nickname, str) else "",
        )

    async def on_connect(self):
        self.room, nickname = self.room_and_nickname()
        self.nickname = nickname.strip()
        if len(self.room) > 50:
            raise Reject(4400, "Room names are at most 50 characters.")
        if not ROOM_RE.fullmatch(self.room):  # never true of a URL's: its route is a slug
            raise Reject(4400, "Room names are letters, digits, '-' or '_'.")
        if not NICKNAME_RE.fullmatch(self.nickname):
            # The page shows this reason: the browser receives it in a connect_error frame
            # (socket.io-client: as the connect_error event's err.message, the code in err.data).
            raise Reject(4422, "Nicknames are 1-20 letters, digits, '-' or '_'.")
        if self.nickname.lower() in RESERVED_NICKNAMES:
            raise Reject(4409, f"The nickname {self.nickname!r} is reserved.")
        # One person may have several tabs open: members are told apart by a random id.
        self.member_id = secrets.token_hex(4)
        self.group = room_group(self.room)
        await self.group_add(self.group)
        await self.group_add(EVERYONE)
        me = {"id": self.member_id, "nickname": self.nickname}
        await self.emit("welcome", {**me, "room": self.room})
        await self.group_send(self.group, "joined", me, exclude_self=True)
        # Ask everyone already here to introduce themselves to the newcomer (this socket).
        await self.group_call_event(self.group, "introduce", {"to": self.channel_name})

    async def on_disconnect(self, code):
        # The socket has already left its groups; sending to one needs no membership.
        await self.group_send(self.group, "left", {"id": self.member_id})

    @server_only
    async def on_introduce(self, payload):
        if payload["to"] != self.channel_name:
            await self.send_to(
                payload["to"], "member", {"id": self.member_id, "nickname": self.nickname}
            )

    def on_say(self, payload):
        """A plain ``def``: it runs in a worker thread, so the ORM can be used directly."""
        text = str(payload.get("text", "")).strip()
        if not text:
            raise ValidationError({"text": ["Say something."]})
        if len(text) > 500:
            raise ValidationError({"text": ["At most 500 characters."]})
        message = Message.objects.create(room=self.room, nickname=self.nickname, text=text)
        self.group_send(self.group, "message", message.as_event())
        return {"id": message.pk}  # the acknowledgement's data, for request()

    async def on_typing(self):
        await self.group_send(
            self.group,
            "typing",
            {"id": self.member_id, "nickname": self.nickname},
            exclude_self=True,
        )

    def on_history(self):
        """The last messages of the room, oldest first (the page asks with request())."""
        latest = Message.objects.filter(room=self.room).order_by("-created", "-pk")[:HISTORY_SIZE]
        return [message.as_event() for message in reversed(latest)]

    @server_only
    async def on_announce(self, payload):
        """Run in every member by the announce view; never callable by a browser."""
        await self.emit("announcement", {"text": payload["text"], "room": self.room})
