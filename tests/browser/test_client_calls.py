"""
The browser client answering server calls (docs/protocol.md, "Server calls"), in Chromium.

The server is client_site/calls_asgi.py, a scripted WebSocket app rather than a consumer: the
page makes it send frames (``push``), and what the client sends back is read from its records
(``/received/<key>/``), so the tests see the exact frames on the wire.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid

import pytest

from tests.liveserver import serve
from tests.utils import DOCS, code_blocks

APP = "tests.browser.client_site.calls_asgi:application"
SETTINGS = "tests.browser.client_site.settings"
WAIT = 10_000  # ms: generous, the machine may be busy with other tests


@pytest.fixture(scope="module")
def site():
    with serve(APP, settings=SETTINGS) as server:
        yield server


@pytest.fixture
def key():
    """A fresh key, so that a test's records on the server are its own."""
    return uuid.uuid4().hex[:12]


def open_socket(new_page, site, key, listeners="", options=None):
    """
    A page with ``window.s`` connected to ``/ws/calls/<key>/``, after running ``listeners``
    (JavaScript adding listeners to ``s``). ``window.connects`` counts its connections;
    ``page.console`` collects (type, text) of console messages.
    """
    page = new_page()
    page.console = []
    page.on("console", lambda msg: page.console.append((msg.type, msg.text)))
    page.goto(site.url + "/")
    page.evaluate(
        f"""([url, options]) => {{
            window.s = EasyChannels.connect(url, options);
            window.connects = 0;
            s.on("connect", () => {{ connects += 1; }});
            {listeners}
        }}""",
        [f"/ws/calls/{key}/", options or {}],
    )
    page.wait_for_function("() => s.connected", timeout=WAIT)
    return page


def push(page, *frames, socket="s"):
    """Have the server send ``frames`` (dicts, or texts sent as they are) to the page."""
    texts = [f if isinstance(f, str) else json.dumps(f) for f in frames]
    page.evaluate(f"(texts) => {socket}.emit('push', {{texts}})", texts)


def received(site, key, count):
    """What the server got from the clients of ``key``, once it has ``count`` frames (or 10 s)."""
    deadline = time.monotonic() + WAIT / 1000
    while True:
        with urllib.request.urlopen(f"{site.url}/received/{key}/", timeout=5) as response:
            records = json.load(response)
        if len(records) >= count or time.monotonic() > deadline:
            return [(connection, json.loads(text)) for connection, text in records]
        time.sleep(0.02)


def replies(site, key, count):
    """The ``_reply`` frames of ``key``'s clients, by call id, once there are ``count``."""
    frames = [frame for _, frame in received(site, key, count)]
    assert all(frame["event"] == "_reply" for frame in frames), frames
    by_call = {frame["call"]: frame for frame in frames}
    assert len(by_call) == len(frames), frames  # one answer per call
    return by_call


def mark(page, site, key, count):
    """
    Everything the client sent so far, with ``count`` frames expected before it: the client
    emits a ``marker`` frame, and the records are read up to it.
    """
    page.evaluate("() => s.emit('marker')")
    records = received(site, key, count + 1)
    assert records[-1][1] == {"event": "marker"}, records
    return records[:-1]


def console_messages(page, kind, count=0):
    """The console messages of a type, once there are ``count`` (they arrive asynchronously)."""
    deadline = time.monotonic() + WAIT / 1000
    while sum(type_ == kind for type_, _ in page.console) < count:
        if time.monotonic() > deadline:
            break
        page.wait_for_timeout(20)
    page.wait_for_timeout(50)  # and any that would come after them
    return [text for type_, text in page.console if type_ == kind]


def error(code, message):
    return {"code": code, "message": message}


# -- answers ----------------------------------------------------------------------------------


def test_the_listeners_return_value_is_the_answer(new_page, site, key):
    page = open_socket(
        new_page,
        site,
        key,
        """
        window.got = [];
        s.on("double", (payload) => { got.push(payload); return payload.x * 2; });
        s.on("later", ({x}) => new Promise((resolve) => setTimeout(() => resolve({y: x}), 200)));
        s.on("async_fn", async ({x}) => [x, "async"]);
        s.on("thenable", () => ({then(resolve) { resolve("from a thenable"); }}));
        s.on("nothing", () => {});
        s.on("falsy", () => 0);
        s.on("echo", (payload) => payload);
        """,
    )
    push(
        page,
        '{"event":"double","call":1,"x":2}',
        {"event": "later", "call": 2, "x": "late"},
        {"event": "async_fn", "call": 3, "x": 3},
        {"event": "thenable", "call": 4},
        {"event": "nothing", "call": 5},
        {"event": "falsy", "call": 6},
        {"event": "echo", "call": 7, "text": "hi", "nested": {"list": [1, None]}},
    )
    answers = replies(site, key, 7)
    assert answers == {
        1: {"event": "_reply", "call": 1, "data": 4},
        2: {"event": "_reply", "call": 2, "data": {"y": "late"}},
        3: {"event": "_reply", "call": 3, "data": [3, "async"]},
        4: {"event": "_reply", "call": 4, "data": "from a thenable"},
        5: {"event": "_reply", "call": 5, "data": None},  # undefined
        6: {"event": "_reply", "call": 6, "data": 0},
        7: {"event": "_reply", "call": 7, "data": {"text": "hi", "nested": {"list": [1, None]}}},
    }
    # The frame on the wire, and the listener's payload: the frame without `event` and `call`.
    texts = json.load(urllib.request.urlopen(f"{site.url}/received/{key}/", timeout=5))
    assert texts[0] == [1, '{"event":"_reply","call":1,"data":4}']
    assert page.evaluate("() => got") == [{"x": 2}]
    # A slow answer doesn't hold back the others: the promise of call 2 resolved last.
    assert [frame["call"] for _, frame in received(site, key, 7)][-1] == 2
    assert console_messages(page, "error") == []
    assert page.js_errors == []


