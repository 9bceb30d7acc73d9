"""easy_channels.security: an origin check that reads ALLOWED_HOSTS per handshake and logs."""

from __future__ import annotations

import logging

from channels.testing import WebsocketCommunicator

from easy_channels import JSONWebSocket
from easy_channels.security import AllowedHostsOriginValidator


class Hello(JSONWebSocket):
    async def on_hi(self):
        return "hello"


def _open(app, origin: bytes | None):
    headers = [(b"origin", origin)] if origin is not None else []
    return WebsocketCommunicator(app, "/ws/", headers=headers)


async def test_refusals_are_logged_once_a_minute_per_origin(settings, caplog):
    settings.ALLOWED_HOSTS = ["example.com"]
    app = AllowedHostsOriginValidator(Hello.as_asgi())
    caplog.set_level(logging.DEBUG, logger="easy_channels")
    for _ in range(3):
        comm = _open(app, b"http://evil.example")
        connected, _ = await comm.connect()
        assert not connected
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    text = warnings[0].getMessage()
    assert "http://evil.example" in text and "example.com" in text and "ALLOWED_HOSTS" in text
    comm = _open(app, None)  # a client sending no Origin (not a browser) is told apart
    assert not (await comm.connect())[0]
    assert "(no Origin header)" in caplog.records[-1].getMessage()
    comm = _open(app, b"https://example.com")
    assert (await comm.connect())[0]
    await comm.send_json_to({"event": "hi", "ack": 1})
    assert (await comm.receive_json_from())["data"] == "hello"
    await comm.disconnect()


async def test_allowed_hosts_are_read_at_each_handshake(settings):
    """
    Channels' validator copies ALLOWED_HOSTS when asgi.py is imported: a host added later (as
    ChannelsLiveServerTestCase adds the live server's) was refused.
    """
    settings.ALLOWED_HOSTS = ["testserver"]
    app = AllowedHostsOriginValidator(Hello.as_asgi())
    assert not (await _open(app, b"http://localhost:8123").connect())[0]
    settings.ALLOWED_HOSTS = ["testserver", "localhost"]
    comm = _open(app, b"http://localhost:8123")
    assert (await comm.connect())[0]
    await comm.disconnect()
