"""
Socket.IO v5 packets: parsing a client's (strictly: a malformed one ends the connection, as
the reference server does) and encoding ours, with ``bytes`` anywhere in the data carried as
binary attachments behind ``{"_placeholder": true, "num": n}``.

See https://github.com/socketio/socket.io-protocol for the protocol itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .engineio_packets import InvalidPacket
from .protocol import FrameEncoder

__all__ = [
    "ACK",
    "BINARY_ACK",
    "BINARY_EVENT",
    "CONNECT",
    "CONNECT_ERROR",
    "DISCONNECT",
    "EVENT",
    "BinaryText",
    "SioPacket",
    "encode",
    "parse",
]

CONNECT = "0"
DISCONNECT = "1"
EVENT = "2"
ACK = "3"
CONNECT_ERROR = "4"
BINARY_EVENT = "5"
BINARY_ACK = "6"
_FROM_CLIENTS = frozenset((CONNECT, DISCONNECT, EVENT, ACK, BINARY_EVENT, BINARY_ACK))
_BINARY = {EVENT: BINARY_EVENT, ACK: BINARY_ACK}
#: Attachments one packet may announce (each is a WebSocket frame or polling packet).
MAX_ATTACHMENTS = 1000
#: Digits an ack id may have (the reference clients count up from 0).
_MAX_ACK_DIGITS = 15

#: The JSON protocol's encoder (datetimes, Decimal, UUID, lazy strings; no NaN, which a
#: JavaScript client can't parse), without escaping non-ASCII text.
_dumps = FrameEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


class BinaryText(str):
    """An encoded packet whose binary attachments follow it (each one a frame of its own)."""

    attachments: list[bytes]


@dataclass(slots=True)
class SioPacket:
    """One client packet: its type, namespace, ack id, data and announced attachments."""

    kind: str
    namespace: str
    ack: int | None
    data: Any
    attachments: int = 0
    #: The attachments received so far (the packet is complete when all have come).
    received: list[bytes] = field(default_factory=list)
    #: Bytes of the packet's text and attachments, for the queue's byte bound.
    size: int = 0

    @property
    def complete(self) -> bool:
        return len(self.received) >= self.attachments

    def with_attachments(self) -> SioPacket:
        """The packet with its placeholders replaced by the received bytes."""
        if self.attachments:
            self.data = _reconstruct(self.data, self.received)
        return self


def parse(text: str) -> SioPacket:
    """Parse a client's packet (InvalidPacket for anything the protocol doesn't allow)."""
    if not text or text[0] not in _FROM_CLIENTS:
        raise InvalidPacket(f"unknown Socket.IO packet type in {text[:16]!r}")
    kind, i, n = text[0], 1, len(text)
    attachments = 0
    if kind in (BINARY_EVENT, BINARY_ACK):
        dash = text.find("-", i)
        count = text[i:dash]
        if dash == -1 or not count.isdigit() or int(count) > MAX_ATTACHMENTS:
            raise InvalidPacket("invalid attachment count in a binary Socket.IO packet")
        attachments, i = int(count), dash + 1
    namespace = "/"
    if i < n and text[i] == "/":
        comma = text.find(",", i)
        end = n if comma == -1 else comma
        namespace, i = text[i:end], (n if comma == -1 else comma + 1)
    start = i
    while i < n and text[i].isdigit() and i - start <= _MAX_ACK_DIGITS:
        i += 1
    ack = int(text[start:i]) if i > start else None
    data: Any = None
    if i < n:
        try:
            data = json.loads(text[i:])
        except ValueError as exc:
            raise InvalidPacket("invalid JSON in a Socket.IO packet") from exc
    _check(kind, data, ack)
    return SioPacket(kind, namespace, ack, data, attachments, size=len(text))


def _check(kind: str, data: Any, ack: int | None) -> None:
    if kind == CONNECT:
        ok = data is None or isinstance(data, dict)
    elif kind == DISCONNECT:
        ok = data is None
    elif kind in (EVENT, BINARY_EVENT):
        ok = isinstance(data, list) and bool(data) and isinstance(data[0], str)
    else:  # ACK, BINARY_ACK
        ok = isinstance(data, list) and ack is not None
    if not ok:
        raise InvalidPacket(f"invalid payload for a Socket.IO packet of type {kind}")


def encode(kind: str, namespace: str, data: Any = None, ack: int | None = None) -> str:
    """
    Encode a packet; ``bytes`` in ``data`` make it binary (a :class:`BinaryText` carrying them).
    Raises TypeError/ValueError for data JSON can't encode.
    """
    attachments: list[bytes] = []
    if data is not None and kind in _BINARY:
        data = _deconstruct(data, attachments)
    head = kind
    if attachments:
        head = f"{_BINARY[kind]}{len(attachments)}-"
    if namespace != "/":
        head += namespace + ","
    if ack is not None:
        head += str(ack)
    text = head if data is None else head + _dumps(data)
    if not attachments:
        return text
    binary = BinaryText(text)
    binary.attachments = attachments
    return binary


def _deconstruct(data: Any, attachments: list[bytes]) -> Any:
    """``data`` with every ``bytes`` replaced by a placeholder (only copied where bytes are)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        attachments.append(bytes(data))
        return {"_placeholder": True, "num": len(attachments) - 1}
    if isinstance(data, (list, tuple)):
        return [_deconstruct(item, attachments) for item in data]
    if isinstance(data, dict):
        return {key: _deconstruct(value, attachments) for key, value in data.items()}
    return data


def _reconstruct(data: Any, attachments: list[bytes]) -> Any:
    if isinstance(data, list):
        return [_reconstruct(item, attachments) for item in data]
    if isinstance(data, dict):
        if data.get("_placeholder") is True and isinstance(data.get("num"), int):
            num = data["num"]
            if 0 <= num < len(attachments):
                return attachments[num]
            raise InvalidPacket("a binary placeholder names a missing attachment")
        return {key: _reconstruct(value, attachments) for key, value in data.items()}
    return data
