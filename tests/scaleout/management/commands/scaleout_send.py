"""
``python -m django scaleout_send FUNCTION TARGET [EVENT] [options]``: send to sockets with
easy_channels' module-level senders from a plain process, which serves no socket.

Examples::

    scaleout_send group_send lobby said --payload '{"text": "hi"}'
    scaleout_send group_call_event lobby announce --payload '{"text": "hi"}'
    scaleout_send send_to 'specific.abc!def' whispered --payload '{"text": "hi"}'
    scaleout_send user_send 7 notified --payload '{"text": "hi"}' --on-commit
    scaleout_send close_group lobby --code 4001 --reason 'Back soon'
    scaleout_send close_user 7 --code 4002
"""

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

import easy_channels

SENDS = ("group_send", "group_call_event", "send_to", "user_send")
CLOSES = ("close_group", "close_user")


class Command(BaseCommand):
    help = "Send to sockets from this process with easy_channels' senders."

    def add_arguments(self, parser):
        parser.add_argument("function", choices=SENDS + CLOSES)
        parser.add_argument("target", help="a group, a channel name or a user's primary key")
        parser.add_argument("event", nargs="?", help="the event to send or call (not for closes)")
        parser.add_argument("--payload", type=json.loads, default=None, help="a JSON object")
        parser.add_argument("--code", type=int, default=4000, help="the close code")
        parser.add_argument("--reason", default=None, help="the close reason")
        parser.add_argument(
            "--on-commit",
            action="store_true",
            help="send from inside a transaction with on_commit=True",
        )

    def handle(self, *, function, target, event, payload, code, reason, on_commit, **options):
        sender = getattr(easy_channels, function)
        if function in CLOSES:
            args = (target, code, reason)
        elif event is None:
            raise CommandError(f"{function} needs an EVENT.")
        else:
            args = (target, event, payload)
        if function in ("user_send", "close_user"):
            args = (int(target), *args[1:])
        if on_commit:
            with transaction.atomic():
                sender(*args, on_commit=True)
        else:
            sender(*args)
        self.stdout.write(f"{function} {target}: sent")
