"""System check of presence: E011 (the ``PRESENCE`` setting)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import Tags, register

from .checks import error
from .conf import DEFAULTS

__all__ = ["check_presence"]


@register(Tags.compatibility)
def check_presence(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[Any]:
    """E011: PRESENCE's keys and values."""
    user = getattr(settings, "EASY_CHANNELS", None)
    if not isinstance(user, dict) or not isinstance(user.get("PRESENCE"), dict):
        return []  # E001/E002 report those
    presence, defaults = user["PRESENCE"], DEFAULTS["PRESENCE"]
    messages = [
        error(
            11,
            f"EASY_CHANNELS['PRESENCE'] has an unknown key {key!r}.",
            f"Valid keys: {', '.join(sorted(defaults))}.",
        )
        for key in sorted(set(presence) - set(defaults))
    ]
    fixes = {
        "INTERVAL": "the seconds over which presence_diff frames are coalesced, like 0.1",
        "TIMEOUT": "the seconds after which a dead process's entries are removed, like 30",
    }
    for key, fix in fixes.items():
        value = presence.get(key, defaults[key])
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            messages.append(
                error(
                    11,
                    f"EASY_CHANNELS['PRESENCE'][{key!r}] is {value!r}; it must be a positive "
                    "number of seconds.",
                    f"Set it to {fix}.",
                )
            )
    interval, timeout = presence.get("INTERVAL", 0.1), presence.get("TIMEOUT", 30)
    if not messages and timeout < 3 * interval:
        messages.append(
            error(
                11,
                f"EASY_CHANNELS['PRESENCE']['TIMEOUT'] ({timeout!r}) is under three INTERVALs "
                f"({interval!r}).",
                "Processes beat every TIMEOUT / 3 seconds: make TIMEOUT a few seconds at least.",
            )
        )
    return messages
