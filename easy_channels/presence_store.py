"""
Where presence is kept: :class:`PresenceStore`, the interface, and :class:`MemoryPresence`, the
store of Channels' in-memory layer (one process). The channels-redis one is
:class:`easy_channels.presence_redis.RedisPresence`.

An entry is one tracked socket in one group: its *ref* (``<process>|<n>``, unique among the
processes sharing the layer) and its ``(key, meta)``. Processes keep their entries alive by a
heartbeat; a store that outlives processes (Redis) reaps the entries of one that stopped
beating.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

__all__ = ["Entry", "MemoryPresence", "PresenceStore", "store_for"]

#: (key, meta) of one tracked socket.
Entry = tuple[str, dict[str, Any]]


class PresenceStore:
    """What a presence store does; every method may raise (the tracker bounds and logs)."""

    #: True if processes must keep their entries alive (entries outlive a dead process).
    beats = False

    async def change(
        self,
        proc: str,
        group: str,
        joins: dict[str, Entry],
        leaves: Collection[str],
        *,
        still: bool,
        snapshot: bool,
    ) -> dict[str, Entry] | None:
        """
        Add ``joins`` (ref -> entry) and remove ``leaves`` (refs) of ``proc`` in ``group``.

        ``still``: ``proc`` keeps entries in the group afterwards. With ``snapshot``, returns
        every live entry of the group after the change, read at once with it.
        """
        raise NotImplementedError

    async def entries(self, group: str) -> dict[str, Entry]:
        """Every entry of ``group`` whose process is alive, by ref."""
        raise NotImplementedError

    async def members(self, group: str) -> dict[str, list[Any]]:
        """``{key: [meta, ...]}`` of :meth:`entries` (what ``presence()`` returns)."""
        return _members((await self.entries(group)).values())

    async def groups(self) -> dict[str, int]:
        """Every group with entries, and how many (for ``easy_channels_presence``)."""
        raise NotImplementedError

    async def beat(self, proc: str, lifetime: float, groups: Collection[str]) -> bool:
        """
        ``proc`` is alive for ``lifetime`` more seconds, with entries in ``groups``; False if
        the store forgot it (then nothing was renewed: its entries must be written again).
        """
        return True

    async def reap(self) -> dict[str, list[str]]:
        """Remove the entries of processes that stopped beating: group -> their refs."""
        return {}

    async def forget(self, proc: str) -> None:
        """``proc`` keeps no entry any more (its heartbeat stops)."""


class MemoryPresence(PresenceStore):
    """Every entry in this process: the in-memory layer's processes are one."""

    def __init__(self) -> None:
        #: group -> ref -> entry
        self.entries_by_group: dict[str, dict[str, Entry]] = {}

    async def change(
        self,
        proc: str,
        group: str,
        joins: dict[str, Entry],
        leaves: Collection[str],
        *,
        still: bool,
        snapshot: bool,
    ) -> dict[str, Entry] | None:
        entries = self.entries_by_group.setdefault(group, {})
        entries.update(joins)
        for ref in leaves:
            entries.pop(ref, None)
        if not entries:
            del self.entries_by_group[group]
        return dict(entries) if snapshot else None

    async def entries(self, group: str) -> dict[str, Entry]:
        return dict(self.entries_by_group.get(group, {}))

    async def groups(self) -> dict[str, int]:
        return {group: len(entries) for group, entries in self.entries_by_group.items()}


def _members(entries: Any) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for key, meta in entries:
        grouped.setdefault(key, []).append(meta)
    return grouped


def store_for(layer: Any) -> PresenceStore | None:
    """The presence store of ``layer`` (None: presence can't be kept there), made once."""
    from .backends import backend_for

    return backend_for(layer).presence_store()
