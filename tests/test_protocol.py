"""The pure protocol functions: parsing and encoding frames."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid

import pytest

from easy_channels import protocol
from easy_channels.protocol import Frame, ProtocolError, encode_event, parse_frame


def parse(text, **kw):
    return parse_frame(text, max_size=kw.get("max_size", 1024 * 1024), max_depth=32)


def test_parse_splits_event_ack_and_payload():
    assert parse('{"event": "say", "ack": "a1", "text": "hi", "n": 1}') == Frame(
        "say", "a1", {"text": "hi", "n": 1}
    )
    assert parse('{"event": "say"}') == Frame("say", None, {})


def test_ack_null_is_invalid_message():
    with pytest.raises(ProtocolError) as info:
        parse('{"event": "say", "ack": null}')
    assert info.value.code == "invalid_message"


@pytest.mark.parametrize("name", ["a", "_", "A_1", "x" * 100, "on_connect", "__class__"])
def test_valid_event_names(name):
    assert protocol.is_valid_event_name(name)


@pytest.mark.parametrize("name", ["", "1a", "a-b", "a b", "x" * 101, "é", "a\n", None, 1])
def test_invalid_event_names(name):
    assert not protocol.is_valid_event_name(name)


def test_deep_nesting_is_invalid_json_not_recursion_error():
    with pytest.raises(ProtocolError) as info:
        parse('{"event":"x","y":' + "[" * 100_000 + "]" * 100_000 + "}")
    assert info.value.code == "invalid_json"


def test_size_is_checked_before_parsing():
    with pytest.raises(ProtocolError) as info:
        parse("x" * 101, max_size=100)  # not JSON either, but too_large wins
    assert info.value.code == "too_large"
    assert parse('{"event":"a","b":"' + "x" * 80 + '"}', max_size=100).event == "a"


def test_encode_event_is_compact_strict_json():
    assert encode_event("said", {"text": "hi"}) == '{"event":"said","text":"hi"}'
    assert encode_event("ping") == '{"event":"ping"}'


def test_encode_event_uses_django_json_encoder():
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    ident = uuid.UUID(int=1)
    text = encode_event("x", {"at": moment, "price": decimal.Decimal("1.50"), "id": ident})
    assert json.loads(text) == {
        "event": "x",
        "at": "2026-01-02T03:04:05Z",
        "price": "1.50",
        "id": str(ident),
    }


@pytest.mark.parametrize(
    ("event", "payload", "error", "match"),
    [
        ("x", {"event": 1}, ValueError, "may not contain the key"),
        ("x", {"ack": 1}, ValueError, "may not contain the key"),
        ("x", ["list"], TypeError, "must be a dict"),
        ("x", {"v": float("nan")}, ValueError, "Out of range float"),
        ("x", {"v": float("inf")}, ValueError, "Out of range float"),
        ("x", {"v": object()}, TypeError, "not JSON serializable"),
        ("bad\nname", None, ValueError, "Invalid event name"),
        ("", None, ValueError, "Invalid event name"),
        ("x" * 101, None, ValueError, "Invalid event name"),
        ("ack", None, ValueError, "reserved"),
        ("error", None, ValueError, "reserved"),
        ("connect_error", None, ValueError, "reserved"),
    ],
)
def test_encode_event_refuses_what_would_corrupt_a_frame(event, payload, error, match):
    with pytest.raises(error, match=match):
        encode_event(event, payload)


def test_close_codes_and_reasons():
    for code in (1000, 3000, 4000, 4999):
        assert protocol.check_close_code(code) == code
    for code in (999, 1001, 1005, 1006, 1008, 1011, 2000, 5000):
        with pytest.raises(ValueError):
            protocol.check_close_code(code)
    with pytest.raises(TypeError):
        protocol.check_close_code(True)
    reason = protocol.truncate_reason("€" * 100)
    assert len(reason.encode()) <= 123 and reason == "€" * 41
