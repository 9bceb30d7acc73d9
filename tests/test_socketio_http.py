"""
The long-polling requests as http_router serves them, in this process (with the test
database): the Origin check, and the session-opening request authenticated as a handshake is.
"""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from easy_channels.routing import http_router

PATH = "/socket.io/"


async def _not_found(scope, receive, send):
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b"django"})


@pytest.fixture
def sio_settings(settings):
    settings.EASY_CHANNELS = {
        "SOCKETS": {"/": "tests.sio_site.whoami.WhoAmI"},
        "SOCKETIO": {"PING_INTERVAL": 5, "PING_TIMEOUT": 5},
    }
    settings.ALLOWED_HOSTS = ["testserver", "good.example"]
    return settings


async def _request(method, query, body=b"", headers=()):
    app = http_router(_not_found)
    comm = HttpCommunicator(app, method, f"{PATH}?{query}", body=body, headers=list(headers))
    response = await comm.get_response(timeout=5)
    return response["status"], response["body"].decode()


@pytest.mark.django_db(transaction=True)
async def test_the_handshake_is_authenticated_and_polls_carry_the_session(sio_settings):
    user = await sync_to_async(get_user_model().objects.create_user)("ana", password="pw")
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    status, body = await _request("GET", "EIO=4&transport=polling", headers=[(b"cookie", cookie)])
    assert status == 200
    sid = json.loads(body[1:])["sid"]
    query = f"EIO=4&transport=polling&sid={sid}"
    assert await _request("POST", query, b"40") == (200, "ok")
    status, body = await _request("GET", query)
    packets = body.split("\x1e")
    if len(packets) == 1:
        packets += (await _request("GET", query))[1].split("\x1e")
    assert packets[0].startswith('40{"sid":')
    assert packets[1] == '42["you",{"user":"ana"}]'


async def test_an_anonymous_handshake_has_an_anonymous_user(sio_settings, db):
    _, body = await _request("GET", "EIO=4&transport=polling")
    sid = json.loads(body[1:])["sid"]
    query = f"EIO=4&transport=polling&sid={sid}"
    await _request("POST", query, b"40")
    body = (await _request("GET", query))[1]
    if "\x1e" not in body:
        body += "\x1e" + (await _request("GET", query))[1]
    assert body.split("\x1e")[1] == '42["you",{"user":null}]'


@pytest.mark.parametrize(
    ("origin", "status"),
    [(None, 200), (b"http://good.example", 200), (b"http://evil.example", 403), (b"null", 403)],
)
async def test_a_browser_origin_must_be_allowed(sio_settings, origin, status, db):
    headers = [(b"origin", origin)] if origin is not None else []
    assert (await _request("GET", "EIO=4&transport=polling", headers=headers))[0] == status


async def test_other_requests_go_to_django(sio_settings):
    comm = HttpCommunicator(http_router(_not_found), "GET", "/elsewhere/")
    assert (await comm.get_response())["body"] == b"django"


async def test_without_a_namespace_nothing_is_served_there(settings):
    settings.EASY_CHANNELS = {}
    comm = HttpCommunicator(http_router(_not_found), "GET", f"{PATH}?EIO=4&transport=polling")
    assert (await comm.get_response())["body"] == b"django"


class _Polling:
    """One Engine.IO session over long-polling, by hand, in this process."""

    def __init__(self, headers=()):
        self.headers = list(headers)
        self.query = ""

    async def open(self, namespace="/"):
        _, body = await _request("GET", "EIO=4&transport=polling", headers=self.headers)
        self.query = f"EIO=4&transport=polling&sid={json.loads(body[1:])['sid']}"
        await self.post("40" if namespace == "/" else f"40{namespace},")
        return await self.packets(2)  # the CONNECT reply and the "you" event

    async def post(self, body):
        assert await _request("POST", self.query, body.encode()) == (200, "ok")

    async def packets(self, count):
        got = []
        while len(got) < count:
            status, body = await _request("GET", self.query)
            assert status == 200
            got += [p for p in body.split("\x1e") if p != "2"]
        return got


@pytest.mark.django_db(transaction=True)
async def test_user_groups_user_send_and_close_user(sio_settings):
    from easy_channels import aclose_user, auser_send

    user = await sync_to_async(get_user_model().objects.create_user)("bo", password="pw")
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    polling = _Polling([(b"cookie", cookie)])
    assert (await polling.open())[1] == '42["you",{"user":"bo"}]'
    await auser_send(user, "note", {"text": "for bo"})
    assert await polling.packets(1) == ['42["note",{"text":"for bo"}]']
    await aclose_user(user, 4001, "Bye.")
    assert await polling.packets(1) == ["41"]  # a namespace disconnect, the session stays


async def test_limits_and_stats_apply_over_socketio(sio_settings, db):
    import easy_channels

    sio_settings.EASY_CHANNELS = {
        **sio_settings.EASY_CHANNELS,
        "SOCKETS": {"/": "tests.sio_site.whoami.Limited"},
    }
    before = easy_channels.stats()
    polling = _Polling()
    await polling.open()
    after_open = easy_channels.stats()
    assert after_open["sockets_open"] == before["sockets_open"] + 1
    await polling.post("\x1e".join(f'42{n}["ping_me"]' for n in range(1, 6)))
    answers = await polling.packets(5)  # refusals are answered as frames arrive: any order
    assert '431["pong"]' in answers
    limited = [a for a in answers if '"rate_limited"' in a]
    assert limited and all(a.startswith("43") for a in limited), answers
    assert easy_channels.stats()["messages_in"] >= after_open["messages_in"] + 3
