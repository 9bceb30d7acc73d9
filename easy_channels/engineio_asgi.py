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
from .engineio_relay import Relay
from .protocol import utf8_size

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


_TEXT = b"text/plain; charset=UTF-8"
_JSON = b"application/json"


async def _respond(send: Send, status: int, body: bytes, content_type: bytes = _TEXT) -> None:
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
    _, body, content_type = _error_body(problem)
    await _respond(send, status, body, content_type)


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
    app: EngineApp,
    settings: EngineSettings,
    scope: dict[str, Any],
    receive: Receive,
    send: Send,
    relay: Relay | None = None,
) -> None:
    """
    One long-polling request: the handshake (GET, no sid), a poll (GET) or a push (POST).
    With a ``relay``, a request for a session another process holds is passed to it.
    """
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
        owner = await relay.open(settings.relay_limit) if relay is not None else None
        opened = EngineSocket(app, settings, "polling", scope, owner)
        await opened.start()
        await _respond(send, 200, opened.open_packet().encode())
        return
    owner = relay.owner_of(sid) if relay is not None and sid not in sockets else None
    if relay is not None and owner is not None and owner != relay.channel:  # another process
        await _relayed(relay, owner, sid, str(method), settings, receive, send)
        return
    socket = _session(sid)
    if socket is not None and method == "GET" and socket.transport == "polling":
        await _poll(socket, receive, send)
        return
    body = await _read_body(receive, settings.max_payload)
    if body is None and method == "POST" and socket is not None:
        await socket.close("payload too large")
        await _error(send, _BAD_REQUEST, 413)
        return
    status, content, content_type, _ = await answer_locally(sid, str(method), body or b"")
    await _respond(send, status, content, content_type)


def _session(sid: str) -> EngineSocket | None:
    """The open session ``sid`` of this process (one whose pong is overdue is closed)."""
    socket = sockets.get(sid)
    if socket is not None and socket.expired:  # its timer is late: the session is over
        socket.close_soon("ping timeout")
        return None
    return socket


async def answer_locally(
    sid: str, method: str, body: bytes
) -> tuple[int, bytes, bytes, list[Packet]]:
    """
    A poll or push for a session of this process, answered without watching its client (a
    relayed request: the asking process does): status, body, content type, and for a poll the
    packets it took (sent back if the client has gone).
    """
    socket = _session(sid)
    if socket is None:
        return (*_error_body(_UNKNOWN_SID), [])
    if socket.transport != "polling" or method not in ("GET", "POST"):
        await socket.refuse_late_poll()
        return (*_error_body(_BAD_REQUEST), [])
    if method == "GET":
        try:
            packets = await socket.poll()
        except (DuplicatePoll, Upgraded):
            return (*_error_body(_BAD_REQUEST), [])
        return 200, encode_payload(packets), _TEXT, packets
    if len(body) > socket.settings.max_payload:
        await socket.close("payload too large")
        return 413, *_error_body(_BAD_REQUEST)[1:], []
    try:
        await socket.receive_packets(decode_payload(body))
    except InvalidPacket as exc:
        await socket.close("parse error")
        logger.info("easy_channels: Engine.IO session %s closed: %s", sid, exc)
        return (*_error_body(_BAD_REQUEST), [])
    return 200, b"ok", b"text/html", []


async def _relayed(
    relay: Relay,
    owner: str,
    sid: str,
    method: str,
    settings: EngineSettings,
    receive: Receive,
    send: Send,
) -> None:
    """A request for another process's session: passed there, answered with what it says."""
    body = await _read_body(receive, settings.max_payload)
    if body is None:
        if method == "POST":
            await _error(send, _BAD_REQUEST, 413)
        return
    request = {"op": "http", "sid": sid, "method": method, "body": body}
    wait = settings.ping_interval + settings.ping_timeout + settings.relay_limit
    asking = asyncio.ensure_future(relay.ask(owner, request, wait, settings.relay_limit))
    gone = asyncio.ensure_future(receive())
    try:
        await asyncio.wait({asking, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not asking.done():
            asking.cancel()  # the client left: the owner's answer goes back to the session
    if asking.cancelled():
        return
    answer = asking.result()
    if answer is None:
        await _error(send, _UNKNOWN_SID)
        return
    await _respond(send, *answer)


def _error_body(problem: tuple[int, str]) -> tuple[int, bytes, bytes]:
    return 400, json.dumps({"code": problem[0], "message": problem[1]}).encode(), _JSON


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
        # Claimed before the accept: a GET the client sends once it sees the socket open
        # must find the upgrade running.
        claimed = socket is not None and await socket.claim_upgrade()
        await send({"type": "websocket.accept"})
        if socket is None or not claimed:
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
            size = len(packet)
            if text is not None and size * 4 > limit:  # maxPayload counts UTF-8 bytes
                size = utf8_size(text)
            if size > limit:
                logger.info(
                    "easy_channels: Engine.IO session %s closed: a frame of %d bytes over "
                    "maxPayload (%d)",
                    socket.sid,
                    size,
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
