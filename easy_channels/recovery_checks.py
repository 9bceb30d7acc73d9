"""System checks of recovery: E009 (the ``RECOVERY`` setting) and E010 (a consumer with
``recovery = True`` on a channel layer that can't keep sessions)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import Tags, register

from .checks import error, namespace_consumers, registered_routes
from .conf import DEFAULTS, get_config

__all__ = ["check_recovery"]


@register(Tags.compatibility)
def check_recovery(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[Any]:
    """E009: RECOVERY's values; E010: recovering consumers on a layer that can't recover."""
    user = getattr(settings, "EASY_CHANNELS", None)
    if isinstance(user, dict) and isinstance(user.get("RECOVERY"), dict):
        invalid = _check_values(user["RECOVERY"])
        if invalid:
            return invalid
    consumers = [route.consumer for route in registered_routes()] + namespace_consumers()
    recovering = [consumer for consumer in consumers if consumer.recovery]
    if not recovering or not getattr(settings, "CHANNEL_LAYERS", None):
        return []  # W002 says there is no layer at all
    from channels.layers import get_channel_layer

    from .recovery import store_for

    messages: list[Any] = []
    for cls in dict.fromkeys(recovering):
        alias = cls.channel_layer_alias or get_config().channel_layer
        try:
            layer = get_channel_layer(alias)
        except Exception:  # E004, or the layer's own configuration error
            continue
        if layer is not None and store_for(layer) is None:
            name = f"{cls.__module__}.{cls.__qualname__}"
            messages.append(
                error(
                    10,
                    f"{name} has recovery = True, but its channel layer {alias!r} "
                    f"({type(layer).__module__}.{type(layer).__qualname__}) can't keep "
                    "sessions and group histories: its sockets would never recover.",
                    "Use channels_redis.core.RedisChannelLayer on one Redis server (not "
                    "sharded, not the pub/sub layer), or channels.layers.InMemoryChannelLayer "
                    "in one process; or remove recovery = True.",
                    cls,
                )
            )
    return messages


def _check_values(recovery: dict[str, Any]) -> list[Any]:
    messages = []
    defaults = DEFAULTS["RECOVERY"]
    for key in sorted(set(recovery) - set(defaults)):
        messages.append(
            error(
                9,
                f"EASY_CHANNELS['RECOVERY'] has an unknown key {key!r}.",
                f"Valid keys: {', '.join(sorted(defaults))}.",
            )
        )
    window, history = recovery.get("WINDOW", 1), recovery.get("HISTORY", 1)
    if isinstance(window, bool) or not isinstance(window, int | float) or window <= 0:
        messages.append(
            error(
                9,
                f"EASY_CHANNELS['RECOVERY']['WINDOW'] is {window!r}; it must be a positive "
                "number of seconds.",
                f"Set it to the seconds a dropped socket may take to come back, like "
                f"{defaults['WINDOW']}.",
            )
        )
    if isinstance(history, bool) or not isinstance(history, int) or history <= 0:
        messages.append(
            error(
                9,
                f"EASY_CHANNELS['RECOVERY']['HISTORY'] is {history!r}; it must be a positive "
                "integer.",
                f"Set it to the messages kept per group for replay, like {defaults['HISTORY']}.",
            )
        )
    return messages
