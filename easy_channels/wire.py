"""
The wire codec seam: what a :class:`~easy_channels.connection.Connection` needs from the
protocol its client speaks, so that a second protocol (Socket.IO) can sit beside the JSON one.

A codec turns client frames into :class:`~easy_channels.protocol.Frame` objects and our answers
(events, acks, errors, a refusal) into text; it holds no state of its own beyond its limits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from . import protocol
from .calls import encode_call, parse_reply
from .protocol import Frame

if TYPE_CHECKING:
    from .calls import Reply

__all__ = ["Args", "JSONCodec", "WireCodec"]


class Args(tuple[Any, ...]):
    """
    The arguments of a Socket.IO event, as a Frame's payload: a handler declared with
    ``*args`` gets them all, any other handler the first (None if there is none).
    """


class WireCodec(Protocol):
    """The interface a wire protocol implements (see :class:`JSONCodec`)."""

    #: Whether a refusal must accept the socket first to tell why (a browser can't read a
    #: handshake refusal); False where the protocol refuses with a packet of its own.
    accept_to_refuse: bool
    #: Whether a recovering socket's group frames carry one offset for all its groups as
    #: their last argument (Socket.IO's connection state recovery) rather than the frame's
    #: own position (the JSON protocol's ``_pos``).
    recovery_offset: bool

    def heartbeat_reply(self, message: dict[str, Any]) -> str | None:
        """The answer to a heartbeat frame, sent at once without queueing; None otherwise."""
        ...

    def size(self, message: dict[str, Any]) -> int:
        """The bytes of a client frame, as the client sent it (for the queue's byte bound)."""
        ...

    def decode(self, message: dict[str, Any]) -> Any:
        """The decoded content of a ``websocket.receive`` (ProtocolError if malformed)."""
        ...

    def frame(self, decoded: Any) -> Frame:
        """A decoded message (perhaps rewritten by middleware) as a Frame, or ProtocolError."""
        ...

    def event(self, event: str, payload: dict[str, Any] | None) -> str:
        """The text of an event sent to the client."""
        ...

    def ack(self, ack: str | int, data: Any) -> str:
        """The text of a handler's answer to a request."""
        ...

    def error(
        self, code: str, message: str, ack: str | int | None = None, details: Any = None
    ) -> str:
        """The text of an error frame (TypeError/ValueError if ``details`` can't be encoded)."""
        ...

    def connect_error(self, code: int, reason: str) -> str:
        """The text telling a client why its connection is refused (browsers can't read it)."""
        ...

    def relay(self, message: dict[str, Any]) -> str | None:
        """
        The text of a group frame (a layer message whose ``text`` is in the JSON protocol, or
        whose ``sio`` holds Socket.IO arguments); None if this protocol can't carry it.
        """
        ...

    def call(self, event: str, payload: Any, call: int) -> str:
        """The text of a server call (``await consumer.call(...)``) numbered ``call``."""
        ...

    def relay_with_offset(self, message: dict[str, Any], offset: str) -> str:
        """A group frame carrying a recovery offset (Socket.IO's connection state recovery)."""
        ...

    def reply(self, message: dict[str, Any]) -> Reply | None:
        """A client's answer to a server call, or None if ``message`` is something else."""
        ...


class JSONCodec:
    """easy_channels' own JSON protocol (docs/protocol.md), within the configured limits."""

    __slots__ = ("max_depth", "max_size")

    accept_to_refuse = True
    recovery_offset = False

    def __init__(self, max_size: int, max_depth: int):
        self.max_size = max_size
        self.max_depth = max_depth

    def heartbeat_reply(self, message: dict[str, Any]) -> str | None:
        return protocol.PONG_TEXT if protocol.is_heartbeat(message.get("text")) else None

    def size(self, message: dict[str, Any]) -> int:
        text = message.get("text")
        return protocol.utf8_size(text) if text is not None else len(message.get("bytes") or b"")

    def decode(self, message: dict[str, Any]) -> Any:
        return protocol.parse_message(
            message.get("text"),
            message.get("bytes"),
            max_size=self.max_size,
            max_depth=self.max_depth,
        )

    def frame(self, decoded: Any) -> Frame:
        return protocol.frame_from_message(decoded)

    def event(self, event: str, payload: dict[str, Any] | None) -> str:
        return protocol.encode_event(event, payload)

    def ack(self, ack: str | int, data: Any) -> str:
        return protocol.encode_ack(ack, data)

    def error(
        self, code: str, message: str, ack: str | int | None = None, details: Any = None
    ) -> str:
        return protocol.encode_error(code, message, ack, details)

    def connect_error(self, code: int, reason: str) -> str:
        return protocol.encode_connect_error(code, reason)

    def relay(self, message: dict[str, Any]) -> str | None:
        text: str | None = message.get("text")  # None: a payload that is not a dict
        return text

    def call(self, event: str, payload: Any, call: int) -> str:
        return encode_call(event, payload, call)

    def reply(self, message: dict[str, Any]) -> Reply | None:
        text = message.get("text")
        if text is None or '"_reply"' not in text:  # a cheap look first: most frames aren't
            return None
        try:
            return parse_reply(self.decode(message))
        except protocol.ProtocolError:
            return None

    def relay_with_offset(self, message: dict[str, Any], offset: str) -> str:
        raise NotImplementedError("the JSON protocol puts positions in frames (resume.py)")
