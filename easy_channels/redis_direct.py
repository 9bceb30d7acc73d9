"""
channels-redis' storage, spoken directly on the two hot paths of a fan-out: a group send and a
process's receive of its group channels take one Redis round trip each.

channels-redis 4 makes four round trips to send to a group (expire the group's old members, read
them, expire each channel's old messages, EVAL the push script's full text) and four to receive
a message (restore the backup queue, BZPOPMIN, back the message up, clean the backup), each one
about 100 µs of CPU in redis-py. Our group messages cross the layer once per process, so that
fixed cost is most of what a broadcast to a small group costs: a python-socketio broadcast is
one PUBLISH.

Here a group send is one script (EVALSHA) that expires, checks and pushes at once. It needs the
group's member channels to prepare one message per channel key, so the sender remembers the
members it last saw; the script pushes only if they are still the members, and otherwise
returns them for a second attempt. A process's group channels share one channel key of their
own (``easy_channels.hub.<id>!<group channel>``, like channels-redis' process-local channels),
read by one BZPOPMIN loop in :mod:`easy_channels.hub`.

The keys, the message format and the semantics (capacity, ``expiry``, ``group_expiry``) are
channels-redis' own, so everything else keeps working: raw ``group_send`` calls from other code
reach our group channels, our group sends reach raw Channels consumers in the same group, and
processes running stock channels-redis interoperate with ours. Only an exact
``channels_redis.core.RedisChannelLayer`` (or a subclass that keeps its send, group and receive
methods) of channels-redis 4 takes this path; a group sharded over several Redis servers sends
the stock way.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Container
from typing import Any

__all__ = [
    "GROUP_SEND_ATTEMPTS",
    "POP_BLOCK_SECONDS",
    "Recording",
    "group_send",
    "inbox_name",
    "is_socket_channel",
    "pop",
    "run_script",
    "socket_channel",
    "supports",
    "supports_version",
]

#: Sends that found the group's members changed since the sender last saw them, before one
#: falls back to channels-redis' own group_send (members joining or leaving all the while).
GROUP_SEND_ATTEMPTS = 3

#: Seconds one BZPOPMIN of :func:`pop` blocks in Redis: well under redis-py's read timeout
#: (5 s by default), so an idle wait doesn't end in a TimeoutError.
POP_BLOCK_SECONDS = 2

#: Groups whose members a process remembers (per layer), for its sends' first attempt.
_REMEMBERED_GROUPS = 1024

#: channels-redis versions whose storage (keys, message format) this module writes and reads.
_STORAGE_VERSIONS = ("4.",)

#: The methods whose stock behaviour this module reproduces; a subclass changing one of them
#: gets the stock path.
_STOCK_METHODS = (
    "send",
    "group_add",
    "group_discard",
    "group_send",
    "receive",
    "_group_key",
    "non_local_name",
    "consistent_hash",
)

# KEYS: the group, its recovery marker and history, then the channel keys of the members the
# sender expects. ARGV: the message's position, its history entry, the history's length and
# oldest kept id and its ttl (the position is "" for a send that isn't recorded); then group
# cutoff, message cutoff, now, expiry, n, the n expected members, then a message and a capacity
# per channel key.
# Returns the number of channel keys over capacity, or the group's actual members (a list) if
# they aren't the expected ones; then nothing was pushed.
_GROUP_SEND_LUA = """
local group = KEYS[1]
redis.call('ZREMRANGEBYSCORE', group, 0, ARGV[6])
local members = redis.call('ZRANGE', group, 0, -1)
local n = tonumber(ARGV[10])
if #members ~= n then
    return members
end
local expected = {}
for i = 1, n do
    expected[ARGV[10 + i]] = true
end
for i = 1, #members do
    if not expected[members[i]] then
        return members
    end
end
if ARGV[1] ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then
    redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[3], '*', 'm', ARGV[1], 'j', ARGV[2])
    redis.call('XTRIM', KEYS[3], 'MINID', ARGV[4])
    redis.call('EXPIRE', KEYS[3], ARGV[5])
end
local over = 0
local base = 10 + n
for i = 4, #KEYS do
    local key = KEYS[i]
    local at = base + 2 * (i - 4)
    redis.call('ZREMRANGEBYSCORE', key, 0, ARGV[7])
    if redis.call('ZCOUNT', key, '-inf', '+inf') < tonumber(ARGV[at + 2]) then
        redis.call('ZADD', key, ARGV[8], ARGV[at + 1])
        redis.call('EXPIRE', key, ARGV[9])
    else
        over = over + 1
    end
