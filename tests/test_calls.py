"""
Server calls over the JSON protocol: ``await self.call(event, payload)`` sends the event with
a call id and returns the client's ``_reply``; errors, timeouts and departures are exceptions.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from easy_channels import JSONWebSocket, SocketError, on
from tests.utils import communicator, receive, request, send

pytestmark = pytest.mark.usefixtures("channel_layer")


class Asker(JSONWebSocket):
    async def on_ask(self, payload):
        try:
            answer = await self.call("question", {"q": payload["q"]}, timeout=payload["t"])
        except SocketError as exc:
            return {"error": exc.code, "message": exc.message}
        except TimeoutError:
            return {"error": "timeout"}
        return {"answer": answer}

    def on_ask_sync(self, payload):
        """From a def handler the call blocks its thread until the answer comes."""
        return {"answer": self.call("question", {"q": payload["q"]}, timeout=2)}

    async def on_two(self):
        first, second = await asyncio.gather(
            self.call("question", {"q": 1}), self.call("question", {"q": 2})
        )
        return [first, second]

    @on("new message")
    def new_message(self, payload):
        return {"echo": payload["text"]}


async def _question(comm):
    frame = await receive(comm)
    assert frame["event"] == "question"
    return frame


@pytest.mark.parametrize("event", ["ask", "ask_sync"])
async def test_a_call_returns_the_client_reply(event):
    comm = communicator(Asker)
    await comm.connect()
    await send(comm, event, ack=1, q=7, t=2)
    question = await _question(comm)
    assert question == {"event": "question", "q": 7, "call": question["call"]}
    await send(comm, "_reply", call=question["call"], data=42)
    assert await receive(comm) == {"event": "ack", "ack": 1, "data": {"answer": 42}}
    await comm.disconnect()


async def test_an_error_reply_is_a_socket_error():
    comm = communicator(Asker)
    await comm.connect()
    await send(comm, "ask", ack=1, q=1, t=2)
    question = await _question(comm)
    await send(comm, "_reply", call=question["call"], error={"code": "nope", "message": "No."})
    reply = await receive(comm)
    assert reply["data"] == {"error": "nope", "message": "No."}
    await comm.disconnect()


async def test_no_reply_is_a_timeout_and_a_late_reply_is_dropped():
    comm = communicator(Asker)
    await comm.connect()
    await send(comm, "ask", ack=1, q=1, t=0.1)
    question = await _question(comm)
    assert (await receive(comm))["data"] == {"error": "timeout"}
    await send(comm, "_reply", call=question["call"], data="late")  # nothing answers it
    assert await comm.receive_nothing(0.2)
    await comm.disconnect()


async def test_replies_are_matched_by_id_and_bypass_the_queue():
    """The handler awaiting the answers holds the queue: the replies must not wait in it."""
    comm = communicator(Asker)
    await comm.connect()
    await send(comm, "two", ack=1)
    first, second = await _question(comm), await _question(comm)
    await send(comm, "_reply", call=second["call"], data=f"q{second['q']}")
    await send(comm, "_reply", call=first["call"], data=f"q{first['q']}")
    assert (await receive(comm))["data"] == ["q1", "q2"]
    await comm.disconnect()


async def test_leaving_fails_the_waiting_call():
    comm = communicator(Asker)
    await comm.connect()
    await send(comm, "ask", ack=1, q=1, t=5)
    await _question(comm)
    consumer_task = comm.future
    await comm.disconnect()
    await asyncio.wait_for(consumer_task, 5)  # the handler did not wait 5 s for an answer


async def test_a_call_payload_may_not_use_the_call_key():
    class Bad(JSONWebSocket):
        async def on_go(self):
            await self.call("x", {"call": 1})

    comm = communicator(Bad)
    await comm.connect()
    reply = await request(comm, "go")
    assert reply["event"] == "error"
    await comm.disconnect()


async def test_on_binds_an_event_name_with_a_space():
    comm = communicator(Asker)
    await comm.connect()
    await comm.send_to(text_data=json.dumps({"event": "new message", "ack": 1, "text": "hi"}))
    assert await receive(comm) == {"event": "ack", "ack": 1, "data": {"echo": "hi"}}
    await comm.disconnect()
