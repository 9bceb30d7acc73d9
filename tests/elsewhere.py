"""A consumer outside any app, served through EASY_CHANNELS['SOCKETS']."""

from easy_channels import JSONWebSocket


class ElsewhereConsumer(JSONWebSocket):
    def on_ping(self):
        return "pong"
