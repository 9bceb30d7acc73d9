"""
Our side of the channel layer: group and channel names (and the reserved ones), the serving
loop of the in-memory layer, bounded layer calls, and the care a layer read needs (cancels that
a client swallows, read timeouts, outages). What is sent lives in :mod:`easy_channels.outgoing`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.utils.crypto import salted_hmac

from . import redis_direct
from .exceptions import LayerUnavailable

__all__ = [
    "PRESENCE_PREFIX",
    "RESERVED_PREFIX",
    "PerLoop",
    "bounded",
    "check_channel_name",
    "check_group_name",
    "reap",
    "user_group",
]

logger = logging.getLogger("easy_channels")

T = TypeVar("T")

_GROUP_NAME_RE = re.compile(r"[A-Za-z0-9\-_.]{1,99}")

#: Group and channel names starting with this are easy_channels' own: the user groups, the
#: stats responders' group, the layer probe's group and the hub's channels. Code outside the
#: package can't name them (see check_group_name and check_channel_name).
RESERVED_PREFIX = "easy_channels."
#: The layer groups presence changes travel in, one per presence group (presence_tracker.py).
PRESENCE_PREFIX = RESERVED_PREFIX + "p."


def no_layer(owner: str, method: str) -> ImproperlyConfigured:
    """The error of a consumer method that needs a channel layer when none is configured."""
    return ImproperlyConfigured(
        f"{owner}.{method}() needs a channel layer: add CHANNEL_LAYERS to settings.py "
        "(channels.layers.InMemoryChannelLayer for development, "
        "channels_redis.core.RedisChannelLayer in production)."
    )


def check_group_name(group: object) -> str:
    """
    Refuse a bad group name at the caller, not with a TypeError deep in the layer.

    Names under RESERVED_PREFIX are refused too: an app that joins or sends to a group its
    client chose (``self.group_add(payload["room"])``) would otherwise let anyone read a user's
    messages, or send frames and closes to that user's sockets, through the user's group.
    Our own code joins and sends to those groups without this check.
    """
    name = _check_group_syntax(group)
    if name.startswith(RESERVED_PREFIX):
        raise ValueError(
            f"Invalid group name {name!r}: group names starting with {RESERVED_PREFIX!r} are "
            "reserved for easy_channels' own groups; use user_send()/close_user() to reach a "
            "user's sockets, and another name for your groups."
        )
    return name


def _check_group_syntax(group: object) -> str:
    """What the channel layers accept as a group name (our own names pass)."""
    if not isinstance(group, str) or _GROUP_NAME_RE.fullmatch(group) is None:
        raise ValueError(
            f"Invalid group name {group!r}: use 1-99 ASCII letters, digits, '-', '_' or '.'."
        )
    return group


_USER_GROUP_PREFIX = RESERVED_PREFIX + "user."
#: The key_salt of the user groups' HMAC: it sets these hashes apart from every other use of
#: SECRET_KEY (sessions, signed cookies), so none can stand in for another.
_USER_GROUP_SALT = "easy_channels.user_group"


def user_group(user: Any) -> str:
    """
    The group every socket of ``user`` (a user object or its primary key) joins.

    The name is a keyed hash of the primary key (HMAC with ``settings.SECRET_KEY``), not the
    key itself: code in the project that joins groups without our checks (a plain Channels
    consumer calling ``channel_layer.group_add`` with a client's string) can't guess it. So
    every process that sends to users or serves their sockets must share SECRET_KEY.
    """
    key = str(getattr(user, "pk", user))
    try:
        digest = salted_hmac(_USER_GROUP_SALT, key, algorithm="sha256").hexdigest()
    except ImproperlyConfigured as exc:  # an empty SECRET_KEY
        raise ImproperlyConfigured(
            f"{exc} easy_channels names user groups with a hash keyed by SECRET_KEY: set it, "
            "to the same value in every process that serves sockets or sends to users."
        ) from exc
    return _USER_GROUP_PREFIX + digest[:32]


_serving_loops: weakref.WeakKeyDictionary[Any, asyncio.AbstractEventLoop] = (
    weakref.WeakKeyDictionary()
)


def note_serving_loop(layer: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Remember the event loop whose sockets receive from ``layer`` (see serving_loop)."""
    _serving_loops[layer] = loop


def serving_loop(layer: Any) -> asyncio.AbstractEventLoop | None:
    """
    The running event loop that sockets of this process receive ``layer``'s messages on.

    The in-memory layer's queues belong to that loop: a message put in from another thread's
    loop doesn't wake it, so senders elsewhere hand their sends to this loop.
    """
    loop = _serving_loops.get(layer)
    return loop if loop is not None and loop.is_running() else None


def check_channel_name(channel_name: object) -> str:
    """Refuse what can't be a socket's ``channel_name`` at the caller."""
    if not isinstance(channel_name, str) or not channel_name:
        raise ValueError(f"Invalid channel name {channel_name!r}.")
    if not _is_socket_channel(channel_name):
        raise ValueError(
            f"Invalid channel name {channel_name!r}: it is one of easy_channels' own channels "
            f"(under {RESERVED_PREFIX!r}: a process's group or stats channel), not a socket's; "
            "send to a socket's channel_name, or to a group with group_send()."
        )
    return channel_name


def _is_socket_channel(channel_name: str) -> bool:
    """
    False for our own channels, which no socket has: a hub's group channels and the stats
    responder's (``easy_channels.hub.<id>!<token>``, see redis_direct.inbox_name).

    A message sent to a group channel reaches every local member of its group, so naming one
    would bypass check_group_name. A socket's channel comes from the layer's ``new_channel()``
    (``specific.<id>!<token>``; ``specific..inmemory!<token>`` in memory), outside
    RESERVED_PREFIX, except on channels-redis, where a hub reads its sockets' channels
    itself: those have a shape of their own (redis_direct.socket_channel).
    """
    return not channel_name.startswith(RESERVED_PREFIX) or redis_direct.is_socket_channel(
        channel_name
    )


_reapers: set[asyncio.Task[None]] = set()


def cancel_requested() -> bool:
    """
    True once the running task was asked to stop, even if the cancel was swallowed.

    Loops around a channels-redis receive check this instead of ``while True``: redis-py can
    swallow a cancel (see :func:`reap`), and such a loop would then receive again forever,
    holding up the event loop's shutdown.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _blocks_in_redis(layer: Any) -> bool:
    try:
        from channels_redis.core import RedisChannelLayer
    except ImportError:  # pragma: no cover - channels-redis is a dependency
        return False
    return layer is None or isinstance(layer, RedisChannelLayer)


def reap(task: asyncio.Task[Any], layer: Any = None) -> None:
    """
    Cancel ``task`` (a reader of ``layer``), and again until it ends, in the background.

    redis-py can swallow a cancel that lands at the wrong moment of a blocking command
    (redis/redis-py#2028, #2551), and channels-redis' receive then blocks again in BZPOPMIN
    until a message comes, which on an idle process is never: one leaked task and Redis
    connection per socket. A second cancel lands somewhere ordinary and ends it.

    Only RedisChannelLayer blocks in Redis: other layers (pub/sub, in-memory) get one cancel in
    all, none if the task was cancelled already, because a second one would interrupt their
    clean-up (the pub/sub layer unsubscribes the channel after the cancel, waiting its turn
    behind the other unsubscribes; cancelled again, it logged an error and the channel stayed
    subscribed for good).
    """
    if not _blocks_in_redis(layer):
        if not task.cancelling():
            task.cancel()
        _reapers.add(task)  # keep it referenced until its clean-up is done
        task.add_done_callback(_reapers.discard)
        return
    task.cancel()

    async def reaper() -> None:
        for _ in range(50):  # each cancel gets 0.2 s to end the task (and its clean-up)
            await asyncio.wait({task}, timeout=0.2)
            if task.done():
                return
            task.cancel()
        if not task.done():
            logger.warning("easy_channels: a background task ignored cancellation: %r", task)

    reaper_task = asyncio.get_running_loop().create_task(reaper())
    _reapers.add(reaper_task)
    reaper_task.add_done_callback(_reapers.discard)


def is_read_timeout(exc: BaseException) -> bool:
    if isinstance(exc, TimeoutError):
        return True
    try:
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover - channels-redis (and so redis) is a dependency
        return False
    return isinstance(exc, RedisTimeoutError)


def is_unavailable(exc: BaseException) -> bool:
    """A failure of the layer's transport (the server is down or slow), not of the message."""
    if isinstance(exc, OSError):  # ConnectionError, and TimeoutError since Python 3.11
        return True
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover - channels-redis (and so redis) is a dependency
        return False
    return isinstance(exc, (RedisConnectionError, RedisTimeoutError))


#: Layer calls one process makes at once, per layer. redis-py 8's pool holds 100 connections
#: per event loop and raises MaxConnectionsError beyond: 500 sockets leaving at once failed to
#: leave their groups, which then stayed in Redis for a day. Calls past this wait their turn.
MAX_CONCURRENT_CALLS = 32


class PerLoop(Generic[T]):
    """
    One object per channel layer and event loop, made by ``factory(layer)`` on first use.

    Layers are shared by every loop of the process, but what we keep beside them (locks,
    hubs, responders) belongs to one loop. A process serves on one loop; tests run many, so
    objects of closed loops are dropped.
    """

    def __init__(self, factory: Callable[[Any], T]):
        self._factory = factory
        self._objects: weakref.WeakKeyDictionary[Any, dict[asyncio.AbstractEventLoop, T]] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, layer: Any) -> T:
        """The object of ``layer`` in the running loop, made if there is none yet."""
        loop = asyncio.get_running_loop()
        per_loop = self._objects.setdefault(layer, {})
        obj = per_loop.get(loop)
        if obj is None:
            for old in [old for old in per_loop if old.is_closed()]:
                del per_loop[old]
            obj = per_loop[loop] = self._factory(layer)
        return obj

    def existing(self, layer: Any) -> T | None:
        """The object of ``layer`` in the running loop, or None."""
        return self._objects.get(layer, {}).get(asyncio.get_running_loop())

    def all(self, layer: Any) -> list[T]:
        """The objects of ``layer`` in every loop that isn't closed."""
        return [obj for loop, obj in self._objects.get(layer, {}).items() if not loop.is_closed()]


_slots: PerLoop[asyncio.Semaphore] = PerLoop(lambda layer: asyncio.Semaphore(MAX_CONCURRENT_CALLS))


async def bounded(layer: Any, awaitable: Any, what: str, limit: float) -> Any:
    """
    Await a channel layer call of ``layer`` for at most ``limit`` seconds.

    At most MAX_CONCURRENT_CALLS run at once per layer and event loop; waiting for a turn
    counts towards ``limit``.

    A timeout or a transport failure becomes :class:`LayerUnavailable`, logged once here with
    ``what`` was attempted: a socket never hangs on a Redis that is down, and its handler gets
    an answer it can pass to the client.
    """
    try:
        async with asyncio.timeout(limit), _slots.get(layer):
            return await awaitable
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        reason = f"no answer in {limit:g}s" if isinstance(exc, TimeoutError) else repr(exc)
        logger.warning("easy_channels: channel layer unavailable for %s: %s", what, reason)
        raise LayerUnavailable() from exc
