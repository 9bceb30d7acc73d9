"""
The consumer behind real ASGI servers (uvicorn and daphne) on loopback, with a real client.

Channels apps behave differently per server when they crash (daphne sends 1011, uvicorn drops
the connection); these tests prove easy_channels gives the client the same answer on both.
"""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.liveserver import serve


@pytest.fixture(scope="module", params=["uvicorn", "daphne"])
def server(request):
    """A real ASGI server process on a loopback port; stopped by its pid afterwards."""
    with serve("tests.servers.asgi:application", kind=request.param) as running:
        yield running.ws


ORIGIN = {"origin": "http://127.0.0.1"}


async def _request(ws, event, ack=1, **payload):
    await ws.send(json.dumps({"event": event, "ack": ack, **payload}))
    return json.loads(await ws.recv())


async def test_echo_and_errors_keep_the_socket_open(server):
    async with connect(f"{server}/ws/echo/", **ORIGIN) as ws:
        assert await _request(ws, "echo", x=1) == {"event": "ack", "ack": 1, "data": {"x": 1}}
        assert await _request(ws, "boom", ack=2) == {
            "event": "error",
            "code": "handler_error",
            "message": "Internal server error.",
            "ack": 2,
        }
        await ws.send(b"\x00binary")
        assert json.loads(await ws.recv())["code"] == "invalid_message"
        await ws.send("not json")
        assert json.loads(await ws.recv())["code"] == "invalid_json"
        assert (await _request(ws, "connect", ack=3))["code"] == "unknown_event"
        assert (await _request(ws, "echo", ack=4, y=2))["data"] == {"y": 2}


async def test_crash_in_on_connect_after_accept_is_1011_on_every_server(server):
    async with connect(f"{server}/ws/crash/", **ORIGIN) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1011


async def refusal(ws):
    """A refused socket's ``connect_error`` frame and the close frame that follows it."""
    frame = json.loads(await ws.recv())
    with pytest.raises(ConnectionClosed) as info:
        await ws.recv()
    assert info.value.rcvd is not None, "closed without a close frame"
    return frame, info.value.rcvd


async def test_rejection_reaches_the_client_with_its_code(server):
    async with connect(f"{server}/ws/reject/", **ORIGIN) as ws:
        frame, closed = await refusal(ws)
    assert frame == {"event": "connect_error", "code": 4401, "message": "Log in first."}
    assert closed.code == 4401


@pytest.fixture(scope="module", params=["uvicorn", "daphne"])
def router_server(request):
    """``websocket_router`` itself behind a real server (a server per module, as ``server``)."""
    with serve("tests.servers.asgi:router_application", kind=request.param) as running:
        yield running


async def test_unknown_path_closes_with_4404_on_every_server(router_server):
    async with connect(f"{router_server.ws}/ws/nope/", **ORIGIN) as ws:  # accepted, not a 403
        frame, closed = await refusal(ws)
    assert frame == {"event": "connect_error", "code": 4404, "message": "No route for this path."}
    assert closed.code == 4404
    # daphne drops close reasons (hence the connect_error frame); uvicorn passes them on.
    reason = "" if router_server.kind == "daphne" else "No route for this path."
    assert closed.reason == reason
    output = router_server.output()
    assert "no socket route for path '/ws/nope/'" in output
    assert "Traceback" not in output, output


async def test_broadcast_between_two_real_clients(server):
    async with (
        connect(f"{server}/ws/chat/ana/", **ORIGIN) as ana,
        connect(f"{server}/ws/chat/bob/", **ORIGIN) as bob,
    ):
        # Both joined once they are connected; the warm-up proves the group works both ways.
        await ana.send(json.dumps({"event": "say", "ack": 1, "text": "warm-up"}))
        replies = [json.loads(await ana.recv()) for _ in range(2)]
        assert {r["event"] for r in replies} == {"ack", "said"}
        assert json.loads(await bob.recv())["text"] == "warm-up"
        await bob.send(json.dumps({"event": "say", "text": "hi"}))
        expected = {"event": "said", "from": "bob", "text": "hi"}
        assert json.loads(await ana.recv()) == expected
        assert json.loads(await bob.recv()) == expected
