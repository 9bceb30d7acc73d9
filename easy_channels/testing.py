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

import asyncio
import json
from collections import deque
from itertools import count
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode

from channels.testing import WebsocketCommunicator

from .exceptions import SocketError

__all__ = ["ConnectResult", "SocketCommunicator", "engineio_echo_application"]


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
        #: The ack ids its requests use (a resumed socket goes on with its predecessor's).
        self.ack_ids = count(1)
        self._unread: deque[dict[str, Any]] = deque()
        self._made_with = (app, path, user, headers, subprotocols)
        #: For a consumer with ``recovery = True``: the session id and whether this socket
        #: resumed one (known once the first frame is read), and the position read per group.
        self.session_id: str | None = None
        self.recovered: bool | None = None
        self.positions: dict[str, str] = {}
        #: Requests sent and not answered yet: ack id -> frame (sent again by :meth:`resume`).
        self.pending: dict[int, str] = {}

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
        return await self.answer(await self.send_request(event, **payload))

    async def send_request(self, event: str, **payload: Any) -> int:
        """Send with a new ack id and return the id, without waiting (see :meth:`answer`)."""
        ack = next(self.ack_ids)
        text = json.dumps({"event": event, "ack": ack, **payload})
        self.pending[ack] = text
        await self.send_to(text_data=text)
        return ack

    async def answer(self, ack: int, timeout: float | None = None) -> Any:
        """The reply to request ``ack`` (as :meth:`request` returns it)."""
        for frame in list(self._unread):
            if frame.get("ack") == ack:
                self._unread.remove(frame)
                return self._reply(ack, frame)
        while True:
            frame = await self._receive_frame(timeout)
            if frame.get("ack") == ack:
                return self._reply(ack, frame)
            self._unread.append(frame)

    def _reply(self, ack: int, frame: dict[str, Any]) -> Any:
        self.pending.pop(ack, None)
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

    async def drop(self) -> None:
        """Lose the connection as a network failure would (code 1006): its session stays."""
        # Frames already sent are read first (as a client would have): the session frame and
        # the positions come with them. They stay readable with receive_event().
        await asyncio.sleep(0)  # lets the application finish a write it is in
        while not self.output_queue.empty() and not await self.receive_nothing(0):
            output = await self.receive_output(self.timeout)
            if output["type"] != "websocket.send":
                break  # closed by the server meanwhile
            frame = self._take(json.loads(output["text"]))
            if frame is not None:
                self._unread.append(frame)
        await self.disconnect(code=1006)

    async def resume(self, timeout: float | None = None) -> SocketCommunicator:
        """
        A new, connected socket to the same path that resumes this one's session (after
        :meth:`drop`), as the browser client does: it sends again the requests still waiting
        for their answer, with the same ids. Its ``recovered`` says if the session resumed.
        """
        app, path, user, headers, subprotocols = self._made_with
        query = {"ec_session": self.session_id or ""}
        if self.positions:
            query["ec_pos"] = ",".join(f"{g}@{p}" for g, p in self.positions.items())
        base, _, old = path.partition("?")
        kept = [(k, v) for k, v in parse_qsl(old) if not k.startswith("ec_")]
        resumed = SocketCommunicator(
            app,
            f"{base}?{urlencode([*kept, *query.items()])}",
            user,
            headers=headers,
            subprotocols=subprotocols,
            timeout=timeout or self.timeout,
        )
        resumed.positions = dict(self.positions)
        resumed.ack_ids = self.ack_ids
        if await resumed.connect() and await resumed.read_session():
            resumed.pending = dict(self.pending)
            for text in self.pending.values():
                await resumed.send_to(text_data=text)
        return resumed

    async def read_session(self) -> bool:
        """
        Read the session frame a recovering consumer sends first; False if the socket was
        refused instead (its ``connect_error`` stays readable with :meth:`receive_event`).
        """
        frame = json.loads(await self.receive_from(self.timeout))
        if frame.get("event") != "_session":
            self._unread.append(frame)
            return False
        self._take(frame)
        return True

    async def _receive_frame(self, timeout: float | None = None) -> dict[str, Any]:
        while True:
            frame = self._take(json.loads(await self.receive_from(timeout or self.timeout)))
            if frame is not None:
                return frame

    def _take(self, frame: dict[str, Any]) -> dict[str, Any] | None:
        """Note the session and positions a frame carries; None for the session frame."""
        if frame.get("event") == "_session":
            self.session_id, self.recovered = frame["id"], frame["recovered"]
            return None
        position = frame.pop("_pos", None)
        if position is not None:
            self.positions[position[0]] = position[1]
        return frame


class _Echo:
    """The EngineApp of :func:`engineio_echo_application`: every message comes back as is."""

    async def opened(self, socket: Any) -> None:
        return None

    async def message(self, socket: Any, data: str | bytes) -> None:
        await socket.send(data)

    async def closed(self, socket: Any, reason: str) -> None:
        return None


async def engineio_echo_application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """
    Bare Engine.IO v4 at ``/engine.io/`` that echoes every message, with the heartbeat and
    size limit of ``EASY_CHANNELS["SOCKETIO"]``: what the official Engine.IO conformance
    suite runs against. Any other path is a 404.
    """
    from .engineio_asgi import serve_polling, serve_websocket
    from .engineio_settings import EngineSettings

    kind = scope.get("type")
    if kind == "lifespan" or scope.get("path") not in ("/engine.io/", "/engine.io"):
        if kind == "http":
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        elif kind == "websocket":
            await receive()
            await send({"type": "websocket.close"})
        return
    settings = EngineSettings.from_config()
    if kind == "websocket":
        await serve_websocket(_Echo(), settings, scope, receive, send)
    else:
        await serve_polling(_Echo(), settings, scope, receive, send)
