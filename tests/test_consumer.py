"""JSONWebSocket on a single socket: handlers, acks, errors, lifecycle, ordering."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import PermissionDenied, ValidationError

from easy_channels import JSONWebSocket, Reject, SocketError, SocketMiddleware, server_only
from tests.testapp.models import Note
from tests.utils import communicator, receive, request, send

pytestmark = pytest.mark.usefixtures("channel_layer")


class Echo(JSONWebSocket):
    def on_echo(self, payload):
        return payload

    async def on_aecho(self, payload):
        return payload

    def on_noarg(self):
        return "sync without argument"

    async def on_anoarg(self):
        return "async without argument"

    def on_ping(self, payload):
        self.emit("pong", payload)

    async def on_aping(self, payload):
        await self.emit("pong", payload)

    def on_boom(self):
        raise RuntimeError("secret database password")

    def on_socket_error(self):
        raise SocketError("not_found", "No such room.", details={"room": "x"})

    async def on_denied(self):
        raise PermissionDenied("Staff only.")

    def on_invalid(self):
        raise ValidationError({"text": ["This field is required."]})

    def on_invalid_list(self):
        raise ValidationError(["Too short.", "Too rude."])

    def on_rejected(self):
        raise Reject(reason="Not in this room.")

    def on_nan(self):
        return {"x": float("nan")}

    def on_bad_pong(self):
        try:
            self.emit("_pong")
        except ValueError as exc:
            return str(exc)

    def on_bad_emit(self):
        try:
            self.emit("x", {"ack": 1})
        except ValueError as exc:
            return str(exc)

    @server_only
    def on_secret(self):
        return "never to a client"

    def on__hidden(self):
        return "never to a client"

    def helper(self):
        return "not an event"


async def connected(consumer=Echo, **kwargs):
    comm = communicator(consumer, **kwargs)
    ok, _ = await comm.connect()
    assert ok
    return comm


# -- handlers and acks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "payload", "data"),
    [
        ("echo", {"a": 1}, {"a": 1}),
        ("aecho", {"a": [1, "x"]}, {"a": [1, "x"]}),
        ("noarg", {"ignored": True}, "sync without argument"),
        ("anoarg", {}, "async without argument"),
    ],
)
async def test_handlers_sync_async_with_and_without_argument(event, payload, data):
    comm = await connected()
    assert await request(comm, event, ack=7, **payload) == {"event": "ack", "ack": 7, "data": data}
    await comm.disconnect()


@pytest.mark.parametrize("ack", [0, -3, 2**53, "", "a" * 64, "req-1"])
async def test_ack_ids(ack):
    comm = await connected()
    assert await request(comm, "echo", ack=ack, x=1) == {
        "event": "ack",
        "ack": ack,
        "data": {"x": 1},
    }
    await comm.disconnect()


async def test_no_ack_no_reply():
    comm = await connected()
    await send(comm, "echo", x=1)
    assert await comm.receive_nothing(0.2)
    await comm.disconnect()


@pytest.mark.parametrize("event", ["ping", "aping"])
async def test_emit_from_sync_and_async_handler(event):
    comm = await connected()
    await send(comm, event, n=1)
    assert await receive(comm) == {"event": "pong", "n": 1}
    await comm.disconnect()


async def test_payload_reserved_keys_are_a_value_error_at_the_sender():
    comm = await connected()
    reply = await request(comm, "bad_emit")
    assert "may not contain the key(s) ['ack']" in reply["data"]
    await comm.disconnect()


async def test_messages_of_one_socket_are_handled_in_order():
    order = []

    class Slow(JSONWebSocket):
        async def on_step(self, payload):
            await asyncio.sleep(payload["delay"])
            order.append(payload["n"])
            return payload["n"]

    comm = await connected(Slow)
    for n, delay in enumerate([0.2, 0, 0.1, 0]):
        await comm.send_to(
            text_data=json.dumps({"event": "step", "ack": n, "n": n, "delay": delay})
        )
    replies = [(await receive(comm))["data"] for _ in range(4)]
    assert replies == order == [0, 1, 2, 3]
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_orm_in_sync_handler():
    class Notes(JSONWebSocket):
        def on_add(self, payload):
            Note.objects.create(text=payload["text"])
            return Note.objects.count()

    comm = await connected(Notes)
    assert (await request(comm, "add", text="one"))["data"] == 1
    assert (await request(comm, "add", text="two"))["data"] == 2
    await comm.disconnect()
    texts = await sync_to_async(lambda: sorted(Note.objects.values_list("text", flat=True)))()
    assert texts == ["one", "two"]


# -- errors --------------------------------------------------------------------------------


async def assert_alive(comm):
    assert await request(comm, "echo", ack="alive", ok=True) == {
        "event": "ack",
        "ack": "alive",
        "data": {"ok": True},
    }


def error(code, **extra):
    return {"event": "error", "code": code, **extra}


def strip_message(frame):
    assert isinstance(frame.pop("message"), str)
    return frame


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "",
        "{",
        '{"event": "echo", "x": NaN}',
        '{"event": "echo", "x": Infinity}',
        '{"event": "echo", "x": -Infinity}',
        '{"event": "echo", "x": 1e999}',
        '{"event": "echo", "event": "echo"}',
        '{"event": "echo", "x": {"a": 1, "a": 2}}',
        '{"event": "echo", "x": ' + "1" * 101 + "}",
        '{"event": "echo", "x": ' + "9" * 5000 + "}",
        '{"event": "echo", "x": ' + "[" * 40 + "]" * 40 + "}",
        '{"event": "echo", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"event": "echo", "x": ' + '{"a":' * 5000 + "1" + "}" * 5000 + "}",
    ],
)
async def test_invalid_json(text):
    comm = await connected()
    await comm.send_to(text_data=text) if text else await comm.send_input(
        {"type": "websocket.receive", "text": ""}
    )
    assert strip_message(await receive(comm)) == error("invalid_json")
    await assert_alive(comm)
    await comm.disconnect()


async def test_nesting_up_to_the_limit_is_fine():
    comm = await connected()
    nested = "[" * 31 + "]" * 31  # the frame object itself is the 32nd level
    await comm.send_to(text_data='{"event": "echo", "ack": 1, "x": ' + nested + "}")
    assert (await receive(comm))["event"] == "ack"
    await comm.disconnect()


@pytest.mark.parametrize(
    "message",
    [
        [],
        "event",
        42,
        None,
        {},
        {"event": 5},
        {"event": ""},
        {"event": None},
        {"event": ["echo"]},
        {"event": "a" * 101},
        {"event": "echo\n"},
        {"event": "tab\there"},
        {"event": "echo", "ack": True},
        {"event": "echo", "ack": None},
        {"event": "echo", "ack": 1.5},
        {"event": "echo", "ack": "a" * 65},
        {"event": "echo", "ack": [1]},
        {"event": "echo", "ack": {"id": 1}},
    ],
)
async def test_invalid_message(message):
    comm = await connected()
    await comm.send_to(text_data=json.dumps(message))
    assert strip_message(await receive(comm)) == error("invalid_message")
    await assert_alive(comm)
    await comm.disconnect()


@pytest.mark.parametrize("name", ["has space", "1abc", "dotted.name", "ünïcode", "new-message"])
async def test_any_printable_name_is_an_event_name(name):
    """Names on_<name> can't spell are valid on the wire (@on binds them): unknown here."""
    comm = await connected()
    await comm.send_to(text_data=json.dumps({"event": name, "ack": 3}))
    assert strip_message(await receive(comm)) == error("unknown_event", ack=3)
    await comm.disconnect()


