"""
Where recovery keeps its state: the sessions of sockets that may come back, and each recorded
group's recent messages. :func:`store_for` picks the store of a layer: in process memory for
Channels' in-memory layer (:class:`MemoryStore`), in the layer's Redis for channels-redis
(:class:`easy_channels.recovery_redis.RedisStore`), none for any other layer (the system check
``easy_channels.E010`` reports a consumer that asks for recovery there).

A group message's position is made by its sender (:func:`new_position`), before the layer
sees it, so that members in the sender's process get it without waiting for the store; the
history keeps positions in the order messages were recorded.
"""

from __future__ import annotations

import json
import random
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import protocol

__all__ = [
    "POSITION_KEY",
    "MemoryStore",
    "Saved",
    "Store",
    "new_position",
    "position_time",
    "store_for",
]

#: The key of a group message's position in a layer message (``[group, position]``) and in
#: the frame a recovering socket gets.
POSITION_KEY = protocol.POSITION_KEY

#: Whether a consumer class with ``recovery = True`` exists in this process (set by the
#: class's creation): only then do group sends carry positions and get recorded.
wanted = False

#: Most acks a session remembers for requests sent again after a reconnect.
ACKS_KEPT = 100


def new_position() -> str:
    """A group message's position: ``<unix µs>-<8 hex digits>``, unique without coordination."""
    return f"{time.time_ns() // 1000}-{random.getrandbits(32):08x}"


def position_time(position: str) -> int:
    """The unix microseconds a position was made at (0 if it isn't one)."""
    head, _, _ = position.partition("-")
    return int(head) if head.isdigit() else 0


@dataclass
class Saved:
    """What a session leaves behind for its next socket: who it was, and its groups."""

    #: The consumer class and path it was served at (a session only resumes there).
    owner: str
    #: The pk of the authenticated user, or None (a session only resumes for the same user).
    user: str | None
    #: group -> the position the session joined it at (the last recorded one then, or "").
    groups: dict[str, str] = field(default_factory=dict)
    #: The layer channels the session's sockets had (their exclude_self sends stay excluded).
    channels: list[str] = field(default_factory=list)
    #: The highest integer request id its last socket got, written when that socket dropped
    #: (None: not known, e.g. its process was killed): only requests up to it can be repeats.
    acks_up_to: int | None = None

    def dumps(self) -> str:
        data: dict[str, Any] = {
            "o": self.owner,
            "u": self.user,
            "g": self.groups,
            "c": self.channels[-8:],
        }
        if self.acks_up_to is not None:
            data["a"] = self.acks_up_to
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str | bytes) -> Saved:
        data = json.loads(text)
        return cls(data["o"], data["u"], dict(data["g"]), list(data["c"]), data.get("a"))


class Store:
    """
    Sessions and group histories, bounded by :attr:`window` (seconds a session outlives its
    socket, and a message its sending) and :attr:`history` (messages kept per group).
    """

    @property
    def window(self) -> float:
        from .conf import get_config

        return float(get_config().recovery["WINDOW"])

    @property
    def history(self) -> int:
        from .conf import get_config

        return int(get_config().recovery["HISTORY"])

    async def save(self, sid: str, saved: Saved, joined: Sequence[str] = ()) -> None:
        """
        Keep ``saved`` while its socket is open; ``joined``: groups it just joined, whose
        position now goes in ``saved.groups`` and which are recorded from now on.
        """
        raise NotImplementedError

    async def load(self, sid: str) -> Saved | None:
        raise NotImplementedError

    async def away(self, sid: str, saved: Saved) -> None:
        """The socket dropped: keep the session, and record its groups, ``window`` more seconds."""
        raise NotImplementedError

    async def end(self, sid: str, saved: Saved) -> None:
        """Forget a session (a clean close): nothing is replayed after it."""
        raise NotImplementedError

    def left(self, saved: Saved, group: str) -> None:
        """The socket left ``group`` (its other groups stay recorded)."""

    async def since(self, group: str, after: str) -> list[tuple[str, dict[str, Any]]] | None:
        """
        The recorded messages of ``group`` after position ``after`` ("": all of them), oldest
        first; None if ``after`` is no longer in the history (trimmed, or never recorded).
        """
        raise NotImplementedError

    async def ack_begin(self, sid: str, ack: str) -> str | None:
        """Note that request ``ack`` runs; None if new, else its reply ("": still running)."""
        raise NotImplementedError

    def note_begin(self, sid: str, ack: str) -> None:
        """:meth:`ack_begin` for a request that can't be a repeat: written without waiting."""
        raise NotImplementedError

    def note_done(self, sid: str, ack: str, reply: str) -> None:
        """Keep request ``ack``'s reply, written without waiting."""
        raise NotImplementedError

    def record(self, group: str, position: str, message: dict[str, Any]) -> None:
        """Append to ``group``'s history if it is recorded (stores the sender writes to)."""