end
return over
"""
_GROUP_SEND_SHA = hashlib.sha1(_GROUP_SEND_LUA.encode()).hexdigest()

# The recording step of _GROUP_SEND_LUA alone (KEYS: marker, history; ARGV: its first five).
_RECORD_LUA = """
if ARGV[1] ~= '' and redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], '*', 'm', ARGV[1], 'j', ARGV[2])
    redis.call('XTRIM', KEYS[2], 'MINID', ARGV[4])
    redis.call('EXPIRE', KEYS[2], ARGV[5])
end
return 1
"""
_RECORD = (_RECORD_LUA, hashlib.sha1(_RECORD_LUA.encode()).hexdigest())

_supported: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def supports_version() -> bool:
    """True if the installed channels-redis stores messages the way this module reads them."""
    try:
        import channels_redis
    except ImportError:  # pragma: no cover - channels-redis is a dependency
        return False
    version: str = channels_redis.__version__
    return version.startswith(_STORAGE_VERSIONS)


def supports(layer: Any) -> bool:
    """True for a channels-redis ``RedisChannelLayer`` that behaves as the stock one."""
    try:
        return _supported[layer]
    except KeyError:
        pass
    except TypeError:  # not weak-referenceable: not a channels-redis layer
        return False
    try:
        from channels_redis.core import RedisChannelLayer
    except ImportError:  # pragma: no cover - channels-redis is a dependency
        return False
    ok = (
        supports_version()
        and isinstance(layer, RedisChannelLayer)
        and all(
            getattr(type(layer), name, None) is getattr(RedisChannelLayer, name, None)
            for name in _STOCK_METHODS
        )
    )
    _supported[layer] = ok
    return ok


def inbox_name() -> str:
    """
    The non-local part shared by channels that :func:`pop` reads (their channel key in Redis).

    Like channels-redis' ``specific.<client>!``, but read by one reader of ours: a hub's group
    channels (or the stats responder's channel) are ``<inbox><token>``, and a message for one
    names it in ``__asgi_channel__``.
    """
    return f"easy_channels.hub.{uuid.uuid4().hex[:12]}!"


#: After the inbox name: a socket's channel (a hub's group channels are hex digits only).
_SOCKET_MARK = "s"
_SOCKET_CHANNEL_RE = re.compile(r"easy_channels\.hub\.[0-9a-f]{12}!s[0-9a-f]{32}")


def socket_channel(layer: Any, inbox: str) -> str:
    """
    A socket's own channel in ``inbox`` (see :meth:`easy_channels.hub.Hub.open_socket`).

    On a layer sharded over several servers, channels-redis' ``send()`` picks the server by
    the whole channel name, while the inbox is read on the server of its process part
    (django/channels_redis#94: with stock names about half the sends to a socket are never
    received). The token is drawn until both pick the same server, so every send arrives.
    """
    home = layer.consistent_hash(inbox)
    while True:  # 1 draw per server on average
        name = f"{inbox}{_SOCKET_MARK}{uuid.uuid4().hex}"
        if layer.consistent_hash(name) == home:
            return name


def is_socket_channel(name: str) -> bool:
    """True for what :func:`socket_channel` makes (no other channel of ours has its shape)."""
    return _SOCKET_CHANNEL_RE.fullmatch(name) is not None


def is_gone_socket(inbox: str, name: str) -> bool:
    """True if ``name`` is (was) a socket channel of ``inbox``."""
    return name.startswith(inbox + _SOCKET_MARK)


class Recording:
    """A recorded group's marker and history keys, and the entry to append to it."""

    __slots__ = ("args", "keys")

    def __init__(self, keys: list[str], args: list[Any]):
        self.keys = keys
        self.args = args


class _Members:
    """A group's members as a sender saw them, and the channel keys they map to."""

    __slots__ = ("capacities", "channels", "keys", "layer", "names", "pushed")

    def __init__(self, layer: Any, names: list[str], push: list[str] | None = None):
        self.layer = layer
        self.names = names  # what the script checks the group against
        by_key: dict[str, list[str]] = {}
        for name in names if push is None else push:  # what it pushes to
            non_local = layer.non_local_name(name) if "!" in name else name
            by_key.setdefault(layer.prefix + non_local, []).append(name)
        self.keys = list(by_key)
        self.channels = list(by_key.values())
        self.capacities = [layer.get_capacity(channels[0]) for channels in self.channels]
        self.pushed: dict[frozenset[str], _Members] = {}

    def without(self, local: frozenset[str]) -> _Members:
        """The same members, pushing to all but ``local`` (kept for the next send)."""
        if not local:
            return self
        kept = self.pushed.get(local)
        if kept is None:
            push = [name for name in self.names if name not in local]
            kept = self.pushed[local] = _Members(self.layer, self.names, push)
        return kept


_seen: weakref.WeakKeyDictionary[Any, OrderedDict[str, _Members]] = weakref.WeakKeyDictionary()
#: Sync code sends from threads of its own (async_to_sync), each in an event loop of its own.
_seen_lock = threading.Lock()


def _group_key(layer: Any, group: str) -> bytes:
    """channels-redis 4's key of a group's sorted set (its ``_group_key``, kept stock)."""
    return f"{layer.prefix}:group:{group}".encode()


def _remembered(layer: Any, group: str) -> _Members | None:
    with _seen_lock:
        seen = _seen.get(layer)
        return None if seen is None else seen.get(group)


def _remember(layer: Any, group: str, members: _Members) -> None:
    with _seen_lock:
        seen = _seen.setdefault(layer, OrderedDict())
        seen[group] = members
        seen.move_to_end(group)
        while len(seen) > _REMEMBERED_GROUPS:
            seen.popitem(last=False)


async def group_send(
    layer: Any,
    group: str,
    message: dict[str, Any],
    local: Container[str] = (),
    recording: Recording | None = None,
) -> int:
    """
    channels-redis' ``group_send(group, message)`` in one round trip, usually.

    Member channels in ``local`` (the ones this process reads itself) are left out of what
    Redis gets: the caller hands them the message. With ``recording`` (see
    :class:`easy_channels.recovery_redis.RedisStore`), the message is also appended to the
    group's history if the group is recorded. Returns how many member channels were at
    capacity and lost the message (channels-redis only logs that at INFO level).
    """
    if layer.ring_size != 1:
        await layer.group_send(group, message)  # members may live on other servers
        return 0
    record: list[Any] = ["", "", 0, 0, 0]
    keys: list[Any] = [_group_key(layer, group), b"", b""]
    if recording is not None:
        keys[1:3] = recording.keys
        record = recording.args
    assert layer.require_valid_group_name(group), "Group name not valid"
    connection = layer.connection(0)
    members = _remembered(layer, group) or _Members(layer, [])
    for _ in range(GROUP_SEND_ATTEMPTS):
        mine = frozenset(name for name in members.names if name in local)
        pushed = members.without(mine)
        now = time.time()
        args: list[Any] = [
            *record,
            int(now) - layer.group_expiry,
            int(now) - int(layer.expiry),
            now,
            int(layer.expiry),
            len(members.names),
            *members.names,
        ]
        for channels, capacity in zip(pushed.channels, pushed.capacities, strict=True):
            args.append(layer.serialize({**message, "__asgi_channel__": channels}))
            args.append(capacity)
        result = await _evalsha(connection, [*keys, *pushed.keys], args)
        if not isinstance(result, list):
            _remember(layer, group, members)
            return int(result)
        members = _Members(layer, [name.decode() for name in result])
    if recording is not None:  # recorded as every send of the group is, then sent the stock way
        await run_script(connection, _RECORD, keys[1:3], record)
    if not local:
        await layer.group_send(group, message)
        return 0
    # The members kept changing: send to each the stock way, still not to the local ones
    # (the caller hands them the message itself).
    from channels.exceptions import ChannelFull

    full = 0
    for name in members.names:
        if name not in local:
            try:
                await layer.send(name, message)
            except ChannelFull:
                full += 1
    return full


async def _evalsha(connection: Any, keys: list[Any], args: list[Any]) -> Any:
    return await run_script(connection, (_GROUP_SEND_LUA, _GROUP_SEND_SHA), keys, args)


async def run_script(
    connection: Any, script: tuple[str, str], keys: list[Any], args: list[Any]
) -> Any:
    """EVALSHA ``script`` (its text and sha), loading it into a Redis that lacks it."""
    from redis.exceptions import NoScriptError

    lua, sha = script
    try:
        return await connection.evalsha(sha, len(keys), *keys, *args)
    except NoScriptError:  # a new (or restarted) Redis: load the script once
        await connection.script_load(lua)
        return await connection.evalsha(sha, len(keys), *keys, *args)


async def pop(layer: Any, inbox: str) -> tuple[list[str], dict[str, Any]] | None:
    """
    The oldest message of the channels sharing ``inbox`` (see :func:`inbox_name`): the names
    it was sent to and the message; None if none came within ``POP_BLOCK_SECONDS``.

    One BZPOPMIN, where channels-redis' receive makes four round trips. Nothing is backed up:
    a reader cancelled while Redis answers loses that message (delivery is at most once), and
    a cancel never goes astray in layers of locks and helper tasks.
    """
    key = layer.prefix + inbox
    connection = layer.connection(layer.consistent_hash(inbox))
    popped = await connection.bzpopmin(key, POP_BLOCK_SECONDS)
    if popped is None:
        return None
    message = layer.deserialize(popped[1])
    names = message.pop("__asgi_channel__", ())
    return ([names] if isinstance(names, str) else list(names)), message