async def test_invalid_message_keeps_a_valid_ack():
    comm = await connected()
    await comm.send_to(text_data=json.dumps({"event": "bad\nname", "ack": 3}))
    assert strip_message(await receive(comm)) == error("invalid_message", ack=3)
    await comm.disconnect()


async def test_binary_frame_is_invalid_message():
    comm = await connected()
    await comm.send_to(bytes_data=b'{"event": "echo"}')
    assert strip_message(await receive(comm)) == error("invalid_message")
    await assert_alive(comm)
    await comm.disconnect()


@pytest.mark.parametrize(
    "event",
    [
        "nope",
        "connect",
        "disconnect",
        "secret",  # @server_only
        "_hidden",
        "_x",
        "__class__",
        "__init__",
        "__dict__",
        "helper",
        "group_add",
        "group_send",
        "accept",
        "close",
        "emit",
        "receive",
        "send_to",
        "dispatch",
        "websocket_connect",
        "websocket_receive",
        "as_asgi",
        "scope",
        "channel_layer",
    ],
)
async def test_unreachable_names_answer_unknown_event(event):
    comm = await connected()
    reply = await request(comm, event, ack=9)
    assert reply == {
        "event": "error",
        "code": "unknown_event",
        "message": f"Unknown event {event!r}.",
        "ack": 9,
    }
    await assert_alive(comm)
    await comm.disconnect()


