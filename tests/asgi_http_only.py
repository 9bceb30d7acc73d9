"""
An asgi.py without a websocket branch (W008), imported by nothing but the checks: a test can tell
from sys.modules whether a check imported it.
"""

from channels.routing import ProtocolTypeRouter
from django.core.handlers.asgi import ASGIHandler

application = ProtocolTypeRouter({"http": ASGIHandler()})
