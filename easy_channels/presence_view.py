"""
:class:`GroupView`: one group's presence as this process knows it, its local tracked sockets,
and the ``presence_diff`` frames they get (coalesced over ``PRESENCE["INTERVAL"]``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from . import protocol
from .outgoing import FRAME_TYPE
from .presence_store import Entry
from .recipient import Recipient

__all__ = ["GroupView", "Tracked", "Visible", "empty_state", "members"]

#: Who may see an entry: ``visible(key, meta)``.
Visible = Callable[[str, dict[str, Any]], bool]
#: (counter, ref, entry before, entry after) of one change.
Event = tuple[int, str, Entry | None, Entry | None]


def members(entries: Iterable[Entry], visible: Visible | None = None) -> dict[str, list[Any]]:
    """``{key: [meta, ...]}`` of ``entries`` (those ``visible`` allows)."""
    grouped: dict[str, list[Any]] = {}
    for key, meta in entries:
        if visible is None or visible(key, meta):
            grouped.setdefault(key, []).append(meta)
    return grouped


def empty_state(group: str) -> str:
    """The ``presence_state`` of a socket no longer tracked in ``group``: nobody."""
    return protocol.encode_event("presence_state", {"group": group, "members": {}})


@dataclass(eq=False, slots=True)
class Tracked:
    """One socket tracked in one group: where its frames go, its entry, what it was told."""

    recipient: Recipient
    ref: str
    entry: Entry
    visible: Visible | None
    #: the view's change counter when this socket was last given the whole state
    since: int = 0


class GroupView:
    """
    Every entry of one group, in every process, as this process knows it: a snapshot from the
    store when its first local socket is tracked, then the changes every process announces.
    Changes apply by ref, so one that came twice (in the snapshot and announced) counts once.
    """

    __slots__ = (
        "counter",
        "events",
        "flushed",
        "group",
        "loading",
        "local",
        "ready",
        "timer",
        "view",
    )

    def __init__(self, group: str, ready: asyncio.Future[None]):
        self.group = group
        self.view: dict[str, Entry] = {}
        #: ops that came before the snapshot (None once the view is loaded)
        self.loading: list[list[Any]] | None = []
        self.ready = ready  # done once loaded
        self.local: dict[Tracked, None] = {}
        self.counter = 0  # changes applied
        self.flushed = 0  # the counter at the last flush
        self.events: list[Event] = []  # since the last flush
        self.timer: asyncio.TimerHandle | None = None

    def load(self, snapshot: dict[str, Entry], interval: float) -> None:
        """The first snapshot, then what came while it was read."""
        self.view = dict(snapshot)
        early, self.loading = self.loading or [], None
        self.ready.set_result(None)
        self.apply(early, interval)

    def receive(self, ops: list[list[Any]], interval: float) -> None:
        """Ops another process announced (kept for later while the snapshot is read)."""
        if self.loading is not None:
            self.loading.extend(ops)
        else:
            self.apply(ops, interval)

    def apply(self, ops: Iterable[list[Any]], interval: float) -> None:
        """``["+", ref, key, meta]`` and ``["-", ref]`` ops: the local members hear of them."""
        changed = False
        for op in ops:
            ref = op[1]
            before = self.view.get(ref)
            after: Entry | None = None
            if op[0] == "+":
                after = (op[2], op[3])
                if before == after:
                    continue
                self.view[ref] = after
            elif before is None:
                continue
            else:
                del self.view[ref]
            self.counter += 1
            self.events.append((self.counter, ref, before, after))
            changed = True
        if changed and self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(interval, self.flush)

    def reconcile(self, held: dict[str, Entry], interval: float) -> None:
        """Make the view what the store holds (after a Redis that forgot, say)."""
        ops: list[list[Any]] = [["-", ref] for ref in self.view if ref not in held]
        ops += [["+", ref, *entry] for ref, entry in held.items() if self.view.get(ref) != entry]
        self.apply(ops, interval)

    def state(self, tracked: Tracked) -> str:
        """The ``presence_state`` frame for ``tracked``, which from now on knows every change."""
        tracked.since = self.counter
        payload = {"group": self.group, "members": members(self.view.values(), tracked.visible)}
        return protocol.encode_event("presence_state", payload)

    def local_entries(self) -> dict[str, Entry]:
        return {tracked.ref: tracked.entry for tracked in self.local}

    def flush(self) -> None:
        """Send each local member what changed since it last heard (one frame per member)."""
        self.timer = None
        events, self.events = self.events, []
        start, self.flushed = self.flushed, self.counter
        shared: str | None = None
        for tracked in list(self.local):
            if tracked.since >= self.counter:
                continue  # its state holds every change
            if tracked.since <= start and tracked.visible is None:
                if shared is None:
                    shared = _diff(self.group, events, None) or ""
                text: str | None = shared
            else:
                newer = [event for event in events if event[0] > tracked.since]
                text = _diff(self.group, newer, tracked.visible)
            if text:
                tracked.recipient.hand({"type": FRAME_TYPE, "text": text}, self.group)

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def _diff(group: str, events: list[Event], visible: Visible | None) -> str | None:
    """The ``presence_diff`` frame of ``events`` (None if nothing visible changed)."""
    net: dict[str, list[Entry | None]] = {}
    for _, ref, before, after in events:
        if ref in net:
            net[ref][1] = after
        else:
            net[ref] = [before, after]
    joins: dict[str, list[Any]] = {}
    leaves: dict[str, list[Any]] = {}
    for before, after in net.values():
        if before == after:
            continue
        if before is not None and (visible is None or visible(*before)):
            leaves.setdefault(before[0], []).append(before[1])
        if after is not None and (visible is None or visible(*after)):
            joins.setdefault(after[0], []).append(after[1])
    if not joins and not leaves:
        return None
    return protocol.encode_event(
        "presence_diff", {"group": group, "joins": joins, "leaves": leaves}
    )
