"""
``SocketCommunicator``: test your sockets the way a client uses them.

::

    from easy_channels.testing import SocketCommunicator

    async def test_chat():
        ana = SocketCommunicator("/ws/chat/ana/", user=ana_user)   # through websocket_router
        assert await ana.connect()
        await ana.emit("say", text="hi")
        assert await ana.receive_event() == ("said", {"text": "hi"})
        assert await ana.request("history") == ["hi"]               # the ack's data
        await ana.assert_nothing_received()
        await ana.disconnect()

It is channels' ``WebsocketCommunicator`` (every method of it still works) speaking the
easy_channels protocol.
"""

from __future__ import annotations

import json
from collections import deque
from itertools import count
from typing import Any, cast

from channels.testing import WebsocketCommunicator

from .exceptions import SocketError

__all__ = ["ConnectResult", "SocketCommunicator"]


class ConnectResult(tuple[bool, Any]):
    """``(connected, code_or_subprotocol)`` as channels returns it, but truthy only if connected."""

    def __bool__(self) -> bool:
        return bool(self[0])


class SocketCommunicator(WebsocketCommunicator):
    """
    ``SocketCommunicator(path_or_app, path=None, user=None)``.

    With a path only, the socket goes through ``easy_channels.routing.websocket_router`` (every
    registered route); pass an ASGI app (or a consumer class) and a path to test something else.
    ``user`` is put in ``scope["user"]``, as ``AuthMiddlewareStack`` would for a logged-in user.
    """

    def __init__(
        self,
        path_or_app: Any,
        path: str | None = None,
        user: Any = None,
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
        subprotocols: list[str] | None = None,
        timeout: float = 1,
    ):
        if isinstance(path_or_app, str):
            from .routing import websocket_router

            app, path = websocket_router, path_or_app
        else:
            is_class = isinstance(path_or_app, type)
            app = path_or_app.as_asgi() if is_class else path_or_app
            path = path or "/"
        super().__init__(app, path, headers=headers, subprotocols=subprotocols)
        if user is not None:
            cast(dict[str, Any], self.scope)["user"] = user  # channels' TypedDict has no "user"
        self.timeout = timeout
        self._acks = count(1)
        self._unread: deque[dict[str, Any]] = deque()

    async def connect(self, timeout: float | None = None) -> ConnectResult:
        """``(True, subprotocol)`` or ``(False, close_code)``; truthy only if accepted."""
        return ConnectResult(await super().connect(timeout or self.timeout))

    async def emit(self, event: str, **payload: Any) -> None:
        """Send ``{"event": event, **payload}``."""
        await self.send_to(text_data=json.dumps({"event": event, **payload}))

    async def request(self, event: str, **payload: Any) -> Any:
        """
        Send with an ack id and return the reply's ``data``; raise :class:`SocketError` (with the
        server's ``code``, ``message`` and ``details``) if the server answered with an error.
        Other frames that arrive meanwhile are kept for :meth:`receive_event`.
        """
        ack = next(self._acks)
        await self.send_to(text_data=json.dumps({"event": event, "ack": ack, **payload}))
        while True:
            frame = await self._receive_frame()
            if frame.get("ack") != ack:
                self._unread.append(frame)
                continue
            if frame["event"] == "error":
                raise SocketError(frame["code"], frame["message"], details=frame.get("details"))
            return frame.get("data")

    async def receive_event(self, timeout: float | None = None) -> tuple[str, dict[str, Any]]:
        """The next frame as ``(event, payload)``."""
        frame = self._unread.popleft() if self._unread else await self._receive_frame(timeout)
        event = frame.pop("event")
        return event, frame

    async def assert_nothing_received(self, timeout: float = 0.1) -> None:
        """Fail if a frame is waiting or arrives within ``timeout`` seconds."""
        assert not self._unread, f"unexpected frames: {list(self._unread)}"
        if not await self.receive_nothing(timeout):
            output = await self.receive_output()
            raise AssertionError(f"unexpected output: {output}")

    async def receive_close(self, timeout: float | None = None) -> tuple[int | None, str]:
        """Wait for the server to close the socket; return ``(code, reason)``."""
        output = await self.receive_output(timeout or self.timeout)
        assert output["type"] == "websocket.close", f"expected a close, got {output}"
        return output.get("code"), output.get("reason", "")

    async def _receive_frame(self, timeout: float | None = None) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(await self.receive_from(timeout or self.timeout))
        return frame
