"""
Process-wide counters: how many sockets are open, what went in and out, what was refused.

Each server process counts its own sockets. :func:`stats` returns a snapshot of this process;
``manage.py easy_channels stats`` asks every server process sharing the channel layer for
theirs (see ``easy_channels.inspect``). Counters only ever go up, except ``sockets_open``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

__all__ = ["DropRun", "stats"]

logger = logging.getLogger("easy_channels")

#: Why a message was dropped; the keys of ``stats()["drops"]``.
DROP_REASONS = (
    "overloaded",  # a client frame past MAX_PENDING_MESSAGES/_BYTES, or a server call past 2x
    "channel_full",  # a layer message to a channel at capacity (ChannelFull)
    "client_gone",  # a frame or layer message for a socket whose client had left
    "before_accept",  # a frame beyond MAX_PENDING_MESSAGES sent before accept()
    "unavailable",  # a send the channel layer didn't take in LAYER_TIMEOUT
    "slow_client",  # a layer message for a socket with MAX_PENDING_MESSAGES writes waiting
    "unsupported_payload",  # a group frame with a payload only Socket.IO carries, for a JSON one
)


class _Counters:
    """Plain ints under one lock: the loop thread and sync senders' threads both count."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = time.time()
        self.sockets_open = 0
        self.sockets_accepted = 0
        self.messages_in = 0
        self.messages_out = 0
        self.group_sends = 0
        self.errors: Counter[str] = Counter()
        self.drops: Counter[str] = Counter()
        self.refused: Counter[int] = Counter()


_counters = _Counters()


def opened() -> None:
    with _counters.lock:
        _counters.sockets_open += 1
        _counters.sockets_accepted += 1


def closed() -> None:
    with _counters.lock:
        _counters.sockets_open -= 1


# The two hottest counters go without the lock: they are only counted by the event loop that
# serves the sockets (one thread), and the lock cost 5% of a 500-member fan-out.


def message_in() -> None:
    _counters.messages_in += 1


def message_out() -> None:
    _counters.messages_out += 1


def group_send() -> None:
    with _counters.lock:
        _counters.group_sends += 1


def error(code: str) -> None:
    with _counters.lock:
        _counters.errors[code] += 1


def drop(reason: str, count: int = 1) -> None:
    with _counters.lock:
        _counters.drops[reason] += count


def refused(code: int) -> None:
    with _counters.lock:
        _counters.refused[code] += 1


def stats() -> dict[str, Any]:
    """
    A snapshot of this process's counters (JSON-ready)::

        {"sockets_open": 12, "sockets_accepted": 340, "messages_in": 5120,
         "messages_out": 9730, "group_sends": 880, "errors": {"unknown_event": 2},
         "drops": {"client_gone": 5}, "refused": {"4401": 3}, "uptime": 3605.2}

    ``errors`` counts error frames sent, by code; ``drops`` messages dropped, by reason;
    ``refused`` connections refused, by close code.
    """
    c = _counters
    with c.lock:
        return {
            "sockets_open": c.sockets_open,
            "sockets_accepted": c.sockets_accepted,
            "messages_in": c.messages_in,
            "messages_out": c.messages_out,
            "group_sends": c.group_sends,
            "errors": dict(c.errors),
            "drops": dict(c.drops),
            "refused": {str(code): n for code, n in c.refused.items()},
            "uptime": round(time.time() - c.started, 1),
        }


class DropRun:
    """
    Drops for one socket while it can't keep up: each one counted, only the first logged.

    A flood or a slow client loses messages by the thousand; one warning a run says so, and
    ``end()`` (the socket caught up) lets the next run warn again.
    """

    __slots__ = ("active",)

    def __init__(self) -> None:
        self.active = False

    def drop(self, reason: str, message: str, *args: Any) -> None:
        """Count a drop for ``reason``; warn with ``message % args`` if the run just began."""
        drop(reason)
        if not self.active:
            self.active = True
            logger.warning(message, *args)

    def end(self) -> None:
        self.active = False