class MemoryStore(Store):
    """The store of Channels' in-memory layer: everything in this process, bounded."""

    def __init__(self) -> None:
        #: sid -> (when it expires, by the monotonic clock; None while its socket is open)
        self.sessions: dict[str, tuple[float | None, Saved]] = {}
        #: group -> (monotonic time, position, message), oldest first
        self.histories: dict[str, deque[tuple[float, str, dict[str, Any]]]] = {}
        #: group -> open sockets that recover in it
        self.open: dict[str, int] = {}
        #: group -> until when it is recorded for sockets that dropped
        self.until: dict[str, float] = {}
        self.acks: dict[str, OrderedDict[str, str]] = {}

    def _sweep(self) -> None:
        now = time.monotonic()
        for sid, (expires, _) in list(self.sessions.items()):
            if expires is not None and expires <= now:
                del self.sessions[sid]
                self.acks.pop(sid, None)
        for group, until in list(self.until.items()):
            if until <= now:
                del self.until[group]
        for group in list(self.histories):
            if group not in self.open and group not in self.until:
                del self.histories[group]

    def _close(self, groups: Iterable[str]) -> None:
        """Sockets of these groups that recover closed: one fewer open in each."""
        for group in groups:
            count = self.open.get(group, 0) - 1
            if count > 0:
                self.open[group] = count
            else:
                self.open.pop(group, None)

    async def save(self, sid: str, saved: Saved, joined: Sequence[str] = ()) -> None:
        self._sweep()
        for group in joined:
            history = self.histories.get(group)
            saved.groups[group] = history[-1][1] if history else ""
            self.open[group] = self.open.get(group, 0) + 1
        self.sessions[sid] = (None, saved)

    async def load(self, sid: str) -> Saved | None:
        self._sweep()
        entry = self.sessions.get(sid)
        return None if entry is None else entry[1]

    async def away(self, sid: str, saved: Saved) -> None:
        self._close(saved.groups)
        until = time.monotonic() + self.window
        for group in saved.groups:
            self.until[group] = max(self.until.get(group, 0.0), until)
        self.sessions[sid] = (until, saved)

    async def end(self, sid: str, saved: Saved) -> None:
        self._close(saved.groups)
        self.sessions.pop(sid, None)
        self.acks.pop(sid, None)
        self._sweep()

    def left(self, saved: Saved, group: str) -> None:
        if saved.groups.pop(group, None) is not None:
            self._close((group,))

    async def since(self, group: str, after: str) -> list[tuple[str, dict[str, Any]]] | None:
        self._sweep()
        entries = [(position, message) for _, position, message in self.histories.get(group, ())]
        if not after:
            return entries
        for index, (position, _) in enumerate(entries):
            if position == after:
                return entries[index + 1 :]
        return None

    async def ack_begin(self, sid: str, ack: str) -> str | None:
        return self._begin(sid, ack)

    def note_begin(self, sid: str, ack: str) -> None:
        self._begin(sid, ack)

    def _begin(self, sid: str, ack: str) -> str | None:
        acks = self.acks.setdefault(sid, OrderedDict())
        if ack in acks:
            return acks[ack]
        acks[ack] = ""
        while len(acks) > ACKS_KEPT:
            acks.popitem(last=False)
        return None

    def note_done(self, sid: str, ack: str, reply: str) -> None:
        acks = self.acks.get(sid)
        if acks is not None and ack in acks:
            acks[ack] = reply

    def record(self, group: str, position: str, message: dict[str, Any]) -> None:
        now = time.monotonic()
        if group not in self.open and self.until.get(group, 0.0) <= now:
            return
        history = self.histories.get(group)
        if history is None:
            history = self.histories[group] = deque(maxlen=self.history)
        history.append((now, position, message))
        while history[0][0] < now - self.window:
            history.popleft()


def store_for(layer: Any) -> Store | None:
    """The recovery store of ``layer`` (None: the layer can't keep one), made on first use."""
    from .backends import backend_for

    return backend_for(layer).recovery_store()
