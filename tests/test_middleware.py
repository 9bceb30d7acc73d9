"""SocketMiddleware: hooks, order, global middleware from settings, Reject."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured, PermissionDenied

from easy_channels import JSONWebSocket, Reject, SocketMiddleware
from tests.utils import communicator, receive, request

LOG: list[str] = []


@pytest.fixture(autouse=True)
def _clear_log():
    LOG.clear()


def recorder(name, is_async):
    """A middleware class that logs each hook, sync or async."""
    if is_async:

        class Recorder(SocketMiddleware):
            async def on_connect(self):
                LOG.append(f"{name}.connect")

            async def on_receive(self, message):
                LOG.append(f"{name}.receive:{message['event']}")

            async def on_disconnect(self, code):
                LOG.append(f"{name}.disconnect:{code}")

    else:

        class Recorder(SocketMiddleware):
            def on_connect(self):
                LOG.append(f"{name}.connect")

            def on_receive(self, message):
                LOG.append(f"{name}.receive:{message['event']}")

            def on_disconnect(self, code):
                LOG.append(f"{name}.disconnect:{code}")

    Recorder.__name__ = Recorder.__qualname__ = name
    return Recorder


GlobalOne = recorder("GlobalOne", is_async=False)
GlobalTwo = recorder("GlobalTwo", is_async=True)
Own = recorder("Own", is_async=False)
OwnAsync = recorder("OwnAsync", is_async=True)


class Recorded(JSONWebSocket):
    middlewares = [Own, "tests.test_middleware.OwnAsync"]

    def on_connect(self):
        LOG.append("consumer.connect")

    def on_echo(self, payload):
        LOG.append("consumer.echo")
        return payload

    async def on_disconnect(self, code):
        LOG.append(f"consumer.disconnect:{code}")


async def test_order_of_global_and_own_middleware(settings):
    settings.EASY_CHANNELS = {
        "MIDDLEWARE": ["tests.test_middleware.GlobalOne", "tests.test_middleware.GlobalTwo"]
    }
    comm = communicator(Recorded)
    assert (await comm.connect())[0]
    await request(comm, "echo", x=1)
    await comm.disconnect(code=1001)
    assert LOG == [
        "GlobalOne.connect",
        "GlobalTwo.connect",
        "Own.connect",
        "OwnAsync.connect",
        "consumer.connect",
        "GlobalOne.receive:echo",
        "GlobalTwo.receive:echo",
        "Own.receive:echo",
        "OwnAsync.receive:echo",
        "consumer.echo",
        "consumer.disconnect:1001",
        "OwnAsync.disconnect:1001",
        "Own.disconnect:1001",
        "GlobalTwo.disconnect:1001",
        "GlobalOne.disconnect:1001",
    ]


async def test_middleware_sees_consumer_and_scope():
    class Named(SocketMiddleware):
        def on_connect(self):
            self.consumer.name = self.scope["url_route"]["kwargs"]["name"]

    class Chat(JSONWebSocket):
        middlewares = [Named]

        def on_name(self):
            return self.name

    comm = communicator(Chat, "/ws/chat/ana/", route=r"^ws/chat/(?P<name>\w+)/")
    assert (await comm.connect())[0]
    assert (await request(comm, "name"))["data"] == "ana"
    await comm.disconnect()


@pytest.mark.parametrize("is_async", [False, True])
async def test_reject_from_middleware_connect(is_async):
    if is_async:

        class Gate(SocketMiddleware):
            async def on_connect(self):
                raise Reject(4401, "Log in first.")
    else:

        class Gate(SocketMiddleware):
            def on_connect(self):
                raise Reject(4401, "Log in first.")

    class Guarded(Recorded):
        middlewares = [Gate, Own]

    comm = communicator(Guarded)
    assert (await comm.connect())[0]
    assert await receive(comm) == {
        "event": "connect_error",
        "code": 4401,
        "message": "Log in first.",
    }
    assert (await comm.receive_output(1))["code"] == 4401
    await comm.disconnect()
    assert LOG == []  # neither later middleware nor the consumer ran


async def test_middleware_connect_crash_refuses_the_socket(caplog):
    class Broken(SocketMiddleware):
        def on_connect(self):
            raise RuntimeError("oops")

    class Guarded(Recorded):
        middlewares = [Broken]

    assert (await communicator(Guarded).connect())[0] is False
    assert "on_connect of" in caplog.text


async def test_on_receive_can_change_the_message_in_place_or_replace_it():
    class Stamp(SocketMiddleware):
        def on_receive(self, message):
            message["stamped"] = True

    class Rename(SocketMiddleware):
        async def on_receive(self, message):
            if message["event"] == "old_name":
                return {**message, "event": "echo"}
            return None

    class Api(JSONWebSocket):
        middlewares = [Stamp, Rename]

        def on_echo(self, payload):
            return payload

    comm = communicator(Api)
    await comm.connect()
    assert (await request(comm, "echo", x=1))["data"] == {"x": 1, "stamped": True}
    assert await request(comm, "old_name", ack=2, x=1) == {
        "event": "ack",
        "ack": 2,
        "data": {"x": 1, "stamped": True},
    }
    await comm.disconnect()


async def test_on_receive_returning_an_invalid_message_is_invalid_message():
    class Garbage(SocketMiddleware):
        def on_receive(self, message):
            return {"event": "no\ncontrol characters"}

    class Api(JSONWebSocket):
        middlewares = [Garbage]

    comm = communicator(Api)
    await comm.connect()
    reply = await request(comm, "echo", ack=3)
    assert (reply["code"], reply["ack"]) == ("invalid_message", 3)
    await comm.disconnect()


@pytest.mark.parametrize(
    ("exc", "code", "message"),
    [
        (Reject(reason="Read-only room."), "forbidden", "Read-only room."),
        (PermissionDenied("Muted."), "forbidden", "Muted."),
        (RuntimeError("secret"), "handler_error", "Internal server error."),
    ],
)
async def test_on_receive_refusals(exc, code, message):
    class Refuse(SocketMiddleware):
        def on_receive(self, message):
            if message["event"] == "say":
                raise exc

    class Api(JSONWebSocket):
        middlewares = [Refuse]

        def on_say(self):
            LOG.append("said")

        def on_echo(self, payload):
            return payload

    comm = communicator(Api)
    await comm.connect()
    assert await request(comm, "say", ack=4) == {
        "event": "error",
        "code": code,
        "message": message,
        "ack": 4,
    }
    assert LOG == []  # the handler never ran
    assert (await request(comm, "echo", x=1))["data"] == {"x": 1}  # socket still open
    await comm.disconnect()


async def test_on_receive_runs_only_for_well_formed_frames():
    class Api(JSONWebSocket):
        middlewares = [Own]

    comm = communicator(Api)
    await comm.connect()
    await comm.send_to(text_data="not json")
    assert (await receive(comm))["code"] == "invalid_json"
    await comm.disconnect()
    assert LOG == ["Own.connect", "Own.disconnect:1000"]


async def test_middleware_disconnect_errors_are_logged_and_the_rest_still_run(caplog):
    class Failing(SocketMiddleware):
        def on_disconnect(self, code):
            raise RuntimeError("cleanup failed")

    class Api(Recorded):
        middlewares = [Own, Failing]

    comm = communicator(Api)
    await comm.connect()
    await comm.disconnect()
    assert LOG[-2:] == ["consumer.disconnect:1000", "Own.disconnect:1000"]
    assert "Failing.on_disconnect() failed" in caplog.text


async def test_bad_middleware_settings_refuse_the_socket_and_say_why(settings, caplog):
    settings.EASY_CHANNELS = {"MIDDLEWARE": ["tests.test_middleware.Nope"]}
    assert (await communicator(Recorded).connect())[0] is False
    (record,) = [r for r in caplog.records if r.exc_info]
    assert isinstance(record.exc_info[1], ImproperlyConfigured)
    assert "Could not import 'tests.test_middleware.Nope' for EASY_CHANNELS['MIDDLEWARE']" in str(
        record.exc_info[1]
    )


async def test_middleware_that_is_not_a_socket_middleware(caplog):
    class NotMiddleware:
        pass

    class Api(JSONWebSocket):
        middlewares = [NotMiddleware]

    assert (await communicator(Api).connect())[0] is False
    assert "is not a subclass of easy_channels.SocketMiddleware" in caplog.text


async def test_middleware_that_connected_is_told_when_a_later_step_refuses():
    class Refusing(Recorded):
        middlewares = [Own]

        def on_connect(self):
            LOG.append("consumer.connect")
            raise Reject(4403, "No.")

    comm = communicator(Refusing)
    await comm.connect()
    assert (await receive(comm))["event"] == "connect_error"
    await comm.disconnect(code=4403)
    # The consumer never connected, so its on_disconnect doesn't run; Own's does.
    assert LOG == ["Own.connect", "consumer.connect", "Own.disconnect:4403"]


class Gate(SocketMiddleware):
    """on_arrival: a plain def, called in the event loop itself (no thread) for every frame."""

    def on_arrival(self, message):
        import threading

        from easy_channels import SocketError

        LOG.append(f"arrival:{threading.current_thread() is threading.main_thread()}")
        if "blocked" in (message.get("text") or ""):
            raise SocketError("blocked", "Not that one.")
        if "crash" in (message.get("text") or ""):
            raise RuntimeError("bug in the gate")


class Gated(JSONWebSocket):
    middlewares = [Gate]

    def on_ping(self, payload):
        return "pong"


async def test_on_arrival_refuses_frames_before_they_are_queued(caplog):
    comm = communicator(Gated)
    connected, _ = await comm.connect()
    assert connected
    assert await request(comm, "ping", ack=1) == {"event": "ack", "ack": 1, "data": "pong"}
    await comm.send_json_to({"event": "ping", "ack": 2, "blocked": True})
    assert await receive(comm) == {
        "event": "error",
        "code": "blocked",
        "message": "Not that one.",
        "ack": 2,
    }
    await comm.send_json_to({"event": "ping", "ack": 3, "crash": True})
    reply = await receive(comm)
    assert (reply["code"], reply["ack"]) == ("handler_error", 3)
    assert "Gate.on_arrival() failed in Gated" in caplog.text
    assert await request(comm, "ping", ack=4) == {"event": "ack", "ack": 4, "data": "pong"}
    await comm.disconnect()
    assert LOG == ["arrival:True"] * 4  # the event loop's own thread, every frame