def test_a_failing_listener_answers_client_error_and_is_reported(new_page, site, key):
    page = open_socket(
        new_page,
        site,
        key,
        """
        s.on("throws", () => { throw new Error("boom"); });
        s.on("rejects", async () => { throw new TypeError("nope"); });
        s.on("rejects_later", () => new Promise((_, reject) =>
            setTimeout(() => reject(new RangeError("too late")), 100)));
        s.on("throws_string", () => { throw "plain string"; });
        s.on("rejects_nothing", () => Promise.reject());
        s.on("unencodable", () => { const a = {}; a.self = a; return a; });
        """,
    )
    push(
        page,
        *(
            {"event": name, "call": call}
            for call, name in enumerate(
                [
                    "throws",
                    "rejects",
                    "rejects_later",
                    "throws_string",
                    "rejects_nothing",
                    "unencodable",
                ],
                start=11,
            )
        ),
    )
    answers = replies(site, key, 6)
    assert {call: frame.keys() - {"event", "call"} for call, frame in answers.items()} == {
        call: {"error"} for call in range(11, 17)
    }
    errors = {call: frame["error"] for call, frame in answers.items()}
    cycle = errors.pop(16)
    assert errors == {
        11: error("client_error", "boom"),
        12: error("client_error", "nope"),
        13: error("client_error", "too late"),
        14: error("client_error", "plain string"),
        15: error("client_error", "undefined"),
    }
    # JSON.stringify's own TypeError: the listener's result can't be sent.
    assert cycle["code"] == "client_error"
    assert cycle["message"].startswith("Converting circular structure to JSON"), cycle
    # Reported as any throwing listener is, and nothing else (no unhandled rejection).
    logged = console_messages(page, "error", 6)
    assert len(logged) == 6, logged
    for name in ["throws", "rejects", "rejects_later", "throws_string", "rejects_nothing"]:
        assert sum(f"'{name}' listener threw" in text for text in logged) == 1, logged
    assert sum("'unencodable' listener threw" in text for text in logged) == 1, logged
    assert page.js_errors == []
    assert page.evaluate("() => s.connected")


def test_a_call_without_a_listener_is_an_unknown_event(new_page, site, key):
    page = open_socket(
        new_page,
        site,
        key,
        """
        const removed = () => "removed";
        s.on("gone", removed).off("gone", removed);
        s.once("one_shot", () => "once");
        """,
    )
    push(
        page,
        {"event": "nobody", "call": 21, "x": 1},
        {"event": "gone", "call": 22},
        {"event": "one_shot", "call": 23},
        {"event": "one_shot", "call": 24},  # the once listener is gone by now
        {"event": "connect", "call": 25},  # kept for the lifecycle event: not delivered
    )
    answers = replies(site, key, 5)
    assert answers == {
        21: {
            "event": "_reply",
            "call": 21,
            "error": error("unknown_event", "No handler for nobody."),
        },
        22: {
            "event": "_reply",
            "call": 22,
            "error": error("unknown_event", "No handler for gone."),
        },
        23: {"event": "_reply", "call": 23, "data": "once"},
        24: {
            "event": "_reply",
            "call": 24,
            "error": error("unknown_event", "No handler for one_shot."),
        },
        25: {
            "event": "_reply",
            "call": 25,
            "error": error("unknown_event", "No handler for connect."),
        },
    }
    assert page.evaluate("() => connects") == 1
    warnings = console_messages(page, "warning", 1)
    assert len(warnings) == 1 and "'connect'" in warnings[0] and "not delivered" in warnings[0]
    assert console_messages(page, "error") == []


def test_frames_without_a_call_id_get_no_answer(new_page, site, key):
    page = open_socket(
        new_page,
        site,
        key,
        """
        window.got = [];
        s.on("ask", (payload) => { got.push(payload); return "answer"; });
        """,
    )
    push(
        page,
        {"event": "ask", "x": 1},
        {"event": "nobody"},
        # Only an integer is a call id; anything else is an ordinary payload key, as before.
        {"event": "ask", "call": "7"},
        {"event": "ask", "call": None},
        {"event": "ask", "call": 1.5},
        {"event": "ask", "call": True},
    )
    page.wait_for_function("() => got.length === 5", timeout=WAIT)
    assert page.evaluate("() => got") == [
        {"x": 1},
        {"call": "7"},
        {"call": None},
        {"call": 1.5},
        {"call": True},
    ]
    assert mark(page, site, key, 0) == []
    assert console_messages(page, "error") == []


