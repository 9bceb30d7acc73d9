"""The test kit, used the way the README shows it."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from easy_channels import JSONWebSocket, SocketError
from easy_channels.testing import SocketCommunicator


async def test_through_the_router_with_a_user(channel_layer):
    ana = await sync_to_async(User.objects.create_user)("ana", password="x")
    comm = SocketCommunicator("/ws/private/", user=ana)
    assert await comm.connect()
    assert await comm.request("whoami") == "ana"
    await comm.assert_nothing_received()
    await comm.disconnect()


async def test_refused_connection_is_falsy_and_close_is_readable():
    comm = SocketCommunicator("/ws/private/")
    result = await comm.connect()
    assert result  # accepted, to tell the browser why...
    assert await comm.receive_event() == (
        "connect_error",
        {"code": 4401, "message": "Authentication required."},
    )
    assert await comm.receive_close() == (4401, "Authentication required.")
    unknown = SocketCommunicator("/ws/nope/")
    assert await unknown.connect()  # accepted too, to tell why: no route
    assert await unknown.receive_event() == (
        "connect_error",
        {"code": 4404, "message": "No route for this path."},
    )
    assert await unknown.receive_close() == (4404, "No route for this path.")


async def test_emit_receive_event_and_request_keeps_other_frames(channel_layer):
    a = SocketCommunicator("/ws/chat/ana/")
    b = SocketCommunicator("/ws/chat/bob/")
    assert await a.connect() and await b.connect()
    await a.emit("broadcast_message", message="hi")
    assert await b.receive_event() == ("message", {"message": "hi", "from": "ana"})
    assert await a.receive_event() == ("message", {"message": "hi", "from": "ana"})
    await a.disconnect()
    await b.disconnect()


class Api(JSONWebSocket):
    async def on_add(self, payload):
        await self.emit("adding", {"n": payload["a"]})
        return payload["a"] + payload["b"]

    def on_fail(self):
        from easy_channels import SocketError

        raise SocketError("not_found", "Nothing here.", details={"id": 3})


async def test_request_returns_data_or_raises_socket_error():
    comm = SocketCommunicator(Api, "/ws/api/")
    assert await comm.connect()
    assert await comm.request("add", a=1, b=2) == 3
    assert await comm.receive_event() == ("adding", {"n": 1})  # kept while waiting for the ack
    with pytest.raises(SocketError) as info:
        await comm.request("fail")
    assert (info.value.code, info.value.message, info.value.details) == (
        "not_found",
        "Nothing here.",
        {"id": 3},
    )
    with pytest.raises(SocketError) as info:
        await comm.request("nope")
    assert info.value.code == "unknown_event"
    await comm.disconnect()


async def test_assert_nothing_received_fails_when_something_arrives():
    comm = SocketCommunicator(Api, "/ws/api/")
    await comm.connect()
    await comm.emit("add", a=1, b=1)
    with pytest.raises(AssertionError, match="unexpected output"):
        await comm.assert_nothing_received()
    await comm.disconnect()
