"""
Engine.IO v4 packets: the one-character types, and the HTTP long-polling payload that joins
several packets with the record separator (binary ones base64-encoded behind a ``b``).

Kept apart from the session logic so that the wire rules can be read (and tested) alone; see
https://github.com/socketio/engine.io-protocol for the protocol itself.
"""

from __future__ import annotations

import base64
import binascii

__all__ = [
    "CLOSE",
    "MESSAGE",
    "NOOP",
    "OPEN",
    "PING",
    "PONG",
    "SEPARATOR",
    "UPGRADE",
    "InvalidPacket",
    "Packet",
    "decode_payload",
    "encode_payload",
    "parse",
]

OPEN = "0"
CLOSE = "1"
PING = "2"
PONG = "3"
MESSAGE = "4"
UPGRADE = "5"
NOOP = "6"
_TYPES = frozenset("0123456")

#: What separates packets in a long-polling payload (ASCII RS, never in JSON text).
SEPARATOR = "\x1e"

#: One packet: a text packet as its full text (type character first), a binary message as bytes.
Packet = str | bytes


class InvalidPacket(ValueError):
    """A packet (or payload) that breaks the Engine.IO protocol: the session is closed."""


def parse(packet: Packet) -> tuple[str, str | bytes]:
    """``(type, data)`` of one packet; a binary WebSocket frame is a message of bytes."""
    if isinstance(packet, bytes):
        return MESSAGE, packet
    if not packet or packet[0] not in _TYPES:
        raise InvalidPacket(f"unknown Engine.IO packet type in {packet[:16]!r}")
    return packet[0], packet[1:]


def decode_payload(body: bytes) -> list[Packet]:
    """The packets of a long-polling POST body (``b<base64>`` for binary ones)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidPacket("a polling payload must be UTF-8 text") from exc
    packets: list[Packet] = []
    for item in text.split(SEPARATOR):
        if item.startswith("b"):
            try:
                packets.append(base64.b64decode(item[1:], validate=True))
            except binascii.Error as exc:
                raise InvalidPacket("invalid base64 in a binary polling packet") from exc
        else:
            parse(item)  # raises on an unknown type
            packets.append(item)
    return packets


def encode_payload(packets: list[Packet]) -> bytes:
    """A long-polling GET body for ``packets`` (text as is, binary as ``b<base64>``)."""
    return SEPARATOR.join(
        "b" + base64.b64encode(p).decode("ascii") if isinstance(p, bytes) else p for p in packets
    ).encode("utf-8")