async def test_handler_error_hides_its_text_and_logs_the_traceback(caplog):
    comm = await connected()
    with caplog.at_level(logging.ERROR, logger="easy_channels"):
        reply = await request(comm, "boom", ack=1)
    assert reply == error("handler_error", message="Internal server error.", ack=1)
    assert "secret" not in json.dumps(reply)
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.exc_info and "secret database password" in str(record.exc_info[1])
    await assert_alive(comm)
    await comm.disconnect()


async def test_handler_error_text_reaches_the_client_only_with_debug(settings):
    settings.DEBUG = True
    comm = await connected()
    reply = await request(comm, "boom", ack=1)
    assert reply["message"] == "RuntimeError: secret database password"
    await comm.disconnect()


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("socket_error", error("not_found", message="No such room.", details={"room": "x"})),
        ("denied", error("forbidden", message="Staff only.")),
        ("rejected", error("forbidden", message="Not in this room.")),
        (
            "invalid",
            error(
                "invalid", message="Invalid data.", details={"text": ["This field is required."]}
            ),
        ),
        (
            "invalid_list",
            error("invalid", message="Invalid data.", details=["Too short.", "Too rude."]),
        ),
        ("nan", error("handler_error", message="Internal server error.")),
    ],
)
async def test_handler_exceptions_become_error_frames(event, expected):
    comm = await connected()
    assert await request(comm, event, ack=5) == {**expected, "ack": 5}
    await assert_alive(comm)
    await comm.disconnect()


async def test_too_large(settings):
    settings.EASY_CHANNELS = {"MAX_MESSAGE_SIZE": 100}
    comm = await connected()
    await comm.send_to(text_data=json.dumps({"event": "echo", "x": "a" * 100}))
    assert strip_message(await receive(comm)) == error("too_large")
    # 60 characters but 180 bytes of UTF-8: the limit is in bytes.
    await comm.send_to(text_data='{"event":"echo","x":"' + "€" * 60 + '"}')
    assert strip_message(await receive(comm)) == error("too_large")
    await assert_alive(comm)
    await comm.disconnect()


async def test_many_protocol_errors_in_a_row_close_with_4000(settings):
    settings.EASY_CHANNELS = {"MAX_CONSECUTIVE_ERRORS": 5}
    comm = await connected()
    for _ in range(4):
        await comm.send_to(text_data="nope")
        assert (await receive(comm))["code"] == "invalid_json"
    await assert_alive(comm)  # a good frame resets the count
    for _ in range(5):
        await comm.send_to(text_data="nope")
        assert (await receive(comm))["code"] == "invalid_json"
    assert await comm.receive_output(1) == {
        "type": "websocket.close",
        "code": 4000,
        "reason": "Too many protocol errors",
    }
    await comm.disconnect()


