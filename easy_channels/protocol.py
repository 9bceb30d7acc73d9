"""
The wire protocol: parsing client frames, encoding server frames, names and codes.

Everything here is pure (no I/O, no settings) so it can be tested and reused on its own.
docs/protocol.md is the human-readable description of the same rules.

Client -> server::

    {"event": "send_message", "ack": 7, "text": "hi"}

Server -> client::

    {"event": "message", "text": "hi"}
    {"event": "ack", "ack": 7, "data": ...}
    {"event": "error", "code": "unknown_event", "message": "...", "ack": 7}
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

__all__ = [
    "ACK_EVENT",
    "CONNECT_ERROR_EVENT",
    "ERROR_EVENT",
    "PING_EVENT",
    "PONG_EVENT",
    "REPLY_EVENT",
    "RESERVED_EVENTS",
    "ErrorCode",
    "Frame",
    "FrameEncoder",
    "ProtocolError",
    "encode_event",
    "encode_frame",
    "is_heartbeat",
    "is_valid_event_name",
    "is_valid_wire_event",
    "parse_frame",
    "parse_message",
    "utf8_size",
]

#: A valid event name: what a Python identifier allows after ``on_``, ASCII only, 1-100 chars.
EVENT_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")

#: Event names the server uses for protocol frames; handlers can't emit them as plain events.
ACK_EVENT = "ack"
ERROR_EVENT = "error"
CONNECT_ERROR_EVENT = "connect_error"
#: The heartbeat: a client sends exactly ``{"event": "_ping"}`` and the server answers
#: ``{"event": "_pong"}`` at once, ahead of queued frames and without middleware or handlers,
#: so a busy socket still proves it is alive. ``on__ping`` can't be a handler (``_`` names never
#: are), so the names can't clash with an application's events.
PING_EVENT = "_ping"
PONG_EVENT = "_pong"
#: Tells a client of a consumer with ``recovery = True`` its session, first after accept.
SESSION_EVENT = "_session"
#: A client's answer to a server call: ``{"event": "_reply", "call": id, "data": ...}``.
REPLY_EVENT = "_reply"
#: The key of a server call's id (``await self.call(...)``) in its frame.
CALL_KEY = "call"
RESERVED_EVENTS = frozenset(
    {ACK_EVENT, ERROR_EVENT, CONNECT_ERROR_EVENT, PONG_EVENT, SESSION_EVENT, REPLY_EVENT}
)

#: Keys a payload may not hold, because the frame itself uses them.
RESERVED_KEYS = frozenset({"event", "ack"})
#: The position of a group message, put in the frames of sockets that recover.
POSITION_KEY = "_pos"
#: Keys a server frame's payload may not hold.
RESERVED_PAYLOAD_KEYS = RESERVED_KEYS | {POSITION_KEY, CALL_KEY}

MAX_ACK_LENGTH = 64
#: Integers longer than this (in characters) are refused: no JavaScript client can hold them,
#: and converting huge digit strings costs quadratic time.
MAX_INT_DIGITS = 100


class ErrorCode:
    """The ``code`` values of ``{"event": "error"}`` frames sent by easy_channels itself."""

    INVALID_JSON = "invalid_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_EVENT = "unknown_event"
    FORBIDDEN = "forbidden"
    INVALID = "invalid"
    HANDLER_ERROR = "handler_error"
    TOO_LARGE = "too_large"
    OVERLOADED = "overloaded"
    #: The channel layer (Redis) is down or too slow: raised as LayerUnavailable.
    UNAVAILABLE = "unavailable"
    #: A request sent again after a reconnect whose first run never finished (its process
    #: stopped): it may or may not have had its effect, and is not run a second time.
    INTERRUPTED = "interrupted"

    #: Codes that mean the client broke the protocol; many in a row close the socket.
    PROTOCOL = frozenset({INVALID_JSON, INVALID_MESSAGE, UNKNOWN_EVENT, TOO_LARGE, OVERLOADED})


class CloseCode:
    """WebSocket close codes easy_channels sends."""

    NORMAL = 1000
    INTERNAL_ERROR = 1011
    #: Too many consecutive protocol errors.
    PROTOCOL_ABUSE = 4000
    #: Default code of :class:`~easy_channels.Reject`.
    FORBIDDEN = 4403
    #: The channel layer was unavailable while the socket connected: come back later.
    UNAVAILABLE = 4503


class ProtocolError(Exception):
    """A client frame that breaks the protocol; becomes an error frame, never a crash."""

    def __init__(self, code: str, message: str, ack: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.ack = ack


@dataclass(slots=True)
class Frame:
    """A well-formed client frame: the event name, its ack id (or None) and the payload."""

    event: str
    ack: str | int | None
    payload: dict[str, Any]


def is_valid_event_name(name: object) -> bool:
    """A name ``on_<name>`` can spell (an identifier); ``@on`` binds any wire name."""
    return isinstance(name, str) and EVENT_NAME_RE.fullmatch(name) is not None


#: What the wire allows as an event name (``@on("new message")``): 1-100 characters, none of
#: them a control character.
WIRE_EVENT_RE = re.compile(r"[^\x00-\x1f\x7f]{1,100}")
WIRE_EVENT_RULE = "1-100 characters, none of them a control character"


def is_valid_wire_event(name: object) -> bool:
    return isinstance(name, str) and WIRE_EVENT_RE.fullmatch(name) is not None


def is_valid_ack(ack: object) -> bool:
    if isinstance(ack, bool):  # bool is an int subclass; True is not an id
        return False
    if isinstance(ack, int):
        return True
    return isinstance(ack, str) and len(ack) <= MAX_ACK_LENGTH


# -- parsing ---------------------------------------------------------------------------------

_PING_TEXT = '{"event":"_ping"}'
#: Longest text still worth parsing as a ping (whitespace variants from other clients).
_MAX_PING_LENGTH = 64


def is_heartbeat(text: str | None) -> bool:
    """
    True for a heartbeat frame: the object ``{"event": "_ping"}`` and nothing else.

    Cheap on purpose: it runs for every incoming frame, before the frame is queued.
    """
    if text == _PING_TEXT:  # what the official client sends
        return True
    if text is None or len(text) > _MAX_PING_LENGTH or PING_EVENT not in text:
        return False
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return bool(value == {"event": PING_EVENT})


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key in object")
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _bounded_int(text: str) -> int:
    if len(text) > MAX_INT_DIGITS:
        raise ValueError("integer too long")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to inf
        raise ValueError("number out of range")
    return value


_decoder = json.JSONDecoder(
    object_pairs_hook=_no_duplicate_keys,
    parse_constant=_no_constants,
    parse_int=_bounded_int,
    parse_float=_finite_float,
)


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Iterative depth check (never recursive, so it can't overflow the stack itself)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, (dict, list)))
    return False


def decode_json(text: str, max_depth: int) -> Any:
    """
    Strict JSON decoding: refuses NaN/Infinity, duplicate keys, huge integers and nesting
    deeper than ``max_depth``. Raises ProtocolError(invalid_json), never RecursionError.
    """
    try:
        value = _decoder.decode(text)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(ErrorCode.INVALID_JSON, "Frame is not valid JSON.") from exc
    # Counting brackets is cheap C code and bounds the depth from above: skip the walk when
    # the frame can't possibly be too deep.
    if (
        isinstance(value, (dict, list))
        and text.count("{") + text.count("[") > max_depth
        and _depth_exceeds(value, max_depth)
    ):
        raise ProtocolError(
            ErrorCode.INVALID_JSON, f"Frame is nested deeper than {max_depth} levels."
        )
    return value


def utf8_size(text: str) -> int:
    """The bytes of ``text`` in UTF-8, as the client sent it (ASCII is counted, not encoded)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def parse_message(
    text: str | None,
    data: bytes | None = None,
    *,
    max_size: int,
    max_depth: int,
) -> Any:
    """
    Decode the JSON of one ``websocket.receive``, or raise :class:`ProtocolError`.

    The size is checked before anything is parsed. The result still needs
    :func:`frame_from_message`.
    """
    if text is None:
        if data is not None:
            raise ProtocolError(
                ErrorCode.INVALID_MESSAGE, "Binary frames are not supported; send JSON text."
            )
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "Empty frame.")
    # Each character is 1-4 bytes in UTF-8: only measure when the character count is ambiguous.
    if len(text) > max_size or (len(text) * 4 > max_size and utf8_size(text) > max_size):
        raise ProtocolError(
            ErrorCode.TOO_LARGE, f"Frame is larger than the limit of {max_size} bytes."
        )
    return decode_json(text, max_depth)


