"""easy_channels.middleware.RequireAuthentication and Throttle."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser, User

from easy_channels import JSONWebSocket, SocketError
from easy_channels.middleware import RequireAuthentication, Throttle, parse_rate
from easy_channels.testing import SocketCommunicator


class Members(JSONWebSocket):
    middlewares = [RequireAuthentication]

    def on_ping(self):
        return "pong"


@pytest.mark.parametrize("user", [None, AnonymousUser()], ids=["no user", "anonymous"])
async def test_require_authentication_refuses_with_4401(user):
    comm = SocketCommunicator(Members, "/ws/members/", user=user)
    assert await comm.connect()
    assert await comm.receive_event() == (
        "connect_error",
        {"code": 4401, "message": "Authentication required."},
    )
    assert await comm.receive_close() == (4401, "Authentication required.")


async def test_require_authentication_lets_users_in():
    user = await sync_to_async(User.objects.create_user)("ana", password="x")
    comm = SocketCommunicator(Members, "/ws/members/", user=user)
    assert await comm.connect()
    assert await comm.request("ping") == "pong"
    await comm.disconnect()


class Chatty(JSONWebSocket):
    middlewares = [Throttle]

    def on_ping(self):
        return "pong"


async def test_throttle_answers_rate_limited_and_recovers(settings):
    settings.EASY_CHANNELS = {"THROTTLE": {"RATE": "5/s", "BURST": 0, "CLOSE_AFTER": 100}}
    comm = SocketCommunicator(Chatty, "/ws/chatty/")
    assert await comm.connect()
    for _ in range(5):
        assert await comm.request("ping") == "pong"
    with pytest.raises(SocketError) as info:
        await comm.request("ping")
    assert (info.value.code, info.value.message) == (
        "rate_limited",
        "Too many messages; slow down.",
    )
    await asyncio.sleep(0.45)  # two tokens back at 5/s
    assert await comm.request("ping") == "pong"
    assert await comm.request("ping") == "pong"
    with pytest.raises(SocketError):
        await comm.request("ping")
    await comm.disconnect()


async def test_a_persistent_flood_closes_with_4429(settings):
    settings.EASY_CHANNELS = {"THROTTLE": {"RATE": "2/m", "BURST": 1, "CLOSE_AFTER": 3}}
    comm = SocketCommunicator(Chatty, "/ws/chatty/")
    assert await comm.connect()
    for _ in range(3):
        assert await comm.request("ping") == "pong"
    for _ in range(2):
        with pytest.raises(SocketError):
            await comm.request("ping")
    await comm.emit("ping")
    assert await comm.receive_close() == (4429, "Too many messages.")


async def test_throttle_subclass_sets_its_own_rate(settings):
    class Strict(Throttle):
        rate = "1/h"
        burst = 0

    class Quiet(JSONWebSocket):
        middlewares = [Strict]

        def on_ping(self):
            return "pong"

    comm = SocketCommunicator(Quiet, "/ws/quiet/")
    assert await comm.connect()
    assert await comm.request("ping") == "pong"
    with pytest.raises(SocketError):
        await comm.request("ping")
    await comm.disconnect()


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [("20/s", (20, 1)), ("100/m", (100, 60)), ("1000/h", (1000, 3600)), ("3/10s", (3, 10))],
)
def test_parse_rate(rate, parsed):
    assert parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["", "fast", "0/s", "1/d", 5, None])
def test_parse_rate_refuses_nonsense(rate):
    with pytest.raises(ValueError, match="invalid rate"):
        parse_rate(rate)