async def test_default_limit_is_twenty_errors():
    comm = await connected()
    for _ in range(20):
        await send(comm, "nope")
        assert (await receive(comm))["code"] == "unknown_event"
    assert (await comm.receive_output(1))["code"] == 4000
    await comm.disconnect()


async def test_frames_waiting_beyond_the_limit_are_overloaded(settings):
    settings.EASY_CHANNELS = {"MAX_PENDING_MESSAGES": 2}
    release = asyncio.Event()

    class Busy(Echo):
        async def on_wait(self):
            await release.wait()
            return "released"

    comm = await connected(Busy)
    await request(comm, "echo")  # consumer is idle again
    await comm.send_to(text_data=json.dumps({"event": "wait", "ack": "w"}))
    await asyncio.sleep(0.05)
    for n in range(3):
        await comm.send_to(text_data=json.dumps({"event": "echo", "ack": n}))
    assert strip_message(await receive(comm)) == error("overloaded")
    release.set()
    replies = [await receive(comm) for _ in range(3)]
    assert [r["ack"] for r in replies] == ["w", 0, 1]
    await comm.disconnect()


# -- connect -------------------------------------------------------------------------------


async def test_socket_is_accepted_after_on_connect_returns():
    calls = []

    class Silent(Echo):
        def on_connect(self):
            calls.append("on_connect")

    comm = communicator(Silent)
    assert await comm.connect() == (True, None)
    assert calls == ["on_connect"]
    await assert_alive(comm)
    await comm.disconnect()


async def test_auto_accept_off_refuses_sockets_not_accepted(settings, caplog):
    settings.EASY_CHANNELS = {"AUTO_ACCEPT": False}

    class Silent(Echo):
        pass

    class Explicit(Echo):
        async def on_connect(self):
            await self.accept()

    assert (await communicator(Silent).connect())[0] is False
    assert "AUTO_ACCEPT" in caplog.text
    comm = communicator(Explicit)
    assert (await comm.connect())[0] is True
    await comm.disconnect()


@pytest.mark.parametrize("is_async", [False, True])
async def test_close_in_on_connect_refuses(is_async):
    if is_async:

        class Closer(Echo):
            async def on_connect(self):
                await self.close()
    else:

        class Closer(Echo):
            def on_connect(self):
                self.close()

    ok, _ = await communicator(Closer).connect()
    assert ok is False


async def test_reject_in_on_connect_tells_the_browser_why():
    disconnects = []

    class Members(Echo):
        def on_connect(self):
            self.group_add("members")
            raise Reject(4401, "Log in first.")

        def on_disconnect(self, code):
            disconnects.append(code)

    comm = communicator(Members)
    assert await comm.connect() == (True, None)
    assert await receive(comm) == {
        "event": "connect_error",
        "code": 4401,
        "message": "Log in first.",
    }
    assert await comm.receive_output(1) == {
        "type": "websocket.close",
        "code": 4401,
        "reason": "Log in first.",
    }
    await comm.disconnect()
    assert disconnects == []  # never connected, so no on_disconnect


async def test_reject_default_code_is_4403():
    class Nope(Echo):
        async def on_connect(self):
            raise Reject()

    comm = communicator(Nope)
    await comm.connect()
    assert await receive(comm) == {"event": "connect_error", "code": 4403, "message": "Forbidden"}
    assert (await comm.receive_output(1))["code"] == 4403


def test_reject_validates_its_code():
    with pytest.raises(ValueError, match="close code"):
        Reject(1006)
    assert len(Reject(4000, "é" * 100).reason.encode()) <= 123


