"""``manage.py easy_channels_presence``: who is tracked in which group, across processes."""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from easy_channels.conf import get_config
from easy_channels.exceptions import LayerUnavailable
from easy_channels.layer import bounded
from easy_channels.presence import require_store
from easy_channels.presence_view import members
from easy_channels.sending import default_layer


class Command(BaseCommand):
    help = (
        "List the groups with presence (keys and tracked sockets in each), or, given group "
        "names, each group's keys and metas, as every process sharing the layer sees them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("groups", nargs="*", help="Groups to list the members of.")
        parser.add_argument("--json", action="store_true", help="Print JSON instead of text.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            layer = default_layer()
            store = require_store(layer, "easy_channels_presence")
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        limit = get_config().layer_timeout

        async def read() -> dict[str, dict[str, list[Any]]]:
            names = options["groups"] or sorted(
                await bounded(layer, store.groups(), "presence", limit)
            )
            return {
                name: members(
                    (await bounded(layer, store.entries(name), "presence", limit)).values()
                )
                for name in names
            }

        try:
            found = async_to_sync(read)()
        except LayerUnavailable as exc:
            raise CommandError(f"The channel layer is unavailable: {exc}") from exc
        found = {name: group for name, group in found.items() if group or options["groups"]}
        if options["json"]:
            self.stdout.write(json.dumps(found, indent=2))
            return
        if not found:
            note = ""
            if isinstance(layer, InMemoryChannelLayer):
                note = (
                    " The in-memory channel layer keeps presence inside the server process, "
                    "which this command can't see: use channels-redis."
                )
            self.stdout.write("No presence is tracked." + note)
            return
        if options["groups"]:
            for name, group in found.items():
                self.stdout.write(f"{name}: {len(group)} key(s)")
                for key, metas in group.items():
                    self.stdout.write(f"  {key}: {json.dumps(metas)}")
            return
        self.stdout.write(f"{'group':<40} {'keys':>8} {'sockets':>8}")
        for name, group in found.items():
            sockets = sum(len(metas) for metas in group.values())
            self.stdout.write(f"{name:<40} {len(group):>8} {sockets:>8}")
