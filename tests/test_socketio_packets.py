"""The Socket.IO and Engine.IO packet rules alone (the conformance suites test the wire)."""

from __future__ import annotations

import datetime
import decimal

import pytest

from easy_channels.engineio_packets import InvalidPacket, decode_payload, encode_payload
from easy_channels.socketio_packets import BinaryText, encode, parse


@pytest.mark.parametrize(
    ("text", "kind", "namespace", "ack", "data"),
    [
        ("0", "0", "/", None, None),
        ('0/chat,{"token":"x"}', "0", "/chat", None, {"token": "x"}),
        ("1/chat,", "1", "/chat", None, None),
        ("1/chat", "1", "/chat", None, None),
        ('2["a",1]', "2", "/", None, ["a", 1]),
        ('2/x,12["a"]', "2", "/x", 12, ["a"]),
        ("3/x,5[]", "3", "/x", 5, []),
    ],
)
def test_parse(text, kind, namespace, ack, data):
    packet = parse(text)
    assert (packet.kind, packet.namespace, packet.ack, packet.data) == (kind, namespace, ack, data)


@pytest.mark.parametrize(
    "text",
    ["", "9", "4{}", "abc", "2{}", "2[]", "2[1]", '2abc["a"]', "3[]", "0[1]", '1"x"', "5x-[]"],
)
def test_invalid_packets(text):
    with pytest.raises(InvalidPacket):
        parse(text)


def test_binary_packets_carry_their_attachments():
    text = encode("2", "/", ["file", {"data": b"\x00\x01", "name": "a"}, b"z"])
    assert isinstance(text, BinaryText)
    assert text == (
        '52-["file",{"data":{"_placeholder":true,"num":0},"name":"a"},'
        '{"_placeholder":true,"num":1}]'
    )
    assert text.attachments == [b"\x00\x01", b"z"]
    packet = parse(text)
    packet.received = list(text.attachments)
    assert packet.with_attachments().data == ["file", {"data": b"\x00\x01", "name": "a"}, b"z"]


def test_data_is_encoded_as_the_json_protocol_encodes_it():
    when = datetime.datetime(2026, 12, 2, 1, 30, tzinfo=datetime.UTC)
    assert encode("2", "/", ["at", {"when": when, "price": decimal.Decimal("1.50"), "é": "ü"}]) == (
        '2["at",{"when":"2026-12-02T01:30:00Z","price":"1.50","é":"ü"}]'
    )
    with pytest.raises(ValueError):
        encode("2", "/", ["x", float("nan")])  # a JavaScript client can't parse NaN


def test_polling_payloads():
    packets = decode_payload(b"4hello\x1ebAQIDBA==\x1e2")
    assert packets == ["4hello", b"\x01\x02\x03\x04", "2"]
    assert encode_payload(packets) == b"4hello\x1ebAQIDBA==\x1e2"
    for body in (b"abc", b"4a\x1ebnot base64!", b"\xff"):
        with pytest.raises(InvalidPacket):
            decode_payload(body)