async def test_on_connect_exception_after_accept_closes_with_1011(channel_layer, caplog):
    from tests.utils import group_members

    class Crash(Echo):
        def on_connect(self):
            self.group_add("crashers")
            self.accept()
            raise RuntimeError("boom")

    comm = communicator(Crash)
    assert (await comm.connect())[0] is True
    assert await comm.receive_output(1) == {"type": "websocket.close", "code": 1011}
    assert "on_connect of" in caplog.text
    assert await group_members(channel_layer, "crashers") == set()
    await comm.disconnect()


async def test_on_connect_exception_before_accept_refuses():
    class Crash(Echo):
        async def on_connect(self):
            raise RuntimeError("boom")

    assert (await communicator(Crash).connect())[0] is False


async def test_emits_in_on_connect_are_sent_after_accept():
    class Greeter(Echo):
        def on_connect(self):
            self.emit("welcome", {"n": 1})

    comm = communicator(Greeter)
    assert (await comm.connect())[0]
    assert await receive(comm) == {"event": "welcome", "n": 1}
    await comm.disconnect()


# -- forgetting await ----------------------------------------------------------------------


async def test_forgotten_await_still_runs_in_order_and_warns(caplog):
    class Forgetful(JSONWebSocket):
        async def on_connect(self):
            self.group_add("forgetful")
            self.accept()

        async def on_hello(self):
            self.emit("first")
            self.emit("second")
            return sorted(self.joined_groups)

    comm = communicator(Forgetful)
    assert (await comm.connect())[0]
    await comm.send_to(text_data=json.dumps({"event": "hello", "ack": 1}))
    assert await receive(comm) == {"event": "first"}
    assert await receive(comm) == {"event": "second"}
    assert await receive(comm) == {"event": "ack", "ack": 1, "data": ["forgetful"]}
    assert "Forgetful.emit() was called without await" in caplog.text
    assert "Forgetful.accept() was called without await" in caplog.text
    await comm.disconnect()


async def test_forgotten_await_runs_even_when_handler_keeps_going(caplog):
    seen = asyncio.Event()

    class Background(JSONWebSocket):
        async def on_start(self):
            self.emit("tick")
            await asyncio.sleep(0.1)  # the emit runs while the handler is still busy
            seen.set()

    comm = await connected(Background)
    await send(comm, "start")
    assert await receive(comm) == {"event": "tick"}
    await asyncio.wait_for(seen.wait(), 1)
    await comm.disconnect()


# -- disconnect ----------------------------------------------------------------------------


async def test_disconnect_is_not_stuck_behind_a_slow_async_handler(channel_layer, settings):
    from tests.utils import group_members

    settings.EASY_CHANNELS = {"DISCONNECT_TIMEOUT": 0.5}
    started, cancelled = asyncio.Event(), asyncio.Event()
    log = []

    class Slow(JSONWebSocket):
        groups = ["slow"]

        async def on_work(self):
            started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        async def on_disconnect(self, code):
            log.append((code, sorted(self.joined_groups), time.monotonic()))

    comm = await connected(Slow)
    assert len(await group_members(channel_layer, "slow")) == 1
    await send(comm, "work")
    await asyncio.wait_for(started.wait(), 1)
    t0 = time.monotonic()
    await comm.disconnect(code=1001, timeout=3)
    assert log and log[0][0] == 1001 and log[0][1] == []
    assert log[0][2] - t0 < 0.3  # on_disconnect ran at once, not after the handler
    assert cancelled.is_set()  # the handler was cancelled after DISCONNECT_TIMEOUT
    assert await group_members(channel_layer, "slow") == set()


async def test_disconnect_is_not_stuck_behind_a_slow_sync_handler(channel_layer):
    from tests.utils import group_members

    log = []

    class SlowSync(JSONWebSocket):
        groups = ["slowsync"]

        def on_work(self):
            time.sleep(1)
            self.emit("late")  # the client is gone: dropped quietly

        def on_disconnect(self, code):
            log.append(time.monotonic())

    comm = await connected(SlowSync)
    await send(comm, "work")
    await asyncio.sleep(0.1)
    t0 = time.monotonic()
    await comm.disconnect(timeout=5)
    assert log and log[0] - t0 < 0.5
    assert await group_members(channel_layer, "slowsync") == set()


