"""
The presence store of a channels-redis layer: entries in the layer's own Redis, under its
prefix, so that every process sharing the layer sees every tracked socket, and the entries of
a process that died without leaving are reaped by the others.

Keys (``<prefix>`` is the layer's): ``<prefix>:ec:p:<group>`` a hash of the group's entries
(``<process>|<n>`` -> ``[key, meta]`` as JSON); ``<prefix>:ec:pp`` a sorted set of the processes
with entries, scored by when each stops being alive (milliseconds) unless it beats again;
``<prefix>:ec:pi:<process>`` the set of groups a process has entries in, so its entries can be
found when it is reaped. Everything expires by itself once no process renews it.
"""

from __future__ import annotations

import gc
import hashlib
import json
import time
from collections.abc import Collection
from typing import Any

from .presence_store import Entry, PresenceStore
from .redis_direct import run_script

__all__ = ["RedisPresence"]


def _script(lua: str) -> tuple[str, str]:
    return lua, hashlib.sha1(lua.encode()).hexdigest()


# The entries of a group's hash whose process is alive, as two strings that parse in Python in
# a fraction of the time of 2n bulk replies (20,000 for a group of 10,000): their refs joined
# by newlines, and their values ([key, meta]) as one JSON array. With ``values_only``, only
# that array; then, while no process is overdue (nearly always), the hash's values as they are.
_LIVE = """
local function live(hash, procs, now, values_only)
    local overdue = redis.call('ZRANGEBYSCORE', procs, '-inf', '(' .. now, 'LIMIT', 0, 1)
    if values_only and #overdue == 0 then
        return '[' .. table.concat(redis.call('HVALS', hash), ',') .. ']'
    end
    local alive = {}
    for _, proc in ipairs(redis.call('ZRANGEBYSCORE', procs, now, '+inf')) do
        alive[proc] = true
    end
    local raw = redis.call('HGETALL', hash)
    local refs, values = {}, {}
    for i = 1, #raw, 2 do
        local ref = raw[i]
        if alive[string.sub(ref, 1, string.find(ref, '|', 1, true) - 1)] then
            refs[#refs + 1] = ref
            values[#values + 1] = raw[i + 1]
        end
    end
    local array = '[' .. table.concat(values, ',') .. ']'
    if values_only then
        return array
    end
    return {table.concat(refs, '\\n'), array}
end
"""

# KEYS: the group's hash, the process's index, the processes. ARGV: the process, the group,
# when it stops being alive, the keys' ttl, still (1: it keeps entries in the group), snapshot
# (1: return the group's entries and the live processes), now, the number n of joins, n
# (ref, entry) pairs, then the refs that leave.
_CHANGE = _script(
    _LIVE
    + """
local n = tonumber(ARGV[8])
local at = 9
for i = 1, n do
    redis.call('HSET', KEYS[1], ARGV[at], ARGV[at + 1])
    at = at + 2
end
for i = at, #ARGV do
    redis.call('HDEL', KEYS[1], ARGV[i])
end
if redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('EXPIRE', KEYS[1], ARGV[4])
end
if ARGV[5] == '1' then
    redis.call('SADD', KEYS[2], ARGV[2])
else
    redis.call('SREM', KEYS[2], ARGV[2])
end
if redis.call('EXISTS', KEYS[2]) == 1 then
    redis.call('EXPIRE', KEYS[2], ARGV[4])
    redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
    redis.call('EXPIRE', KEYS[3], ARGV[4])
end
if ARGV[6] == '1' then
    return live(KEYS[1], KEYS[3], ARGV[7], false)
end
return 0
"""
)

# KEYS: a group's hash, the processes. ARGV: now, and "1" for the values only. The entries of
# live processes (see _LIVE).
_ENTRIES = _script(
    _LIVE
    + """
return live(KEYS[1], KEYS[2], ARGV[1], ARGV[2] == '1')
"""
)

# KEYS: the process's index, the processes. ARGV: the process, when it stops being alive, the
# keys' ttl, the prefix of the groups' hashes, then the groups it has entries in. 0 if Redis
# has forgotten the process (restarted, or reaped it as dead): then nothing was renewed.
_BEAT = _script("""
if redis.call('EXISTS', KEYS[1]) == 0 and #ARGV > 4 then
    return 0
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[3])
for i = 5, #ARGV do
    redis.call('SADD', KEYS[1], ARGV[i])
    redis.call('EXPIRE', ARGV[4] .. ARGV[i], ARGV[3])
end
if #ARGV > 4 then
    redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return 1
""")

