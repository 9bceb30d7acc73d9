"""
The event tables of a consumer class, built once when the class is created.

Clients reach handlers only through a lookup in the client table, never through
``getattr(self, "on_" + event)``: lifecycle hooks, ``@server_only`` methods, names starting
with ``_`` and every attribute of the library's base classes are simply not in it, so they
answer ``unknown_event`` exactly as a missing name does.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction
from channels.db import database_sync_to_async

from .protocol import is_valid_event_name

__all__ = ["Handler", "HandlerTables", "build_tables", "call", "on", "server_only", "tables_for"]

F = TypeVar("F", bound=Callable[..., Any])

_SERVER_ONLY = "_easy_channels_server_only"
_EVENT_NAME = "_easy_channels_event"
PREFIX = "on_"
LIFECYCLE = ("on_connect", "on_disconnect")


def server_only(func: F) -> F:
    """
    Mark an ``on_<event>`` handler as callable only from the server.

    ``group_call_event`` still reaches it; a client sending that event gets ``unknown_event``,
    exactly as if the method did not exist.
    """
    setattr(func, _SERVER_ONLY, True)
    return func


def on(event: str) -> Callable[[F], F]:
    """
    Bind a handler to any event name, even one ``on_<name>`` can't spell::

        @on("new message")
        def new_message(self, text): ...

    Clients of either protocol reach it by that name; so does ``group_call_event``.
    """
    if not isinstance(event, str) or not event or len(event) > 100:
        raise ValueError(f"@on() takes an event name of 1-100 characters, not {event!r}.")

    def decorator(func: F) -> F:
        setattr(func, _EVENT_NAME, event)
        return func

    return decorator


@dataclass(frozen=True, slots=True)
class Handler:
    """How to call a handler: attribute name, async or not, takes the payload or not."""

    attr: str
    is_async: bool
    takes_arg: bool
    #: Declared with ``*args``: gets every argument of a Socket.IO event.
    star: bool = False


@dataclass(frozen=True, slots=True)
class HandlerTables:
    client: dict[str, Handler]
    server: dict[str, Handler]
    lifecycle: dict[str, Handler]
    #: ``on_*`` attributes that no event name can reach (for system checks and docs).
    unreachable: tuple[str, ...]


def _takes_arg(func: Callable[..., Any]) -> bool:
    """True when ``func(self, x)`` is valid: handlers may take the payload or nothing."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return True
    positional = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    if any(p.kind is p.VAR_POSITIONAL for p in positional):
        return True
    return len(positional) >= 2  # self + payload


def _star(func: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is p.VAR_POSITIONAL for p in params)


def make_handler(attr: str, func: Callable[..., Any]) -> Handler:
    return Handler(attr, iscoroutinefunction(func), _takes_arg(func), _star(func))


def build_tables(cls: type, library_bases: tuple[type, ...]) -> HandlerTables:
    """
    Collect the ``on_<event>`` handlers that ``cls`` and its user-defined bases define.

    ``library_bases`` are the library classes whose attributes clients must never reach;
    anything in their MRO is skipped. The most derived definition of a name wins, so a
    subclass can remove a handler with ``on_x = None``.
    """
    skipped = {klass for base in library_bases for klass in base.__mro__}
    reserved = {name for base in library_bases for name in dir(base)}
    client: dict[str, Handler] = {}
    server: dict[str, Handler] = {}
    lifecycle: dict[str, Handler] = {}
    unreachable: list[str] = []
    seen: set[str] = set()
    for klass in cls.__mro__:
        if klass in skipped:
            continue
        for attr, value in vars(klass).items():
            named = getattr(value, _EVENT_NAME, None) if inspect.isfunction(value) else None
            if named is not None and attr not in seen:
                seen.add(attr)
                handler = make_handler(attr, value)
                server.setdefault(named, handler)
                if not getattr(value, _SERVER_ONLY, False):
                    client.setdefault(named, handler)
                continue
            if attr in seen or not attr.startswith(PREFIX):
                continue
            seen.add(attr)
            if attr in LIFECYCLE:
                if callable(value):
                    lifecycle[attr] = make_handler(attr, value)
                continue
            if not inspect.isfunction(value):
                continue
            event = attr[len(PREFIX) :]
            if attr in reserved or event.startswith("_") or not is_valid_event_name(event):
                unreachable.append(attr)
                continue
            handler = make_handler(attr, value)
            server[event] = handler
            if not getattr(value, _SERVER_ONLY, False):
                client[event] = handler
    # Lifecycle hooks inherited from the library base (no-ops) still need an entry.
    for attr in LIFECYCLE:
        if attr not in lifecycle:
            lifecycle[attr] = make_handler(attr, getattr(cls, attr))
    return HandlerTables(client, server, lifecycle, tuple(sorted(unreachable)))


#: consumer class -> its tables, filled as each class is created (see register_tables).
_tables: weakref.WeakKeyDictionary[type, HandlerTables] = weakref.WeakKeyDictionary()


def register_tables(cls: type, library_bases: tuple[type, ...]) -> HandlerTables:
    """Build the tables of a new consumer class (mistakes show at import) and keep them."""
    tables = _tables[cls] = build_tables(cls, library_bases)
    return tables


def tables_for(cls: type) -> HandlerTables:
    """The tables of a consumer class (registered when the class was created)."""
    return _tables[cls]


async def call(
    fn: Callable[..., Any], *args: Any, is_async: bool | None = None, thread_sensitive: bool = True
) -> Any:
    """
    Await ``fn(*args)``: directly if it is async, else through ``database_sync_to_async`` so the
    ORM works (and old connections are closed around it).
    """
    if is_async is None:
        is_async = iscoroutinefunction(fn)
    if is_async:
        return await fn(*args)
    return await database_sync_to_async(fn, thread_sensitive=thread_sensitive)(*args)
