"""A namespace that tells its client who the polling handshake authenticated (tests)."""

from __future__ import annotations

from easy_channels import JSONWebSocket
from easy_channels.middleware import Throttle


class SlowThrottle(Throttle):
    rate = "2/s"
    burst = 0
    close_after = 10


class WhoAmI(JSONWebSocket):
    def on_connect(self):
        user = self.scope.get("user")
        self.emit("you", {"user": getattr(user, "username", None) or None})


class Limited(WhoAmI):
    """Behind easy_channels' Throttle, at 2 frames per second with no burst."""

    middlewares = ["tests.sio_site.whoami.SlowThrottle"]

    def on_ping_me(self):
        return "pong"
