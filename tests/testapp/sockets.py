"""Found by autodiscovery: the test project's first app."""

from easy_channels import JSONWebSocket, register, server_only


@register("chat/<str:name>/", name="chat")
class ChatConsumer(JSONWebSocket):
    groups = ["chatroom"]

    def on_connect(self):
        self.name = self.scope["url_route"]["kwargs"]["name"]

    def on_broadcast_message(self, event):
        self.group_send("chatroom", "message", {"message": event["message"], "from": self.name})

    @server_only
    def on_announce(self, payload):
        self.emit("announcement", payload)


@register(regex=r"^echo/(?P<n>\d+)/$")
class EchoConsumer(JSONWebSocket):
    def on_echo(self, payload):
        return {**payload, "n": self.scope["url_route"]["kwargs"]["n"]}
