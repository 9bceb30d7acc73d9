"""Log lines name the consumer, the event and the handler, and say what to fix."""

from __future__ import annotations

import asyncio
import logging

import easy_channels
from easy_channels import JSONWebSocket, server_only
from easy_channels.testing import SocketCommunicator
from tests.utils import communicator, request


class Shop(JSONWebSocket):
    groups = ["shop"]

    async def on_buy(self, payload):
        raise RuntimeError("out of stock")

    def on_price(self):
        return {1, 2}  # a set: JSON can't encode it

    @server_only
    async def on_restock(self, payload):
        raise RuntimeError("no supplier")


async def test_a_handler_error_names_consumer_event_and_handler(caplog):
    comm = communicator(Shop, "/ws/shop/")
    assert (await comm.connect())[0]
    with caplog.at_level(logging.INFO, logger="easy_channels"):
        reply = await request(comm, "buy", ack=1)
    assert reply["code"] == "handler_error"
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == "easy_channels: Shop.on_buy() (event 'buy', /ws/shop/) failed"
    assert "out of stock" in caplog.text  # the traceback
    await comm.disconnect()


async def test_an_ack_that_cannot_be_encoded_says_what_to_return(caplog):
    comm = communicator(Shop, "/ws/shop/")
    assert (await comm.connect())[0]
    with caplog.at_level(logging.INFO, logger="easy_channels"):
        reply = await request(comm, "price", ack=2)
    assert (reply["code"], reply["ack"]) == ("handler_error", 2)
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    message = record.getMessage()
    assert message.startswith(
        "easy_channels: Shop.on_price() (event 'price', /ws/shop/) returned set"
    )
    assert "return None, or data JSON can encode" in message
    await comm.disconnect()


async def test_an_unknown_event_is_warned_about_once_with_the_known_ones(caplog):
    comm = communicator(Shop, "/ws/shop/")
    assert (await comm.connect())[0]
    with caplog.at_level(logging.WARNING, logger="easy_channels"):
        for ack in (3, 4):
            assert (await request(comm, "by", ack=ack))["code"] == "unknown_event"
    warnings = [r.getMessage() for r in caplog.records if "no handler for" in r.getMessage()]
    assert warnings == [
        "easy_channels: a client of Shop (/ws/shop/) sent event 'by', which it has no handler "
        "for; known events: buy, price. Define on_by(), or fix the client (warned once per "
        "event)."
    ]
    await comm.disconnect()


async def test_a_server_event_error_names_the_handler(caplog, channel_layer):
    comm = SocketCommunicator(Shop, "/ws/shop/")
    assert await comm.connect()
    with caplog.at_level(logging.ERROR, logger="easy_channels"):
        await easy_channels.agroup_call_event("shop", "restock", {})
        for _ in range(50):
            if "failed (a server event" in caplog.text:
                break
            await asyncio.sleep(0.02)
    assert "Shop.on_restock() (event 'restock', /ws/shop/) failed (a server event" in caplog.text
    await comm.disconnect()