def parse_frame(
    text: str | None,
    data: bytes | None = None,
    *,
    max_size: int,
    max_depth: int,
) -> Frame:
    """Turn one ``websocket.receive`` into a :class:`Frame`, or raise :class:`ProtocolError`."""
    return frame_from_message(parse_message(text, data, max_size=max_size, max_depth=max_depth))


def frame_from_message(message: Any) -> Frame:
    """Validate a decoded client message (also used after middleware rewrote one)."""
    if not isinstance(message, dict):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "A frame must be a JSON object.")
    ack = message.get("ack")
    if "ack" in message and not is_valid_ack(ack):
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE,
            f'"ack" must be an integer or a string of at most {MAX_ACK_LENGTH} characters.',
        )
    event = message.get("event")
    if not isinstance(event, str) or not event:
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE, 'A frame needs a non-empty string "event".', ack
        )
    if WIRE_EVENT_RE.fullmatch(event) is None:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"Event names are {WIRE_EVENT_RULE}.", ack)
    payload = {k: v for k, v in message.items() if k not in RESERVED_KEYS}
    return Frame(event, ack, payload)


# -- encoding --------------------------------------------------------------------------------


class FrameEncoder(DjangoJSONEncoder):
    """DjangoJSONEncoder (datetimes, Decimal, UUID, lazy strings) with strict floats."""


