"""``manage.py easy_channels_stats``: the counters of every server process, through the layer."""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management.base import BaseCommand, CommandError, CommandParser

from easy_channels.conf import get_config
from easy_channels.exceptions import LayerUnavailable
from easy_channels.processes import acollect_stats

_TOTALS = ("sockets_open", "sockets_accepted", "messages_in", "messages_out", "group_sends")


class Command(BaseCommand):
    help = (
        "Ask every server process sharing the channel layer for its counters (open sockets, "
        "messages in and out, errors by code, group sends, drops) and print them with totals."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON instead of text.")
        parser.add_argument(
            "--wait", type=float, default=1.0, help="Seconds to wait for replies (default 1)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        alias = get_config().channel_layer
        layer = get_channel_layer(alias)
        if layer is None:
            raise CommandError(f"CHANNEL_LAYERS has no layer {alias!r}: nothing to ask.")
        try:
            replies = async_to_sync(acollect_stats)(layer, options["wait"])
        except LayerUnavailable as exc:
            raise CommandError(f"The channel layer {alias!r} is unavailable: {exc}") from exc
        if options["json"]:
            self.stdout.write(json.dumps(replies, indent=2))
            return
        if not replies:
            self.stdout.write(
                "No server process answered. Only processes serving sockets answer, and the "
                "in-memory channel layer can't reach other processes: use channels-redis."
            )
            return
        for reply in replies:
            self.stdout.write(self._format(reply["process"], reply))
        if len(replies) > 1:
            total = {key: sum(r[key] for r in replies) for key in _TOTALS}
            for key in ("errors", "drops", "refused"):
                merged: dict[str, int] = {}
                for reply in replies:
                    for name, count in reply[key].items():
                        merged[name] = merged.get(name, 0) + count
                total[key] = merged
            self.stdout.write(self._format(f"total ({len(replies)} processes)", total))

    @staticmethod
    def _format(title: str, values: dict[str, Any]) -> str:
        lines = [title]
        for key in _TOTALS:
            lines.append(f"  {key + ':':<18}{values[key]}")
        for key in ("errors", "drops", "refused"):
            counts = ", ".join(f"{name} {n}" for name, n in sorted(values[key].items()))
            lines.append(f"  {key + ':':<18}{counts or '-'}")
        if "uptime" in values:
            lines.append(f"  {'uptime:':<18}{values['uptime']:.0f} s")
        return "\n".join(lines)
