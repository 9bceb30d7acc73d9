"""
The ASGI side of Engine.IO: a long-polling request (:func:`serve_polling`) or a WebSocket
(:func:`serve_websocket`, new or upgrading a polling session) for an :class:`EngineApp`.

Requests that break the protocol get HTTP 400 with the reference server's JSON error body
(``{"code": 1, "message": "Session ID unknown"}``), so any Engine.IO client understands them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from .engineio import (
    UPGRADE_DONE,
    UPGRADE_PROBE,
    UPGRADE_PROBE_REPLY,
    UPGRADE_TIMEOUT,
    DuplicatePoll,
    EngineApp,
    EngineSettings,
    EngineSocket,
    Send,
    Upgraded,
    sockets,
)
from .engineio_packets import InvalidPacket, Packet, decode_payload, encode_payload

__all__ = ["serve_polling", "serve_websocket"]

logger = logging.getLogger("easy_channels")

Receive = Any


# The reference server's error codes.
_TRANSPORT_UNKNOWN = (0, "Transport unknown")
_UNKNOWN_SID = (1, "Session ID unknown")
_BAD_METHOD = (2, "Bad handshake method")
_BAD_REQUEST = (3, "Bad request")
_BAD_VERSION = (5, "Unsupported protocol version")


def _query(scope: dict[str, Any]) -> dict[str, str]:
    raw = scope.get("query_string", b"")
    parsed = parse_qs(raw.decode("latin-1") if isinstance(raw, bytes) else raw)
    return {key: values[-1] for key, values in parsed.items()}


def _query_problem(query: dict[str, str], transport: str) -> tuple[int, str] | None:
    if query.get("EIO") != "4":
        return _BAD_VERSION
    if query.get("transport") != transport:
        return _TRANSPORT_UNKNOWN
    return None


async def _respond(
    send: Send, status: int, body: bytes, content_type: bytes = b"text/plain; charset=UTF-8"
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _error(send: Send, problem: tuple[int, str], status: int = 400) -> None:
    body = json.dumps({"code": problem[0], "message": problem[1]}).encode()
    await _respond(send, status, body, b"application/json")


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body; None if the client left or it is longer than ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def serve_polling(
    app: EngineApp, settings: EngineSettings, scope: dict[str, Any], receive: Receive, send: Send
) -> None:
    """One long-polling request: the handshake (GET, no sid), a poll (GET) or a push (POST)."""
    query = _query(scope)
    problem = _query_problem(query, "polling")
    if problem is not None:
        await _error(send, problem)
        return
    method, sid = scope.get("method"), query.get("sid")
    if sid is None:
        if method != "GET":
            await _error(send, _BAD_METHOD)
            return
        opened = EngineSocket(app, settings, "polling", scope)
        await opened.start()
        await _respond(send, 200, opened.open_packet().encode())
        return
    socket = sockets.get(sid)
    if socket is not None and socket.expired:  # its timer is late: the session is over
        await socket.close("ping timeout")
        socket = None
    if socket is None:
        await _error(send, _UNKNOWN_SID)
        return
    if socket.transport != "polling" or method not in ("GET", "POST"):
        await _error(send, _BAD_REQUEST)
        return
    if method == "GET":
        await _poll(socket, receive, send)
        return
    body = await _read_body(receive, settings.max_payload)
    if body is None:
        await socket.close("payload too large")
        await _error(send, _BAD_REQUEST, 413)
        return
    try:
        await socket.receive_packets(decode_payload(body))
    except InvalidPacket as exc:
        await socket.close("parse error")
        logger.info("easy_channels: Engine.IO session %s closed: %s", sid, exc)
        await _error(send, _BAD_REQUEST)
        return
    await _respond(send, 200, b"ok", b"text/html")


async def _poll(socket: EngineSocket, receive: Receive, send: Send) -> None:
    """Answer a GET with the session's packets, once there are some (or the client leaves)."""
    if await _read_body(receive, socket.settings.max_payload) is None:
        return  # gone already (a GET has no body worth reading)
    waiting = asyncio.ensure_future(socket.poll())
    gone = asyncio.ensure_future(receive())
    try:
        await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not waiting.done():
            waiting.cancel()
    try:
        packets: list[Packet] = await waiting
    except (DuplicatePoll, Upgraded):
        await _error(send, _BAD_REQUEST)
        return
    except asyncio.CancelledError:
        if asyncio.current_task().cancelling():  # type: ignore[union-attr]
            raise
        return  # the client left; its packets wait for the next poll
    await _respond(send, 200, encode_payload(packets))


async def serve_websocket(
    app: EngineApp, settings: EngineSettings, scope: dict[str, Any], receive: Receive, send: Send
) -> None:
    """A WebSocket: a new session, or the upgrade of a polling one (``sid`` in the query)."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    query = _query(scope)
    if _query_problem(query, "websocket") is not None:
        await send({"type": "websocket.close"})
        return
    sid = query.get("sid")
    if sid is not None:
        socket = sockets.get(sid)
        await send({"type": "websocket.accept"})
        if socket is None or not await socket.claim_upgrade():
            # Accepted, then closed, as the reference server does: a client sees a clean close.
            await send({"type": "websocket.close", "code": 1000})
            return
        if await _upgrade(socket, receive, send):
            await _read_frames(socket, receive, send)
        return
    await send({"type": "websocket.accept"})
    socket = EngineSocket(app, settings, "websocket", scope)
    await send({"type": "websocket.send", "text": socket.open_packet()})
    await socket.start(send)
    await _read_frames(socket, receive, send)


async def _upgrade(socket: EngineSocket, receive: Receive, send: Send) -> bool:
    """The probe, then UPGRADE: True once the session has moved onto this WebSocket."""
    try:
        async with asyncio.timeout(UPGRADE_TIMEOUT):  # no task per receive, unlike wait_for
            probe = await receive()
            if probe.get("text") != UPGRADE_PROBE or socket.closed:
                socket.abort_upgrade()
                if probe["type"] != "websocket.disconnect":
                    await send({"type": "websocket.close"})
                return False
            socket.begin_upgrade()
            await send({"type": "websocket.send", "text": UPGRADE_PROBE_REPLY})
            done = await receive()
    except TimeoutError:
        socket.abort_upgrade()
        await send({"type": "websocket.close"})
        return False
    if done.get("text") != UPGRADE_DONE or socket.closed:
        socket.abort_upgrade()
        if done["type"] != "websocket.disconnect":
            await send({"type": "websocket.close"})
        return False
    await socket.finish_upgrade(send)
    return True


async def _read_frames(socket: EngineSocket, receive: Receive, send: Send) -> None:
    """The session's packets from its WebSocket, until either side ends it."""
    limit = socket.settings.max_payload
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.receive":
            text = message.get("text")
            packet: Packet = text if text is not None else (message.get("bytes") or b"")
            if len(packet) > limit:
                logger.info(
                    "easy_channels: Engine.IO session %s closed: a frame of %d over "
                    "maxPayload (%d)",
                    socket.sid,
                    len(packet),
                    limit,
                )
                await socket.close("payload too large")
                return
            try:
                await socket.received(packet)
            except InvalidPacket:
                return  # closed (and logged) by the socket
        elif kind == "websocket.disconnect":
            await socket.close("transport close")
            return
