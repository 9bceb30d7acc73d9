"""An app whose sockets.py registers a route, then fails: startup must fail loudly."""

from easy_channels import JSONWebSocket, register


@register("broken/")
class BrokenConsumer(JSONWebSocket):
    pass


raise RuntimeError("broken sockets.py")
