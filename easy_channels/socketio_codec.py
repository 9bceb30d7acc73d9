"""
:class:`SocketIOCodec`: the :class:`~easy_channels.wire.WireCodec` of one Socket.IO namespace.

A consumer served over Socket.IO runs exactly as over the JSON protocol; only what crosses the
wire differs: an event is ``42/chat,["name", ...args]``, an ack ``43/chat,7[...]``, a refusal
a CONNECT_ERROR packet. Client packets arrive already parsed (by
:mod:`easy_channels.socketio`); middleware sees them as ``{"event", "args"[, "ack"]}``.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from . import protocol
from .protocol import ErrorCode, Frame, ProtocolError
from .socketio_packets import (
    ACK,
    BINARY_ACK,
    BINARY_EVENT,
    CONNECT_ERROR,
    EVENT,
    BinaryText,
    SioPacket,
    encode,
)
from .wire import Args

if TYPE_CHECKING:
    from .calls import Reply

__all__ = ["RESERVED_EVENTS", "SocketIOCodec", "arguments", "layer_arguments"]

#: Event names a Socket.IO client keeps for itself: one sent by a server ends the connection.
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)


def arguments(payload: Any) -> list[Any]:
    """The arguments a payload is sent as: a tuple is several, None none, anything else one."""
    if payload is None:
        return []
    if type(payload) is tuple or isinstance(payload, Args):
        return list(payload)
    return [payload]


def layer_arguments(event: str, payload: Any) -> dict[str, Any]:
    """
    The part of a group frame (``group_send``, ``send_to``, ``user_send``) whose payload the
    JSON protocol can't carry (not a dict): the Socket.IO arguments, encoded once by the
    sender as ``"sio"``, and their binary attachments as ``"bin"`` (base64, so that the
    recovery log's JSON keeps them too). Raises at the sender for a bad name or payload.
    """
    if not protocol.is_valid_wire_event(event):
        raise ValueError(f"Invalid event name {event!r}: use {protocol.WIRE_EVENT_RULE}.")
    _check_name(event)
    packet = encode(EVENT, "/", [event, *arguments(payload)])
    attachments: list[bytes] = getattr(packet, "attachments", [])
    if not attachments:
        return {"sio": packet[1:]}
    return {
        "sio": packet[packet.index("-") + 1 :],
        "bin": [base64.b64encode(part).decode("ascii") for part in attachments],
    }


def _check_name(event: str) -> None:
    if event in RESERVED_EVENTS:
        raise ValueError(
            f"The event name {event!r} is reserved by Socket.IO clients (they would close "
            "the connection); pick another name."
        )


class SocketIOCodec:
    """Socket.IO v5 for the namespace ``namespace`` (see the module docstring)."""

    __slots__ = ("max_size", "namespace", "prefix")

    #: A refusal is a packet of its own (CONNECT_ERROR): the namespace is never accepted.
    accept_to_refuse = False
    #: Connection state recovery: the offset is the last argument of a group frame.
    recovery_offset = True

    def __init__(self, namespace: str, max_size: int):
        self.namespace = namespace
        self.max_size = max_size
        #: What follows the packet type in every packet of this namespace.
        self.prefix = "" if namespace == "/" else namespace + ","

    def heartbeat_reply(self, message: dict[str, Any]) -> str | None:
        return None  # Engine.IO keeps the heartbeat

    def size(self, message: dict[str, Any]) -> int:
        packet: SioPacket = message["packet"]
        return packet.size

    def decode(self, message: dict[str, Any]) -> Any:
        packet: SioPacket = message["packet"]
        if packet.size > self.max_size:
            raise ProtocolError(
                ErrorCode.TOO_LARGE,
                f"Message too large ({packet.size} bytes; the limit is {self.max_size}).",
                packet.ack,
            )
        if packet.kind in (ACK, BINARY_ACK):  # a reply no call waits for any more
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "An answer to no pending call.")
        decoded: dict[str, Any] = {"event": packet.data[0], "args": packet.data[1:]}
        if packet.ack is not None:
            decoded["ack"] = packet.ack
        return decoded

    def frame(self, decoded: Any) -> Frame:
        if (
            not isinstance(decoded, dict)
            or not isinstance(decoded.get("event"), str)
            or not isinstance(decoded.get("args"), list)
        ):
            raise ProtocolError(
                ErrorCode.INVALID_MESSAGE,
                'A Socket.IO frame is {"event": str, "args": list} (middleware changed it).',
            )
        return Frame(decoded["event"], decoded.get("ack"), Args(decoded["args"]))  # type: ignore[arg-type]

    def event(self, event: str, payload: Any) -> str:
        if not isinstance(event, str) or not event:
            raise ValueError(f"Invalid event name {event!r}.")
        _check_name(event)
        return encode(EVENT, self.namespace, [event, *arguments(payload)])

    def ack(self, ack: str | int, data: Any) -> str:
        return encode(ACK, self.namespace, arguments(data), int(ack))

    def error(
        self, code: str, message: str, ack: str | int | None = None, details: Any = None
    ) -> str:
        """An error: the only argument of the request's ack, else an ``error`` event."""
        error: dict[str, Any] = {"code": code, "message": message}
        if details is not None:
            error["details"] = details
        if ack is not None:
            return encode(ACK, self.namespace, [{"error": error}], int(ack))
        return encode(EVENT, self.namespace, ["error", error])

    def connect_error(self, code: int, reason: str) -> str:
        return encode(CONNECT_ERROR, self.namespace, {"message": reason, "data": {"code": code}})

    def relay_with_offset(self, message: dict[str, Any], offset: str) -> str:
        """A group frame with the recovery offset as its last argument."""
        text = self.relay(message)
        with_offset = f"{text[:-1]},{json.dumps(offset)}]"
        if isinstance(text, BinaryText):
            binary = BinaryText(with_offset)
            binary.attachments = text.attachments
            return binary
        return with_offset

    def relay(self, message: dict[str, Any]) -> str:
        """
        A group frame for this namespace: its arguments are encoded once per message in this
        process, whatever the number of members (decoded from the JSON protocol's frame for a
        dict payload, as the sender encoded them otherwise).
        """
        args = message.get("_sio_args")
        if args is None:
            args = message.get("sio")
            if args is None:
                frame = json.loads(message["text"])
                event = frame.pop("event")
                args = json.dumps([event, frame], separators=(",", ":"), ensure_ascii=False)
            message["_sio_args"] = args
            if "bin" in message:
                message["_sio_bin"] = [base64.b64decode(part) for part in message["bin"]]
        attachments = message.get("_sio_bin")
        if attachments is None:
            return EVENT + self.prefix + args
        binary = BinaryText(f"{BINARY_EVENT}{len(attachments)}-{self.prefix}{args}")
        binary.attachments = attachments
        return binary

    def call(self, event: str, payload: Any, call: int) -> str:
        return encode(EVENT, self.namespace, [event, *arguments(payload)], call)

    def reply(self, message: dict[str, Any]) -> Reply | None:
        """An ACK packet: one argument is the answer, several a tuple, none None."""
        packet: SioPacket = message["packet"]
        if packet.kind not in (ACK, BINARY_ACK):
            return None
        args = packet.data
        data = None if not args else args[0] if len(args) == 1 else tuple(args)
        assert packet.ack is not None  # checked by parse()
        return packet.ack, data, None
