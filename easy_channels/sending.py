"""
Send to sockets from anywhere: views, signals, Celery tasks, management commands, threads.

A consumer sends with ``self.group_send(...)``; everything else in a Django project sends with
the functions here. They exist because the plain Channels recipe,
``async_to_sync(get_channel_layer().group_send)(group, {"type": ...})``, leaves every caller to
get four things right:

- **the message**: it is built and validated here, with the same builders the consumer uses
  (:mod:`easy_channels.layer`), so a bad group name (one of easy_channels' own included), event
  name or payload (a reserved key, NaN, something JSON can't encode) raises
  ``ValueError``/``TypeError`` in the code that sent it, and the frame is encoded once for every
  receiver;
- **the thread**: the sync functions work in any thread without a running event loop (a sync
  view under ASGI or WSGI, a signal handler, a Celery task, a management command, a plain
  ``threading.Thread``). In a thread that *does* run an event loop they would deadlock it, so
  they refuse with a RuntimeError that names the ``a``-prefixed twin to await instead;
- **the in-memory layer**: ``InMemoryChannelLayer`` queues each socket's messages in an
  ``asyncio.Queue`` that belongs to the server's event loop. Sent from another loop in another
  thread (what ``async_to_sync`` does in a plain thread), a message is queued without waking the
  server's loop, so it arrives whenever that loop next wakes up for something else (in asyncio
  debug mode the send fails). So in-memory sends from another thread run on the loop the
  sockets wait on;
- **the transaction**: ``on_commit=True`` sends only once the surrounding transaction commits
  (nothing at all on rollback), so a socket is never told about a row other connections can't
  see yet. The message is still validated and encoded at the call, from the data as it is then.
  A send that fails after the commit is logged, not raised: the data is saved by then, and an
  exception would turn that into an error response and skip later on_commit callbacks.

``on_commit`` exists on the sync functions only: Django's transaction API is synchronous (an
async view can't hold ``transaction.atomic()`` open across awaits); in async code, await the
``a``-prefixed twin after the sync database work it follows has finished.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from .layer import check_channel_name, check_group_name, serving_loop, user_group
from .outgoing import Outgoing, call_message, close_message, deliver, frame_message
from .protocol import CloseCode

__all__ = [
    "aclose_group",
    "aclose_user",
    "agroup_call_event",
    "agroup_send",
    "asend_to",
    "auser_send",
    "close_group",
    "close_user",
    "group_call_event",
    "group_send",
    "send_to",
    "user_send",
]

if TYPE_CHECKING:
    from .conf import Config

logger = logging.getLogger("easy_channels")

Payload = dict[str, Any] | None
#: What a frame carries: a dict (or None) for every client; any other value (a tuple being
#: several arguments) for Socket.IO clients only (docs/topics/socketio.rst).
FramePayload = Any
T = TypeVar("T")

#: Seconds between checks that the in-memory layer's event loop still runs while we wait on it.
_LOOP_CHECK_INTERVAL = 1.0


# -- what is sent where ----------------------------------------------------------------------------


def _config() -> Config:
    from .conf import get_config  # conf reads settings: import it only once they exist

    return get_config()


def default_layer() -> BaseChannelLayer:
    """The layer of EASY_CHANNELS['CHANNEL_LAYER'] (ImproperlyConfigured with the fix if none)."""
    alias = _config().channel_layer
    layer = get_channel_layer(alias)
    if layer is None:
        raise ImproperlyConfigured(
            f"easy_channels can't send: CHANNEL_LAYERS has no layer {alias!r} "
            "(EASY_CHANNELS['CHANNEL_LAYER']). Add it to settings.py: "
            "channels_redis.core.RedisChannelLayer in production (needed to reach sockets from "
            "another process, such as a Celery worker or a management command), or "
            "channels.layers.InMemoryChannelLayer for development."
        )
    return layer


def _user_group(user: Any, function: str) -> str:
    """
    The group of ``user``'s sockets. It is under layer.RESERVED_PREFIX, so the user functions
    send to it without the check_group_name that refuses it to every other caller.
    """
    if not _config().user_groups:
        raise ImproperlyConfigured(
            f"{function}() needs per-user groups, which are off: set "
            "EASY_CHANNELS['USER_GROUPS'] = True in settings.py (sockets join their user's group "
            "when they connect, so only sockets connected after that are reached)."
        )
    if user is None or getattr(user, "pk", user) in (None, ""):
        raise ValueError(
            f"{function}() needs a saved user or a user's primary key, not {user!r}: "
            "anonymous sockets are in no user group."
        )
    return user_group(user)


# -- what is sent: the same builders for consumers and for everything else ----------------------


def group_message(
    group: str, event: str, payload: FramePayload, exclude: str | None = None
) -> Outgoing:
    """``{"event": event, **payload}`` for every socket of ``group`` (but ``exclude``)."""
    return Outgoing.to_group(check_group_name(group), frame_message(event, payload, exclude))


def group_call(group: str, event: str, payload: Payload) -> Outgoing:
    """``on_<event>(payload)`` called server-side in every socket of ``group``."""
    return Outgoing.to_group(check_group_name(group), call_message(event, payload))


def channel_message(channel_name: str, event: str, payload: FramePayload) -> Outgoing:
    """``{"event": event, **payload}`` for the socket whose channel this is."""
    return Outgoing.to_channel(check_channel_name(channel_name), frame_message(event, payload))


def _close_group(group: str, code: int, reason: str | None) -> Outgoing:
    return Outgoing.to_group(check_group_name(group), close_message(code, reason))


def _user_send(user: Any, function: str, event: str, payload: FramePayload) -> Outgoing:
    return Outgoing.to_group(_user_group(user, function), frame_message(event, payload))


def _close_user(user: Any, function: str, code: int, reason: str | None) -> Outgoing:
    return Outgoing.to_group(_user_group(user, function), close_message(code, reason))


async def asend(outgoing: Outgoing, layer: Any = None, limit: float | None = None) -> None:
    """
    The one async path of every send: ``outgoing`` on ``layer`` (default: the configured
    layer), within ``limit`` seconds (default: LAYER_TIMEOUT). The sync functions are made
    from it; a consumer's methods await it with the consumer's own layer.
    """
    if layer is None:
        layer = default_layer()
    if limit is None:
        limit = _config().layer_timeout
    loop = _in_memory_loop(layer)
    if loop is None or loop is asyncio.get_running_loop():
        await deliver(layer, outgoing, limit)
    else:  # an event loop in another thread than the server's (see the module docstring)
        await _await_on(loop, lambda: asend(outgoing, layer, limit))


# -- async -----------------------------------------------------------------------------------------


async def agroup_send(group: str, event: str, payload: FramePayload = None) -> None:
    """Send ``{"event": event, **payload}`` to every socket in ``group``."""
    await asend(group_message(group, event, payload))


async def agroup_call_event(group: str, event: str, payload: Payload = None) -> None:
    """
    Call ``on_<event>(payload)`` server-side in every socket of ``group``.

    ``@server_only`` handlers are reached too; a member without the handler ignores it.
    """
    await asend(group_call(group, event, payload))


async def asend_to(channel_name: str, event: str, payload: FramePayload = None) -> None:
    """Send ``{"event": event, **payload}`` to the socket whose ``channel_name`` this is."""
    await asend(channel_message(channel_name, event, payload))


async def aclose_group(
    group: str, code: int = CloseCode.PROTOCOL_ABUSE, reason: str | None = None
) -> None:
    """Make every socket in ``group`` close itself with ``code`` (1000 or 3000-4999)."""
    await asend(_close_group(group, code, reason))


async def auser_send(user: Any, event: str, payload: FramePayload = None) -> None:
    """
    Send ``{"event": event, **payload}`` to every socket of ``user`` (a user or its pk).

    Needs ``EASY_CHANNELS["USER_GROUPS"]`` (on by default).
    """
    await asend(_user_send(user, "auser_send", event, payload))


async def aclose_user(
    user: Any, code: int = CloseCode.PROTOCOL_ABUSE, reason: str | None = None
) -> None:
    """Close every socket of ``user`` (a user or its pk): on logout, ban, password change."""
    await asend(_close_user(user, "aclose_user", code, reason))


# -- sync ------------------------------------------------------------------------------------------


def _refuse_event_loop(function: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"easy_channels.{function}() was called from async code (this thread runs an event "
        f"loop, which it would block): use 'await easy_channels.a{function}(...)' there."
    )


def _in_memory_loop(layer: Any) -> asyncio.AbstractEventLoop | None:
    """The running event loop whose sockets wait on ``layer``, if it is an in-memory layer."""
    if not isinstance(layer, InMemoryChannelLayer):
        return None
    return serving_loop(layer)


def _submit(
    loop: asyncio.AbstractEventLoop, make: Callable[[], Awaitable[T]]
) -> tuple[Coroutine[Any, Any, T], concurrent.futures.Future[T]]:
    async def run() -> T:
        return await make()

    coro = run()
    return coro, asyncio.run_coroutine_threadsafe(coro, loop)


def _stopped(coro: Any, future: concurrent.futures.Future[Any]) -> RuntimeError:
    future.cancel()
    if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
        coro.close()  # never started: don't leave a never-awaited warning behind
    return RuntimeError(
        "easy_channels: the event loop of the in-memory channel layer stopped before the "
        "message was sent."
    )


def _run_on(loop: asyncio.AbstractEventLoop, make: Callable[[], Awaitable[T]]) -> T:
    """Run ``make()`` on ``loop`` (running in another thread) and wait for it."""
    coro, future = _submit(loop, make)
    while True:
        try:
            return future.result(timeout=_LOOP_CHECK_INTERVAL)
        except TimeoutError:
            if not loop.is_running():
                raise _stopped(coro, future) from None


async def _await_on(loop: asyncio.AbstractEventLoop, make: Callable[[], Awaitable[T]]) -> T:
    """Run ``make()`` on ``loop`` (running in another thread) and await it from this loop."""
    coro, future = _submit(loop, make)
    waiter = asyncio.wrap_future(future)
    while True:
        done, _ = await asyncio.wait({waiter}, timeout=_LOOP_CHECK_INTERVAL)
        if done:
            return waiter.result()
        if not loop.is_running():
            raise _stopped(coro, future)


async def on_layer_loop(layer: Any, make: Callable[[], Awaitable[T]]) -> T:
    """``await make()`` in the event loop an in-memory ``layer`` serves (here for others)."""
    loop = _in_memory_loop(layer)
    if loop is None or loop is asyncio.get_running_loop():
        return await make()
    return await _await_on(loop, make)


def run_sync(function: str, layer: Any, make: Callable[[], Awaitable[T]]) -> T:
    """
    ``make()`` from sync code, for the module function ``function`` (refused in async code):
    in the loop an in-memory ``layer`` serves, otherwise through ``async_to_sync``.
    """
    _refuse_event_loop(function)
    loop = _in_memory_loop(layer)
    if loop is not None:
        return _run_on(loop, make)

    async def run() -> T:
        return await make()

    return async_to_sync(run)()


def _send_sync(function: str, outgoing: Outgoing, on_commit: bool) -> None:
    """Send ``outgoing`` now, or when the current transaction commits (made from asend)."""
    _refuse_event_loop(function)
    layer = default_layer()
    limit = _config().layer_timeout
    target = outgoing.target

    def run() -> None:
        loop = _in_memory_loop(layer)
        if loop is not None:
            _run_on(loop, lambda: asend(outgoing, layer, limit))
        else:
            async_to_sync(asend)(outgoing, layer, limit)

    if not on_commit:
        run()
        return
    if not transaction.get_connection().in_atomic_block:
        transaction.on_commit(run, using=None)  # Django runs it now: errors reach the caller
        return

    def after_commit() -> None:
        # The data is committed by now. Raising would turn the saved write into an error (a
        # 500 that invites a duplicate retry) and skip the on_commit callbacks registered
        # after this one, so a failed send is logged instead, like any lost layer message.
        try:
            run()
        except Exception:
            logger.exception(
                "easy_channels: %s(%r) failed after the transaction committed; nothing was sent",
                function,
                target,
            )

    logger.debug("easy_channels: %s(%r) deferred until the transaction commits", function, target)
    transaction.on_commit(after_commit, using=None)


def group_send(
    group: str, event: str, payload: FramePayload = None, *, on_commit: bool = False
) -> None:
    """
    Send ``{"event": event, **payload}`` to every socket in ``group`` (a payload that is not a
    dict reaches its Socket.IO sockets only, a tuple as several arguments).

    Works in any thread without a running event loop. With ``on_commit=True`` the send waits
    for the current transaction to commit (outside one it sends at once) and is dropped if it
    rolls back; a send failing after the commit is logged.
    """
    _send_sync("group_send", group_message(group, event, payload), on_commit)


def group_call_event(
    group: str, event: str, payload: Payload = None, *, on_commit: bool = False
) -> None:
    """Call ``on_<event>(payload)`` server-side in every socket of ``group`` (see group_send)."""
    _send_sync("group_call_event", group_call(group, event, payload), on_commit)


def send_to(
    channel_name: str, event: str, payload: FramePayload = None, *, on_commit: bool = False
) -> None:
    """Send ``{"event": event, **payload}`` to one socket by its ``channel_name``."""
    _send_sync("send_to", channel_message(channel_name, event, payload), on_commit)


def close_group(
    group: str,
    code: int = CloseCode.PROTOCOL_ABUSE,
    reason: str | None = None,
    *,
    on_commit: bool = False,
) -> None:
    """Make every socket in ``group`` close itself with ``code`` (1000 or 3000-4999)."""
    _send_sync("close_group", _close_group(group, code, reason), on_commit)


def user_send(
    user: Any, event: str, payload: FramePayload = None, *, on_commit: bool = False
) -> None:
    """Send ``{"event": event, **payload}`` to every socket of ``user`` (a user or its pk)."""
    _send_sync("user_send", _user_send(user, "user_send", event, payload), on_commit)


def close_user(
    user: Any,
    code: int = CloseCode.PROTOCOL_ABUSE,
    reason: str | None = None,
    *,
    on_commit: bool = False,
) -> None:
    """Close every socket of ``user`` (a user or its pk): on logout, ban, password change."""
    _send_sync("close_user", _close_user(user, "close_user", code, reason), on_commit)