def test_the_first_listener_answers_and_the_others_still_run(new_page, site, key):
    page = open_socket(
        new_page,
        site,
        key,
        """
        window.ran = [];
        s.on("multi", async () => {
            ran.push("first");
            await new Promise((resolve) => setTimeout(resolve, 100));
            return "first";
        });
        s.on("multi", () => { ran.push("second"); return "second"; });
        s.on("multi", () => { ran.push("third"); throw new Error("third fails"); });
        s.once("multi", () => { ran.push("once"); return "once"; });
        s.on("first_fails", () => { ran.push("failing"); throw new Error("first fails"); });
        s.on("first_fails", () => { ran.push("fine"); return "ignored"; });
        """,
    )
    push(page, {"event": "multi", "call": 31}, {"event": "first_fails", "call": 32})
    answers = replies(site, key, 2)
    assert answers == {
        31: {"event": "_reply", "call": 31, "data": "first"},
        32: {"event": "_reply", "call": 32, "error": error("client_error", "first fails")},
    }
    # Every listener ran at once, in order, the first one before the others.
    assert page.evaluate("() => ran") == ["first", "second", "third", "once", "failing", "fine"]
    logged = console_messages(page, "error", 2)
    assert len(logged) == 2, logged
    assert "'multi' listener threw" in logged[0] and "'first_fails' listener threw" in logged[1]
    # The second call of `multi`: answered by the first listener again (the once one is gone).
    push(page, {"event": "multi", "call": 33})
    assert replies(site, key, 3)[33]["data"] == "first"
    assert page.evaluate("() => ran.slice(6)") == ["first", "second", "third"]


def test_a_call_of_an_earlier_connection_is_never_answered(new_page, site, key):
    page = open_socket(
        new_page,
        site,
        key,
        """
        window.answer = {};
        s.on("slow", ({n}) => new Promise((resolve) => { answer[n] = resolve; }));
        """,
        {"reconnectDelay": 20},
    )
    push(page, {"event": "slow", "call": 41, "n": 1})
    page.wait_for_function("() => answer[1] !== undefined", timeout=WAIT)
    page.evaluate("() => s.emit('close_me', {code: 4001})")  # the client reconnects
    page.wait_for_function("() => connects === 2 && s.connected", timeout=WAIT)
    # Answered once the connection it came on has gone: neither sent nor buffered.
    page.evaluate(
        "async () => { answer[1]('too late'); await new Promise((r) => setTimeout(r, 50)); }"
    )
    assert mark(page, site, key, 0) == []
    # The new connection's calls are answered as usual.
    push(page, {"event": "slow", "call": 1, "n": 2})
    page.wait_for_function("() => answer[2] !== undefined", timeout=WAIT)
    page.evaluate("() => answer[2]('in time')")
    records = received(site, key, 2)
    assert records[1] == (2, {"event": "_reply", "call": 1, "data": "in time"})
    # A socket closed while its listener is busy: the answer is dropped, without an error.
    push(page, {"event": "slow", "call": 2, "n": 3})
    page.wait_for_function("() => answer[3] !== undefined", timeout=WAIT)
    page.evaluate(
        """async () => {
            s.close();
            answer[3]("closed");
            await new Promise((r) => setTimeout(r, 50));
        }"""
    )
    assert page.evaluate("() => s.state") == "closed"
    assert len(received(site, key, 2)) == 2
    assert console_messages(page, "error") == []
    assert page.js_errors == []


# -- the docs ---------------------------------------------------------------------------------


def test_the_example_of_the_client_page(new_page, site):
    """docs/topics/client.rst, "Answering the server": its listeners answer as the text says."""
    [example] = [
        code
        for _, code in code_blocks(DOCS / "topics" / "client.rst", "javascript")
        if "self.call(" in code
    ]
    key = uuid.uuid4().hex[:12]
    example = example.replace('"/ws/editor/"', f'"/ws/editor/{key}/"')
    assert key in example
    page = new_page()
    page.goto(site.url + "/")
    page.evaluate(f"() => {{ {example}\n window.editor = editor; }}")
    page.wait_for_function("() => editor.connected", timeout=WAIT)
    push(
        page,
        {"event": "get_draft", "call": 1},
        {"event": "preview", "call": 2, "markdown": "Hello <World>"},
        {"event": "preview", "call": 3, "markdown": ""},
        socket="editor",
    )
    assert replies(site, key, 3) == {
        1: {"event": "_reply", "call": 1, "data": {"title": "Hello", "body": "Hello World!"}},
        2: {"event": "_reply", "call": 2, "data": "<p>Hello &lt;World&gt;</p>"},
        3: {
            "event": "_reply",
            "call": 3,
            "error": error("client_error", "Preview failed: HTTP 400."),
        },
    }
    assert page.js_errors == []
