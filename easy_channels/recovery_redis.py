"""
The recovery store of a channels-redis layer: sessions and group histories in the layer's own
Redis, under its prefix, so that a socket can resume on any process, also after the process
that held it was killed.

Keys (``<prefix>`` is the layer's): ``<prefix>:ec:s:<sid>`` a session (JSON, expires),
``<prefix>:ec:a:<sid>`` and ``<prefix>:ec:al:<sid>`` its recent acks (a hash, and a list giving
their order), ``<prefix>:ec:r:<group>`` marks a recorded group (expires), ``<prefix>:ec:h:<group>``
its history: a stream trimmed to ``HISTORY`` entries and ``WINDOW`` seconds, appended to by the
group send's own script (:mod:`easy_channels.redis_direct`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from .recovery import ACKS_KEPT, Saved, Store, position_time
from .redis_direct import Recording, run_script

__all__ = ["RedisStore"]

logger = logging.getLogger("easy_channels")

#: Seconds between two renewals of the open sessions' keys (at most; a quarter of WINDOW).
RENEW_SECONDS = 30.0
#: How far before a position's own time the history is read for it first (clock skew).
SKEW_MS = 10_000

# KEYS: the session, then per joined group its marker and history. ARGV: the session's JSON
# (without the joined groups' positions), its ttl, the markers' ttl, then the joined groups.
# Returns each joined group's last recorded position ("" if none).
_SAVE_LUA = """
local saved = cjson.decode(ARGV[1])
local positions = {}
for i = 4, #ARGV do
    local marker, history = KEYS[2 * (i - 3)], KEYS[2 * (i - 3) + 1]
    if redis.call('TTL', marker) < tonumber(ARGV[3]) then
        redis.call('SET', marker, '1', 'EX', ARGV[3])
    end
    local last = redis.call('XREVRANGE', history, '+', '-', 'COUNT', 1)
    local position = ''
    if last[1] then
        local fields = last[1][2]
        for f = 1, #fields, 2 do
            if fields[f] == 'm' then position = fields[f + 1] end
        end
    end
    saved['g'][ARGV[i]] = position
    positions[#positions + 1] = position
end
redis.call('SET', KEYS[1], cjson.encode(saved), 'EX', ARGV[2])
return positions
"""

# KEYS: the session, then the markers of its groups. ARGV: the session's JSON and ttl; the
# markers are kept at least that long.
_KEEP_LUA = """
if ARGV[1] ~= '' then
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
    redis.call('EXPIRE', KEYS[1], ARGV[2])
end
for i = 2, #KEYS do
    if redis.call('TTL', KEYS[i]) < tonumber(ARGV[2]) then
        redis.call('SET', KEYS[i], '1', 'EX', ARGV[2])
    end
end
return 1
"""

# KEYS: the acks hash and list. ARGV: the ack id, how many are kept, their ttl. Returns the
# reply recorded for the id ("" while it runs), or false if it is new (now marked as running).
_ACK_BEGIN_LUA = """
local prior = redis.call('HGET', KEYS[1], ARGV[1])
if prior then return prior end
redis.call('HSET', KEYS[1], ARGV[1], '')
redis.call('RPUSH', KEYS[2], ARGV[1])
while redis.call('LLEN', KEYS[2]) > tonumber(ARGV[2]) do
    redis.call('HDEL', KEYS[1], redis.call('LPOP', KEYS[2]))
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return false
"""


def _script(lua: str) -> tuple[str, str]:
    return lua, hashlib.sha1(lua.encode()).hexdigest()


# KEYS: per note, a session's acks hash and list. ARGV: how many are kept, their ttl, then per
# note the ack id, "b" (it runs: noted unless known) or "d" (done), and the answer.
_NOTES_LUA = """
local kept = tonumber(ARGV[1])
for i = 1, #KEYS / 2 do
    local hash, list = KEYS[2 * i - 1], KEYS[2 * i]
    local at = 3 * i
    local ack = ARGV[at]
    local known = redis.call('HEXISTS', hash, ack) == 1
    if ARGV[at + 1] == 'd' then
        redis.call('HSET', hash, ack, ARGV[at + 2])
    elseif not known then
        redis.call('HSET', hash, ack, '')
    end
    if not known then
        redis.call('RPUSH', list, ack)
        while redis.call('LLEN', list) > kept do
            redis.call('HDEL', hash, redis.call('LPOP', list))
        end
    end
    redis.call('EXPIRE', hash, ARGV[2])
    redis.call('EXPIRE', list, ARGV[2])
end
return 1
"""

_SAVE, _KEEP, _ACK_BEGIN = _script(_SAVE_LUA), _script(_KEEP_LUA), _script(_ACK_BEGIN_LUA)
_NOTES = _script(_NOTES_LUA)
#: Most notes one script call writes.
_NOTES_PER_CALL = 200
#: Seconds notes are gathered before they are written: a request whose handler is done by then
#: is noted once (running and answered in one call), and notes of many sockets go together.
NOTES_DELAY = 0.005


class RedisStore(Store):
    """See the module docstring. One per layer; open sessions are renewed by one task."""

    def __init__(self, layer: Any):
        self.layer = layer
        self.prefix = f"{layer.prefix}:ec:"
        #: sid -> the record of an open socket's session (renewed while it is open)
        self.open: dict[str, Saved] = {}
        self.renewer: asyncio.Task[None] | None = None
        #: Requests' bookkeeping, written by one task in batches: (sid, ack, "b"/"d", answer)
        self.notes: list[tuple[str, str, str, str]] = []
        self.noter: asyncio.Task[None] | None = None

    @property
    def renew_every(self) -> float:
        return max(1.0, min(RENEW_SECONDS, self.window / 4))

    @property
    def ttl(self) -> int:
        """Seconds a session and its groups' markers are kept past their last renewal."""
        return int(self.window + self.renew_every) + 1

    def _connection(self) -> Any:
        return self.layer.connection(0)

    async def _run(self, script: tuple[str, str], keys: list[str], args: list[Any]) -> Any:
        return await run_script(self._connection(), script, keys, args)

    def session_key(self, sid: str) -> str:
        return f"{self.prefix}s:{sid}"

    def marker_key(self, group: str) -> str:
        return f"{self.prefix}r:{group}"

    def history_key(self, group: str) -> str:
        return f"{self.prefix}h:{group}"

    def recording(self, group: str, position: str, message: dict[str, Any]) -> Recording:
        """What the group send's script needs to append ``message`` to ``group``'s history."""
        entry = json.dumps(message, separators=(",", ":"))
        minid = max(0, int((time.time() - self.window) * 1000))
        return Recording(
            [self.marker_key(group), self.history_key(group)],
            [position, entry, self.history, minid, int(self.window) + 1],
        )

    async def save(self, sid: str, saved: Saved, joined: Sequence[str] = ()) -> None:
        keys = [self.session_key(sid)]
        for group in joined:
            keys += [self.marker_key(group), self.history_key(group)]
        positions = await self._run(_SAVE, keys, [saved.dumps(), self.ttl, self.ttl, *joined])
        for group, position in zip(joined, positions or (), strict=False):
            saved.groups[group] = position.decode() if isinstance(position, bytes) else position
        self.open[sid] = saved
        if self.renewer is None or self.renewer.done():
            self.renewer = asyncio.get_running_loop().create_task(self._renew())

    async def _renew(self) -> None:
        """Keep the open sessions and their groups' markers while their sockets are open."""
        while self.open:
            await asyncio.sleep(self.renew_every)
            for sid, saved in list(self.open.items()):
                try:
                    await self._keep(sid, saved, self.ttl, rewrite=False)
                except Exception as exc:  # Redis down: the next round tries again
                    logger.warning(
                        "easy_channels: could not renew recovery session %s (%r)", sid, exc
                    )
                    break

    async def _keep(self, sid: str, saved: Saved, ttl: int, *, rewrite: bool) -> None:
        keys = [self.session_key(sid), *(self.marker_key(group) for group in saved.groups)]
        text = saved.dumps() if rewrite else ""
        await self._run(_KEEP, keys, [text, ttl])

    async def load(self, sid: str) -> Saved | None:
        text = await self._connection().get(self.session_key(sid))
        return None if text is None else Saved.loads(text)

    async def away(self, sid: str, saved: Saved) -> None:
        self.open.pop(sid, None)
        await self._keep(sid, saved, int(self.window) + 1, rewrite=True)

    async def end(self, sid: str, saved: Saved) -> None:
        self.open.pop(sid, None)
        await self._connection().delete(
            self.session_key(sid), f"{self.prefix}a:{sid}", f"{self.prefix}al:{sid}"
        )

    def left(self, saved: Saved, group: str) -> None:
        saved.groups.pop(group, None)

    async def since(self, group: str, after: str) -> list[tuple[str, dict[str, Any]]] | None:
        key = self.history_key(group)
        connection = self._connection()
        if not after:
            return _entries(await connection.xrange(key, "-", "+"))
        start = max(0, position_time(after) // 1000 - SKEW_MS)
        near = _entries(await connection.xrange(key, f"{start}-0", "+"))
        for index, (position, _) in enumerate(near):
            if position == after:
                return near[index + 1 :]
        every = _entries(await connection.xrange(key, "-", "+"))  # a clock far off
        for index, (position, _) in enumerate(every):
            if position == after:
                return every[index + 1 :]
        return None

    async def ack_begin(self, sid: str, ack: str) -> str | None:
        keys = [f"{self.prefix}a:{sid}", f"{self.prefix}al:{sid}"]
        prior = await self._run(_ACK_BEGIN, keys, [ack, ACKS_KEPT, self.ttl])
        if prior is None:
            return None
        return prior.decode() if isinstance(prior, bytes) else str(prior)

    def note_begin(self, sid: str, ack: str) -> None:
        self._note((sid, ack, "b", ""))

    def note_done(self, sid: str, ack: str, reply: str) -> None:
        self._note((sid, ack, "d", reply))

    def _note(self, note: tuple[str, str, str, str]) -> None:
        """Queue a note: every note queued while one call is under way goes in the next one."""
        self.notes.append(note)
        if self.noter is None or self.noter.done():
            self.noter = asyncio.get_running_loop().create_task(self._write_notes())

    async def _write_notes(self) -> None:
        from .conf import get_config
        from .layer import bounded

        while self.notes:
            await asyncio.sleep(NOTES_DELAY)
            batch, self.notes = self.notes[:_NOTES_PER_CALL], self.notes[_NOTES_PER_CALL:]
            keys: list[str] = []
            args: list[Any] = [ACKS_KEPT, self.ttl]
            for sid, ack, kind, reply in batch:
                keys += [f"{self.prefix}a:{sid}", f"{self.prefix}al:{sid}"]
                args += [ack, kind, reply]
            try:
                await bounded(
                    self.layer,
                    self._run(_NOTES, keys, args),
                    "a recovery session",
                    get_config().layer_timeout,
                )
            except Exception as exc:  # LayerUnavailable is logged by bounded()
                logger.warning(
                    "easy_channels: %d request(s) of recovery sessions were not noted (%r): "
                    "repeated after a reconnect, they would run again",
                    len(batch),
                    exc,
                )


def _entries(raw: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    """XRANGE's answer as (position, layer message) pairs."""
    entries = []
    for _, fields in raw:
        position = fields[b"m"].decode()
        entries.append((position, json.loads(fields[b"j"])))
    return entries
