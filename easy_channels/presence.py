"""
Who is online in a group, for views, tasks and consumers: :func:`presence` and
:func:`apresence`. Sockets are tracked by a consumer's ``presence_add()``
(docs/topics/presence.rst); :mod:`easy_channels.presence_tracker` keeps their entries.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .layer import bounded, check_group_name
from .presence_store import PresenceStore, store_for
from .sending import default_layer, on_layer_loop, run_sync

__all__ = ["apresence", "presence", "require_store"]

#: {key: [meta, ...]}: one entry per key, one meta per tracked socket of it.
Members = dict[str, list[Any]]


def require_store(layer: Any, owner: str) -> PresenceStore:
    """The presence store of ``layer``, or ImproperlyConfigured saying which layer can."""
    store = store_for(layer)
    if store is None:
        raise ImproperlyConfigured(
            f"{owner} needs a channel layer that can keep presence, and "
            f"{type(layer).__module__}.{type(layer).__qualname__} can't: use "
            "channels_redis.core.RedisChannelLayer on one Redis server (not sharded, not the "
            "pub/sub layer), or channels.layers.InMemoryChannelLayer in one process."
        )
    return store


async def apresence(group: str) -> Members:
    """
    ``{key: [meta, ...]}`` of the sockets tracked in ``group``, across every process sharing
    the channel layer (EASY_CHANNELS['CHANNEL_LAYER']). Keys are strings: a user's pk as
    text, or an anonymous socket's channel name, unless ``presence_add`` was given a key.
    """
    from .conf import get_config

    check_group_name(group)
    layer = default_layer()
    store = require_store(layer, "apresence()")
    limit = get_config().layer_timeout

    async def read() -> Members:
        found: Members = await bounded(layer, store.members(group), f"presence({group!r})", limit)
        return found

    return await on_layer_loop(layer, read)


def presence(group: str) -> Members:
    """:func:`apresence` for sync code (a view, a task, a management command)."""
    check_group_name(group)
    layer = default_layer()
    require_store(layer, "presence()")
    return run_sync("presence", layer, lambda: apresence(group))
