"""
Code as users write it, type-checked by ``make lint`` (mypy --strict): subclassing the public
API in the ways README shows must need no cast and no ``type: ignore``.
"""

from __future__ import annotations

from typing import Any

import easy_channels
from easy_channels import JSONWebSocket, Reject, SocketError, SocketMiddleware, register
from easy_channels.middleware import Throttle
from easy_channels.testing import SocketCommunicator


class Auth(SocketMiddleware):
    async def on_connect(self) -> None:
        if not self.scope.get("user"):
            raise Reject(4401, "Log in first.")

    async def on_arrival(self, message: dict[str, Any]) -> None:
        if len(message.get("text") or "") > 10_000:
            raise SocketError("too_long", "Shorter, please.")

    def on_receive(self, message: dict[str, Any]) -> dict[str, Any] | None:
        return {**message, "seen": True}

    def on_disconnect(self, code: int) -> None:
        pass


class Strict(Throttle):
    rate = "1/s"


@register("chat/<str:room>/")
class Chat(JSONWebSocket):
    middlewares = [Auth, Strict, "easy_channels.middleware.RequireAuthentication"]
    groups = ["lobby"]

    async def on_connect(self) -> None:
        self.room: str = self.scope["url_route"]["kwargs"]["room"]
        await self.group_add(self.room)

    def on_disconnect(self, code: int) -> None:
        self.group_discard(self.room)

    async def on_say(self, payload: dict[str, Any]) -> str:
        await self.group_send(self.room, "said", {"text": payload["text"]}, exclude_self=True)
        if self.channel_name is not None:
            await self.send_to(self.channel_name, "echo", payload)
        return "sent"

    def on_history(self) -> list[str]:
        self.emit("history", {"items": []})
        return []


def notify(user_id: int) -> None:
    easy_channels.user_send(user_id, "ready", {"url": "/x"})
    easy_channels.group_send("lobby", "news", {"n": 1}, on_commit=True)


async def test_like(user: Any) -> None:
    comm = SocketCommunicator(Chat, "/ws/chat/a/", user=user)
    assert await comm.connect()
    reply = await comm.request("say", text="hi")
    assert reply == "sent"
    await comm.disconnect()
