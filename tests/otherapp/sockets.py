"""Found by autodiscovery: the test project's second app."""

from easy_channels import JSONWebSocket, register
from easy_channels.middleware import RequireAuthentication


@register("private/")
class PrivateConsumer(JSONWebSocket):
    middlewares = [RequireAuthentication]

    def on_whoami(self):
        return self.scope["user"].username