# KEYS: the processes. ARGV: now, the prefix of our keys. Removes up to 10 processes that
# stopped beating, and their entries (each process is reaped by one caller): a flat list of
# group, refs, group, refs...
_REAP = _script("""
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, 10)
local out = {}
for _, proc in ipairs(dead) do
    redis.call('ZREM', KEYS[1], proc)
    local index = ARGV[2] .. 'pi:' .. proc
    for _, group in ipairs(redis.call('SMEMBERS', index)) do
        local hash = ARGV[2] .. 'p:' .. group
        local refs = {}
        local cursor = '0'
        repeat
            local page = redis.call('HSCAN', hash, cursor, 'MATCH', proc .. '|*', 'COUNT', 1000)
            cursor = page[1]
            for i = 1, #page[2], 2 do
                refs[#refs + 1] = page[2][i]
            end
        until cursor == '0'
        for i = 1, #refs do
            redis.call('HDEL', hash, refs[i])
        end
        out[#out + 1] = group
        out[#out + 1] = refs
    end
    redis.call('DEL', index)
end
return out
""")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisPresence(PresenceStore):
    """See the module docstring. One per layer."""

    beats = True

    def __init__(self, layer: Any):
        self.layer = layer
        self.prefix = f"{layer.prefix}:ec:"

    def _connection(self) -> Any:
        return self.layer.connection(0)

    def group_key(self, group: str) -> str:
        return f"{self.prefix}p:{group}"

    def index_key(self, proc: str) -> str:
        return f"{self.prefix}pi:{proc}"

    @property
    def procs_key(self) -> str:
        return f"{self.prefix}pp"

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
        from .conf import get_config

        timeout = float(get_config().presence["TIMEOUT"])
        now = int(time.time() * 1000)
        pairs: list[str] = []
        for ref, entry in joins.items():
            pairs += [ref, json.dumps(entry, separators=(",", ":"))]
        keys = [self.group_key(group), self.index_key(proc), self.procs_key]
        args = [
            proc,
            group,
            now + int(timeout * 1000),
            _ttl(timeout),
            int(still),
            int(snapshot),
            now,
            len(joins),
            *pairs,
            *leaves,
        ]
        answer = await run_script(self._connection(), _CHANGE, keys, args)
        return _live(answer) if snapshot else None

    async def entries(self, group: str) -> dict[str, Entry]:
        now = int(time.time() * 1000)
        keys = [self.group_key(group), self.procs_key]
        return _live(await run_script(self._connection(), _ENTRIES, keys, [now, 0]))

    async def members(self, group: str) -> dict[str, list[Any]]:
        now = int(time.time() * 1000)
        keys = [self.group_key(group), self.procs_key]
        return _grouped(await run_script(self._connection(), _ENTRIES, keys, [now, 1]))

    async def groups(self) -> dict[str, int]:
        connection = self._connection()
        start = len(self.group_key(""))
        counts = {}
        async for key in connection.scan_iter(match=self.group_key("*"), count=500):
            name = _text(key)
            counts[name[start:]] = await connection.hlen(key)
        return counts

    async def beat(self, proc: str, lifetime: float, groups: Collection[str]) -> bool:
        now = int(time.time() * 1000)
        keys = [self.index_key(proc), self.procs_key]
        args = [proc, now + int(lifetime * 1000), _ttl(lifetime), self.group_key(""), *groups]
        return bool(await run_script(self._connection(), _BEAT, keys, args))

    async def reap(self) -> dict[str, list[str]]:
        now = int(time.time() * 1000)
        flat = await run_script(self._connection(), _REAP, [self.procs_key], [now, self.prefix])
        reaped: dict[str, list[str]] = {}
        for group, refs in zip(flat[::2], flat[1::2], strict=True):
            reaped.setdefault(_text(group), []).extend(_text(ref) for ref in refs)
        return reaped

    async def forget(self, proc: str) -> None:
        connection = self._connection()
        await connection.zrem(self.procs_key, proc)
        await connection.delete(self.index_key(proc))


def _ttl(timeout: float) -> int:
    """Seconds our keys live unrenewed: three timeouts (a reaper needs the index meanwhile)."""
    return int(3 * timeout) + 1


def _grouped(array: bytes) -> dict[str, list[Any]]:
    """
    ``{key: [meta, ...]}`` of a JSON array of ``[key, meta]``, made with the garbage collector
    paused: a big group is tens of thousands of new objects, which would otherwise set off
    collections of the whole heap (of a server process, say) while they are made.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        grouped: dict[str, list[Any]] = {}
        for key, meta in json.loads(array):
            grouped.setdefault(key, []).append(meta)
        return grouped
    finally:
        if collecting:
            gc.enable()


def _live(answer: Any) -> dict[str, Entry]:
    """``[refs, values]`` of the ``live()`` script function as entries by ref."""
    refs, values = _text(answer[0]), json.loads(answer[1])
    if not values:
        return {}
    return {ref: (key, meta) for ref, (key, meta) in zip(refs.split("\n"), values, strict=True)}