async def test_send_after_the_client_left_is_dropped_quietly(caplog):
    go = asyncio.Event()
    done = asyncio.Event()

    class Late(JSONWebSocket):
        async def on_work(self):
            await go.wait()
            await self.emit("too_late")
            done.set()

    comm = await connected(Late)
    await send(comm, "work")
    await asyncio.sleep(0.05)
    task = asyncio.create_task(comm.disconnect(timeout=3))
    await asyncio.sleep(0.05)
    go.set()
    await task
    assert done.is_set()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_on_disconnect_gets_the_code_and_groups_are_already_left():
    log = []

    class Leaver(JSONWebSocket):
        groups = ["a", "b"]

        def on_connect(self):
            self.group_add("c")

        def on_disconnect(self, code):
            log.append((code, self.joined_groups))

    comm = await connected(Leaver)
    await comm.disconnect(code=4321)
    assert log == [(4321, frozenset())]


async def test_on_disconnect_without_argument_and_its_errors_are_logged(caplog):
    class Leaver(JSONWebSocket):
        async def on_disconnect(self):
            raise RuntimeError("cleanup failed")

    comm = await connected(Leaver)
    await comm.disconnect()
    assert "on_disconnect() failed" in caplog.text


async def test_max_json_depth_setting(settings):
    settings.EASY_CHANNELS = {"MAX_JSON_DEPTH": 3}
    comm = await connected()
    await comm.send_to(text_data='{"event": "echo", "ack": 1, "x": {"y": [1]}}')  # 3 levels
    assert (await receive(comm))["event"] == "ack"
    await comm.send_to(text_data='{"event": "echo", "ack": 2, "x": {"y": [[1]]}}')  # 4 levels
    assert strip_message(await receive(comm)) == error("invalid_json")
    await comm.disconnect()


def test_partial_dict_settings_keep_their_other_defaults(settings):
    from easy_channels.conf import get_config

    settings.EASY_CHANNELS = {"THROTTLE": {"RATE": "5/s"}}
    assert get_config()["THROTTLE"] == {"RATE": "5/s", "BURST": 20, "CLOSE_AFTER": 50}
    assert get_config()["MAX_MESSAGE_SIZE"] == 1024 * 1024


# -- heartbeat -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ['{"event":"_ping"}', '{ "event" : "_ping" }\n'])
async def test_heartbeat_is_answered_at_once_even_behind_a_busy_handler(settings, text):
    release = asyncio.Event()
    seen = []

    class Watch(SocketMiddleware):
        def on_receive(self, message):
            seen.append(message["event"])

    class Busy(Echo):
        middlewares = [Watch]

        async def on_wait(self):
            await release.wait()
            return "released"

    comm = await connected(Busy)
    await comm.send_to(text_data=json.dumps({"event": "wait", "ack": "w"}))
    await comm.send_to(text_data=text)
    assert await comm.receive_from(1) == '{"event":"_pong"}'
    release.set()
    assert await receive(comm) == {"event": "ack", "ack": "w", "data": "released"}
    assert seen == ["wait"]  # middleware never saw the ping
    await comm.disconnect()


@pytest.mark.parametrize(
    "frame",
    [{"event": "_ping", "ack": 1}, {"event": "_ping", "x": 1}],
)
async def test_ping_with_more_keys_is_not_a_heartbeat(frame):
    comm = await connected()
    await comm.send_to(text_data=json.dumps(frame))
    assert (await receive(comm))["code"] == "unknown_event"
    await comm.disconnect()


async def test_pong_is_reserved_for_the_heartbeat():
    comm = await connected()
    assert "reserved" in (await request(comm, "bad_pong"))["data"]
    await comm.disconnect()
