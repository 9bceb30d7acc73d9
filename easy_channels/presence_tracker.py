"""
:class:`Tracker`: presence in one event loop for one channel layer.

For each group with a tracked socket here, the tracker keeps a *view*: every entry of the group,
in every process, as this process knows it (a snapshot from the store when the first local
socket is tracked, then the changes every process announces). The local members get their
``presence_state`` from it, and ``presence_diff`` frames built from its changes, coalesced over
``PRESENCE["INTERVAL"]`` (:mod:`easy_channels.presence_view`). docs/architecture.md says why
it is built this way.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import uuid
from collections.abc import Collection
from typing import Any

from .exceptions import LayerUnavailable
from .layer import PRESENCE_PREFIX, PerLoop, bounded
from .outgoing import Outgoing, deliver
from .presence_store import Entry, PresenceStore, store_for
from .presence_view import GroupView, Tracked, Visible
from .recipient import Recipient

__all__ = ["PRESENCE_TYPE", "Tracker", "existing_tracker", "presence_channel", "tracker_for"]

logger = logging.getLogger("easy_channels")

#: The layer message announcing presence changes to the other processes: ``ops`` is a list of
#: ``["+", ref, key, meta]`` and ``["-", ref]``, in order.
PRESENCE_TYPE = "easy_channels.presence"
#: Ops waiting for the layer per group while it is down; older ones are dropped beyond this.
MAX_WAITING_OPS = 10_000


def presence_channel(group: str) -> str:
    """The layer group of ``group``'s presence changes (hashed if the name would be too long)."""
    name = PRESENCE_PREFIX + group
    if len(name) < 100:
        return name
    return PRESENCE_PREFIX + hashlib.sha1(group.encode()).hexdigest()


