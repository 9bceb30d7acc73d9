"""A namespace that tells its client who the polling handshake authenticated (tests)."""

from __future__ import annotations

from easy_channels import JSONWebSocket


class WhoAmI(JSONWebSocket):
    def on_connect(self):
        user = self.scope.get("user")
        self.emit("you", {"user": getattr(user, "username", None) or None})