def encode_frame(frame: dict[str, Any]) -> str:
    """Encode a server frame as strict JSON (``NaN`` is an error: browsers can't parse it)."""
    return json.dumps(frame, cls=FrameEncoder, allow_nan=False, separators=(",", ":"))


def encode_event(event: str, payload: dict[str, Any] | None = None) -> str:
    """
    Encode ``{"event": event, **payload}``, refusing what would corrupt the frame.

    Raises ValueError/TypeError at the sender, so a bad payload is a clear error in the code
    that produced it rather than a frame the browser can't read.
    """
    if not is_valid_wire_event(event):
        raise ValueError(f"Invalid event name {event!r}: use {WIRE_EVENT_RULE}.")
    if event in RESERVED_EVENTS:
        raise ValueError(
            f"The event name {event!r} is reserved for protocol frames; pick another name."
        )
    if payload is None:
        return encode_frame({"event": event})
    if not isinstance(payload, dict):
        raise TypeError(f"The payload of {event!r} must be a dict, not {type(payload).__name__}.")
    clash = RESERVED_PAYLOAD_KEYS.intersection(payload)
    if clash:
        raise ValueError(
            f"The payload of {event!r} may not contain the key(s) {sorted(clash)}: "
            "the frame uses them. Rename the key or nest the data."
        )
    return encode_frame({"event": event, **payload})


def encode_ack(ack: str | int, data: Any) -> str:
    return encode_frame({"event": ACK_EVENT, "ack": ack, "data": data})


def encode_error(code: str, message: str, ack: str | int | None = None, details: Any = None) -> str:
    frame: dict[str, Any] = {"event": ERROR_EVENT, "code": code, "message": message}
    if details is not None:
        frame["details"] = details
    if ack is not None:
        frame["ack"] = ack
    return encode_frame(frame)


#: The heartbeat answer, encoded once.
PONG_TEXT = encode_frame({"event": PONG_EVENT})


def encode_connect_error(code: int, message: str) -> str:
    return encode_frame({"event": CONNECT_ERROR_EVENT, "code": code, "message": message})


# -- close codes -----------------------------------------------------------------------------

MAX_REASON_BYTES = 123  # RFC 6455: a close frame's reason fits in 123 bytes of UTF-8


def check_close_code(code: int) -> int:
    """
    Close codes an application may send: 1000 or 3000-4999.

    The same rule as the browser's ``WebSocket.close()``; daphne (autobahn) refuses any other
    code sent through ASGI.
    """
    if isinstance(code, bool) or not isinstance(code, int):
        raise TypeError(f"A close code must be an int, not {type(code).__name__}.")
    if code == 1000 or 3000 <= code <= 4999:
        return code
    raise ValueError(
        f"Invalid close code {code}: use 1000 (normal) or an application code in 3000-4999 "
        "(4000-4999 are free for private use)."
    )


def truncate_reason(reason: str | None) -> str:
    """Cut a close reason to 123 UTF-8 bytes without splitting a character."""
    if not reason:
        return ""
    data = str(reason).encode()
    if len(data) <= MAX_REASON_BYTES:
        return str(reason)
    return data[:MAX_REASON_BYTES].decode(errors="ignore")
