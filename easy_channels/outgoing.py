"""
What easy_channels puts on the channel layer, and the one way it is put there.

Server-side messages travel under fixed types of ours (``easy_channels.*``); a client frame
never chooses a layer ``type``. Every sender (a consumer's methods, the module functions of
:mod:`easy_channels.sending`, the stats responder) builds an :class:`Outgoing` and hands it to
:func:`deliver`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from . import counters, protocol
from .backends import backend_for
from .exceptions import LayerUnavailable
from .layer import bounded
from .socketio_codec import layer_arguments

__all__ = [
    "CALL_TYPE",
    "CLOSE_TYPE",
    "FRAME_TYPE",
    "Outgoing",
    "call_message",
    "close_message",
    "deliver",
    "frame_message",
]

logger = logging.getLogger("easy_channels")

#: Channel-layer message types of ours. A frame already encoded once by the sender.
FRAME_TYPE = "easy_channels.frame"
#: Call ``on_<event>`` server-side (group_call_event).
CALL_TYPE = "easy_channels.call"
#: Close the receiving socket (close_group, close_user).
CLOSE_TYPE = "easy_channels.close"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One layer message and where it goes: to every member of a group, or to one channel."""

    message: dict[str, Any]
    group: str | None = None
    channel: str | None = None

    @classmethod
    def to_group(cls, group: str, message: dict[str, Any]) -> Outgoing:
        return cls(message, group=group)

    @classmethod
    def to_channel(cls, channel: str, message: dict[str, Any]) -> Outgoing:
        return cls(message, channel=channel)

    @property
    def target(self) -> str:
        target = self.group if self.group is not None else self.channel
        assert target is not None
        return target

    def describe(self) -> str:
        """For log lines: ``group_send('room')`` or ``send('specific...')``."""
        return f"{'group_send' if self.group is not None else 'send'}({self.target!r})"


def frame_message(event: str, payload: Any, exclude: str | None = None) -> dict[str, Any]:
    """
    The layer message of a send: the frame is encoded once, here, for every receiver. A dict
    (or None) is a frame of the JSON protocol, which Socket.IO members turn into the event's
    one argument; any other payload (a tuple: several arguments), or a dict holding ``bytes``,
    reaches Socket.IO members only (see :func:`easy_channels.socketio_codec.layer_arguments`).
    """
    message: dict[str, Any] = {"type": FRAME_TYPE}
    if payload is None or isinstance(payload, dict):
        try:
            message["text"] = protocol.encode_event(event, payload)
        except TypeError:
            if payload is None:
                raise
            fields = layer_arguments(event, payload)  # raises too if not for bytes
            if "bin" not in fields:  # no bytes: JSON couldn't encode something else
                raise
            message.update(fields)
    else:
        message.update(layer_arguments(event, payload))
    if exclude is not None:
        message["exclude"] = exclude
    return message


def call_message(event: str, payload: dict[str, Any] | None) -> dict[str, Any]:
    """The layer message of group_call_event: the payload is JSON-encoded once for all members."""
    if not protocol.is_valid_wire_event(event):
        raise ValueError(f"Invalid event name {event!r}.")
    if payload is not None and not isinstance(payload, dict):
        raise TypeError(f"The payload of {event!r} must be a dict, not {type(payload).__name__}.")
    return {"type": CALL_TYPE, "event": event, "payload": protocol.encode_frame(payload or {})}


def close_message(
    code: int = protocol.CloseCode.PROTOCOL_ABUSE, reason: str | None = None
) -> dict[str, Any]:
    """The layer message that makes receiving sockets close themselves."""
    protocol.check_close_code(code)
    message: dict[str, Any] = {"type": CLOSE_TYPE, "code": code}
    if reason:
        message["reason"] = protocol.truncate_reason(reason)
    return message


async def deliver(layer: Any, outgoing: Outgoing, limit: float) -> None:
    """
    Send ``outgoing`` on ``layer``, as every sender does it, through the layer's backend
    (:func:`easy_channels.backends.backend_for`: on channels-redis 4 a group message is one Lua
    script, elsewhere the layer's own ``group_send``).

    Bounded by ``limit`` seconds (see :func:`bounded`). A receiver at capacity (``ChannelFull``)
    loses this message rather than blocking or breaking the sender: the drop is logged with the
    channel and counted.
    """
    from channels.exceptions import ChannelFull

    message, group = outgoing.message, outgoing.group
    what = outgoing.describe()
    try:
        backend = backend_for(layer)
        if group is not None:
            full = await bounded(layer, backend.group_send(group, message), what, limit)
            if full:
                counters.drop("channel_full", full)
                _warn_full_group(group, full, message.get("type"))
        else:
            await bounded(layer, backend.send(outgoing.target, message), what, limit)
    except ChannelFull:
        counters.drop("channel_full")
        logger.warning(
            "easy_channels: dropped a message to %s (%s): the channel is at capacity",
            outgoing.target,
            message.get("type"),
        )
        return
    except LayerUnavailable:
        counters.drop("unavailable")
        raise
    if group is not None:
        counters.group_send()


#: Seconds between two warnings about full member channels of one group.
FULL_GROUP_WARNING_SECONDS = 60.0

#: group -> (when it was last warned about, messages lost since then)
_full_groups: OrderedDict[str, tuple[float, int]] = OrderedDict()
_full_groups_lock = threading.Lock()


def _warn_full_group(group: str, full: int, kind: str | None) -> None:
    """
    Warn that member channels of ``group`` lost a message: once a minute per group at most.

    A process killed without leaving its groups (SIGKILL; daphne on SIGTERM) stays a member
    until ``group_expiry`` (a day by default): its channel fills up and then loses every
    message of the group. One line per send would drown the log; the counter has them all.
    """
    now = time.monotonic()
    with _full_groups_lock:  # sync code sends from threads of its own
        last, lost = _full_groups.pop(group, (float("-inf"), 0))
        lost += full
        warn = now - last >= FULL_GROUP_WARNING_SECONDS
        _full_groups[group] = (now, 0) if warn else (last, lost)
        while len(_full_groups) > 1024:
            _full_groups.popitem(last=False)
    if warn:
        logger.warning(
            "easy_channels: member channel(s) of group %r at capacity lost %d message(s) (last: "
            "%s); a process that ended without leaving stays a member until group_expiry",
            group,
            lost,
            kind,
        )
