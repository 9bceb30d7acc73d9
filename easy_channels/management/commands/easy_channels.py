"""``manage.py easy_channels``: what sockets this project serves, and how."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from easy_channels.conf import get_config
from easy_channels.handlers import tables_for
from easy_channels.middleware import chain_for
from easy_channels.registry import registry


def _dotted(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def describe_routes() -> list[dict[str, Any]]:
    """Every route with its consumer, client events, server-only events and middleware chain."""
    config = get_config()
    prefix = config.url_prefix
    described = []
    for route in registry.routes():
        cls = route.consumer
        tables = tables_for(cls)
        chain = chain_for(cls, config.middleware)
        described.append(
            {
                "route": route.shown(prefix),
                "regex": route.is_regex,
                "name": route.name,
                "source": route.source,
                "consumer": _dotted(cls),
                "groups": list(cls.groups),
                "client_events": sorted(tables.client),
                "server_only_events": sorted(set(tables.server) - set(tables.client)),
                "middleware": [_dotted(m) for m in chain],
            }
        )
    return described


class Command(BaseCommand):
    help = (
        "List the socket routes: consumer classes, the events clients may send, server-only "
        "events (reached by group_call_event) and the middleware chain of each route."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON instead of text.")

    def handle(self, *args: Any, **options: Any) -> None:
        routes = describe_routes()
        if options["json"]:
            self.stdout.write(json.dumps(routes, indent=2))
            return
        if not routes:
            self.stdout.write(
                "No socket routes. Register consumers with @easy_channels.register in an app's "
                "sockets.py, or list them in EASY_CHANNELS['SOCKETS']."
            )
            return
        for entry in routes:
            title = ("regex " if entry["regex"] else "") + entry["route"]
            title += f"  (name: {entry['name']})" if entry["name"] else ""
            self.stdout.write(self.style.MIGRATE_HEADING(title))
            self.stdout.write(f"  consumer:           {entry['consumer']}  [{entry['source']}]")
            if entry["groups"]:
                self.stdout.write(f"  groups:             {', '.join(entry['groups'])}")
            self.stdout.write(f"  client events:      {', '.join(entry['client_events']) or '-'}")
            server_only = ", ".join(entry["server_only_events"]) or "-"
            self.stdout.write(f"  server-only events: {server_only}")
            self.stdout.write(f"  middleware:         {' -> '.join(entry['middleware']) or '-'}")