class Tracker:
    """See the module docstring. One per layer and event loop (:func:`tracker_for`)."""

    def __init__(self, layer: Any):
        self.layer = layer
        self.store: PresenceStore | None = store_for(layer)
        #: this process's part of every ref (unique among the processes sharing the layer)
        self.proc = uuid.uuid4().hex[:12]
        self.numbers = itertools.count(1)
        self.groups: dict[str, GroupView] = {}
        #: socket -> group -> its tracking
        self.tracked: dict[Recipient, dict[str, Tracked]] = {}
        #: The tracker reads the groups' presence channels through the hub, like a socket.
        self.recipient = Recipient(self._receive, 1 << 30, "presence")
        self.outbox: dict[str, list[list[Any]]] = {}
        self.sender: asyncio.Task[None] | None = None
        self.heartbeat: asyncio.Task[None] | None = None
        #: group -> refs the store may still hold: their leave failed (retried on each beat)
        self.stale: dict[str, set[str]] = {}
        self.idle = asyncio.Event()  # set when nothing is tracked here any more
        self.changing = 0  # store changes under way
        self.reconcile = False  # at the next beat: check every view against the store
        self.announce = False  # at the next beat: announce every local entry again

    @staticmethod
    def _settings() -> tuple[float, float, float]:
        from .conf import get_config

        config = get_config()
        presence = config.presence
        return float(presence["INTERVAL"]), float(presence["TIMEOUT"]), config.layer_timeout

    # -- tracking --------------------------------------------------------------------------------

    async def add(
        self, recipient: Recipient, hub: Any, group: str, entry: Entry, visible: Visible | None
    ) -> str:
        """Track a socket (already in ``group``); the text of its ``presence_state`` frame."""
        assert self.store is not None  # the consumer checked (presence.require_store)
        interval, _, limit = self._settings()
        mine = self.tracked.setdefault(recipient, {})
        tracked = mine.get(group)
        g = self.groups.get(group)
        first = g is None
        if g is None:
            g = self.groups[group] = GroupView(group, asyncio.get_running_loop().create_future())
        ref = tracked.ref if tracked is not None else f"{self.proc}|{next(self.numbers)}"
        try:
            if first:
                await hub.join(self.recipient, presence_channel(group), limit)
            snapshot = await self._change(
                f"presence_add({group!r})", group, {ref: entry}, (), still=True, snapshot=first
            )
            if first:
                g.load(snapshot or {}, interval)
            elif g.loading is not None:
                await asyncio.shield(g.ready)
        except BaseException:
            if first and not g.ready.done():
                g.ready.set_exception(LayerUnavailable(f"presence_add({group!r}) failed"))
                g.ready.exception()  # retrieved here: waiters raise it themselves
            if tracked is None:
                self._stale(group, ref)
                if not mine:
                    del self.tracked[recipient]
                await self._drop_if_unused(hub, group, g)
            raise
        if tracked is None:
            tracked = mine[group] = Tracked(recipient, ref, entry, visible)
        tracked.entry = entry
        g.apply([["+", ref, *entry]], interval)
        self._post(group, ["+", ref, *entry])
        g.local[tracked] = None
        self._start_heartbeat()
        return g.state(tracked)

    async def discard(self, recipient: Recipient, hub: Any, group: str) -> bool:
        """Stop tracking a socket in ``group``; False if it wasn't tracked there."""
        mine = self.tracked.get(recipient)
        tracked = mine.pop(group, None) if mine is not None else None
        if tracked is None:
            return False
        if not mine:
            del self.tracked[recipient]
        g = self.groups.get(group)
        if g is not None:
            g.local.pop(tracked, None)
            g.apply([["-", tracked.ref]], self._settings()[0])
        self._post(group, ["-", tracked.ref])
        try:
            await self._change(
                f"presence_discard({group!r})",
                group,
                {},
                [tracked.ref],
                still=bool(g and g.local),
                snapshot=False,
            )
        except Exception:
            self._stale(group, tracked.ref)  # removed on a later beat
            raise
        finally:
            if g is not None:
                await self._drop_if_unused(hub, group, g)
        return True

    async def _change(
        self,
        what: str,
        group: str,
        joins: dict[str, Entry],
        leaves: Collection[str],
        *,
        still: bool,
        snapshot: bool,
    ) -> dict[str, Entry] | None:
        """A store change, bounded; the heartbeat ends only once none is under way."""
        store = self.store
        assert store is not None
        _, _, limit = self._settings()
        self.changing += 1
        try:
            change = store.change(self.proc, group, joins, leaves, still=still, snapshot=snapshot)
            result: dict[str, Entry] | None = await bounded(self.layer, change, what, limit)
            return result
        finally:
            self.changing -= 1
            if not (self.groups or self.stale or self.changing):
                self.idle.set()

    async def discard_all(self, recipient: Recipient, hub: Any) -> None:
        """Stop tracking a socket that left (a failure is logged, the rest goes on)."""
        for group in list(self.tracked.get(recipient, ())):
            try:
                await self.discard(recipient, hub, group)
            except LayerUnavailable:
                pass  # logged by bounded(); the entry is removed on a later beat
            except Exception:
                logger.exception("easy_channels: could not stop tracking presence in %r", group)

    async def _drop_if_unused(self, hub: Any, group: str, g: GroupView) -> None:
        if g.local or self.groups.get(group) is not g:
            return
        del self.groups[group]
        g.stop()
        if not (self.groups or self.stale or self.changing):
            self.idle.set()
        _, _, limit = self._settings()
        try:
            await hub.leave(self.recipient, presence_channel(group), limit)
        except LayerUnavailable:
            pass  # logged by bounded(); the layer forgets the membership after its group_expiry
        except Exception:
            logger.exception("easy_channels: could not leave the presence channel of %r", group)

    def _stale(self, group: str, ref: str) -> None:
        self.stale.setdefault(group, set()).add(ref)
        self._start_heartbeat()

    # -- the views -------------------------------------------------------------------------------

    async def _receive(self, message: dict[str, Any]) -> None:
        """A message of a presence channel (from the hub): another process's changes."""
        if message.get("type") != PRESENCE_TYPE:
            return
        group = message.get("group")
        g = self.groups.get(group) if isinstance(group, str) else None
        ops = message.get("ops")
        if g is not None and isinstance(ops, list):
            g.receive(ops, self._settings()[0])

    # -- the other processes ---------------------------------------------------------------------

    def _post(self, group: str, op: list[Any]) -> None:
        """Announce ``op`` to the other processes, with the others of the next INTERVAL."""
        ops = self.outbox.setdefault(group, [])
        ops.append(op)
        if len(ops) > MAX_WAITING_OPS:
            del ops[0]
        if self.sender is None or self.sender.done():
            self.sender = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        interval, _, limit = self._settings()
        while self.outbox:
            await asyncio.sleep(interval)
            outbox, self.outbox = self.outbox, {}
            groups = list(outbox)
            for index, group in enumerate(groups):
                message = {"type": PRESENCE_TYPE, "group": group, "ops": outbox[group]}
                try:
                    outgoing = Outgoing.to_group(presence_channel(group), message)
                    await deliver(self.layer, outgoing, limit)
                except Exception as exc:
                    # This group's ops and the ones not sent yet are kept, in order, before
                    # what came meanwhile: sent when the layer is back.
                    for unsent in groups[index:]:
                        ops = [*outbox[unsent], *self.outbox.get(unsent, [])]
                        self.outbox[unsent] = ops[-MAX_WAITING_OPS:]
                    logger.warning(
                        "easy_channels: could not announce presence changes in %r (%r); "
                        "trying again",
                        group,
                        exc,
                    )
                    await asyncio.sleep(max(interval, 1.0))
                    break

    def _start_heartbeat(self) -> None:
        store = self.store
        if store is None or not store.beats:
            return
        if self.heartbeat is None or self.heartbeat.done():
            self.heartbeat = asyncio.get_running_loop().create_task(self._beat_forever())

    async def _beat_forever(self) -> None:
        """Keep this process's entries alive, and reap those of processes that died."""
        store = self.store
        assert store is not None
        at_once = False
        while True:
            while self.groups or self.stale or self.changing:
                _, timeout, limit = self._settings()
                self.idle.clear()
                if not at_once:
                    with contextlib.suppress(TimeoutError):  # woken early once nothing is left
                        await asyncio.wait_for(self.idle.wait(), timeout / 3)
                    if not (self.groups or self.stale or self.changing):
                        break
                at_once = False
                try:
                    await bounded(self.layer, self._beat(timeout), "presence heartbeat", limit)
                except Exception as exc:  # LayerUnavailable is logged by bounded()
                    if not isinstance(exc, LayerUnavailable):
                        logger.exception("easy_channels: presence heartbeat failed")
            try:
                await store.forget(self.proc)
            except Exception as exc:
                logger.warning("easy_channels: could not end the presence heartbeat (%r)", exc)
            if not (self.groups or self.stale or self.changing):
                return
            # A socket was tracked while the store forgot this process: beat now, which finds
            # out whether the store still knows it, and writes its entries again if not.
            at_once = True

    async def _beat(self, lifetime: float) -> None:
        store = self.store
        assert store is not None
        known = await store.beat(self.proc, lifetime, list(self.groups))
        if not known and self.groups:  # Redis restarted, or reaped us as dead: tell it again
            await self._repopulate()
            self.reconcile = self.announce = True
        elif self.reconcile or self.announce:
            if self.announce:
                self._announce_all()
            if self.reconcile:
                await self._reconcile_all()
            self.reconcile = self.announce = False
        for group, refs in list(self.stale.items()):
            g = self.groups.get(group)
            still = bool(g and g.local)
            await store.change(self.proc, group, {}, refs, still=still, snapshot=False)
            self.stale.pop(group, None)
        for group, dead in (await store.reap()).items():
            ops = [["-", ref] for ref in dead]
            for op in ops:
                self._post(group, op)
            g = self.groups.get(group)
            if g is not None and g.loading is None:
                g.apply(ops, self._settings()[0])

    async def _repopulate(self) -> None:
        store = self.store
        assert store is not None
        for group, g in list(self.groups.items()):
            joins = g.local_entries()
            if joins:
                await store.change(self.proc, group, joins, (), still=True, snapshot=False)
        self._announce_all()

    def _announce_all(self) -> None:
        """Every local entry again: views that lost them (a reap that raced us) get them back."""
        for group, g in list(self.groups.items()):
            for ref, entry in g.local_entries().items():
                self._post(group, ["+", ref, *entry])

    async def _reconcile_all(self) -> None:
        """Make each view what the store holds (entries lost with a Redis that forgot)."""
        store = self.store
        assert store is not None
        for group, g in list(self.groups.items()):
            if g.loading is not None:
                continue
            g.reconcile(await store.entries(group), self._settings()[0])


_trackers: PerLoop[Tracker] = PerLoop(Tracker)
#: The presence tracker of a layer in the running event loop.
tracker_for = _trackers.get
#: ... or None if there is none yet.
existing_tracker = _trackers.existing
