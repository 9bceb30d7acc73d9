"""
The browser client (easy_channels/static/easy_channels/easy-channels.js) in real Chromium.

The pages and consumers are in ``client_site``, served by uvicorn in a subprocess. Tests drive
the client with ``page.evaluate``; the page's ``track(socket, ...)`` records lifecycle and app
events into ``window.events`` and ``seen(name)`` lists the payloads of one of them (see
client_site/templates/client.html). Tests that stop or restart the server get their own.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.request
import uuid

import pytest

from easy_channels import __version__
from tests.liveserver import free_port, serve

APP = "tests.browser.client_site.asgi:application"
ROUTER_APP = "tests.browser.client_site.asgi:router_application"
SETTINGS = "tests.browser.client_site.settings"
WAIT = 10_000  # ms: generous, the machine may be busy with other tests

#: What `connect` listeners get: a first connection, and a reconnection (no recovery here).
CONNECTED = {"reconnect": False, "recovered": False}
RECONNECTED = {"reconnect": True, "recovered": False}


def own_server():
    return serve(APP, settings=SETTINGS)


@pytest.fixture(scope="module")
def site():
    with own_server() as server:
        yield server


@pytest.fixture
def key():
    """A fresh key, so a test's server-side records (``/stats/<key>/``) are its own."""
    return uuid.uuid4().hex[:12]


def stats(server, key):
    with urllib.request.urlopen(f"{server.url}/stats/{key}/", timeout=5) as response:
        return json.load(response)


def open_page(new_page, server, path="/"):
    """A page of the test site; ``page.console`` collects (type, text) of console messages."""
    page = new_page()
    page.console = []
    page.on("console", lambda msg: page.console.append((msg.type, msg.text)))
    page.goto(server.url + path)
    return page


def connect(page, path, options=None, events=()):
    """``window.s = EasyChannels.connect(path, options)``, tracked, and wait until it is open."""
    page.evaluate(
        "([path, options, events]) => { window.s = track(EasyChannels.connect(path, options),"
        " ...events); }",
        [path, options or {}, list(events)],
    )
    page.wait_for_function("() => window.s.connected", timeout=WAIT)


def wait_seen(page, name, count=1):
    page.wait_for_function(f"() => seen({name!r}).length >= {count}", timeout=WAIT)
    return page.evaluate(f"() => seen({name!r})")


def console_messages(page, kind):
    return [text for type_, text in page.console if type_ == kind]


# -- loading ----------------------------------------------------------------------------------


def test_classic_script_defines_the_global(new_page, site, key):
    page = open_page(new_page, site)
    api = page.evaluate(
        """() => ({
            keys: Object.keys(EasyChannels).sort(),
            frozen: Object.isFrozen(EasyChannels),
            version: EasyChannels.version,
            defaults: EasyChannels.defaults,
            errorIsError: new EasyChannels.EasyChannelsError("x", "y") instanceof Error,
        })"""
    )
    assert api["keys"] == [
        "EasyChannelsError",
        "EasyChannelsSocket",
        "connect",
        "defaults",
        "version",
    ]
    assert api["frozen"] and api["errorIsError"]
    assert api["version"] == __version__
    assert api["defaults"]["noReconnectCodes"] == [1000, 4000, 4401, 4403, 4404]
    assert api["defaults"]["heartbeatInterval"] == 25000
    connect(page, f"/ws/lab/{key}/")
    assert page.evaluate("() => s.request('echo', {n: 1})") == {"n": 1}
    assert page.js_errors == []


def test_es_module_import(new_page, site, key):
    page = open_page(new_page, site, "/module/")
    page.wait_for_function("() => window.mod !== undefined", timeout=WAIT)
    exported = page.evaluate(
        """() => ({
            keys: Object.keys(mod).sort(),
            sameAsGlobal: mod.default === window.EasyChannels
                && mod.connect === EasyChannels.connect,
            named: imported.connect === mod.connect,
        })"""
    )
    assert exported["keys"] == [
        "EasyChannelsError",
        "EasyChannelsSocket",
        "connect",
        "default",
        "defaults",
        "version",
    ]
    assert exported["sameAsGlobal"] and exported["named"]
    result = page.evaluate(
        """async (url) => {
            const socket = imported.connect(url);
            const data = await socket.request("echo", {via: "module"});
            let error;
            try { await socket.request("fail", {}); } catch (e) { error = e; }
            socket.close();
            return {data, isError: error instanceof imported.EasyChannelsError};
        }""",
        f"/ws/lab/{key}/",
    )
    assert result == {"data": {"via": "module"}, "isError": True}
    assert page.js_errors == []


def test_urls(new_page, site):
    page = open_page(new_page, site)
    urls = page.evaluate(
        """() => [
            "/ws/lab/x/", "ws://example.com/a/", "wss://example.com/a/",
            "http://example.com/a/", "https://example.com:8443/a/?q=1#frag",
        ].map((url) => EasyChannels.connect(url, {autoConnect: false}).url)"""
    )
    assert urls == [
        f"{site.ws}/ws/lab/x/",
        "ws://example.com/a/",
        "wss://example.com/a/",
        "ws://example.com/a/",
        "wss://example.com:8443/a/?q=1",
    ]
    errors = page.evaluate(
        """() => ["", "ftp://example.com/", 42].map((url) => {
            try { EasyChannels.connect(url); } catch (e) { return e.name; }
            return "no error";
        })"""
    )
    assert errors == ["TypeError"] * 3


# -- events -----------------------------------------------------------------------------------


def test_emit_reaches_the_handler_and_events_come_back(new_page, site, key):
    page = open_page(new_page, site)
    connect(page, f"/ws/lab/{key}/", events=["welcome", "echoed"])
    assert page.evaluate("() => s.emit('echo', {text: 'hi', n: [1, 2]}) === s")
    assert wait_seen(page, "echoed") == [{"text": "hi", "n": [1, 2]}]
    assert page.evaluate("() => seen('welcome')") == [{"connects": 1}]
    assert page.evaluate("() => seen('connect')") == [CONNECTED]
    assert page.evaluate("() => s.state") == "open"


def test_once_and_off(new_page, site, key):
    page = open_page(new_page, site)
    connect(page, f"/ws/lab/{key}/")
    counts = page.evaluate(
        """async () => {
            const counts = {on: 0, once: 0, removed: 0, removedOnce: 0, allRemoved: 0};
            const removed = () => counts.removed++;
            const removedOnce = () => counts.removedOnce++;
            const chained = s.on("tick", () => counts.on++)
                .once("tick", () => counts.once++)
                .on("tick", removed)
                .once("tick", removedOnce)
                .off("tick", removed)
                .off("tick", removedOnce);
            s.on("other", () => counts.allRemoved++).on("other", () => counts.allRemoved++);
            s.off("other");
            s.emit("ticks", {n: 3});
            await s.request("echo", {});  // answered after the three ticks
            counts.chained = chained === s;
            return counts;
        }"""
    )
    assert counts == {
        "on": 3,
        "once": 1,
        "removed": 0,
        "removedOnce": 0,
        "allRemoved": 0,
        "chained": True,
    }


def test_a_throwing_listener_does_not_break_the_client(new_page, site, key):
    page = open_page(new_page, site)
    connect(page, f"/ws/lab/{key}/")
    seen = page.evaluate(
        """async () => {
            const seen = [];
            s.on("tick", () => { throw new Error("listener bug"); });
            s.on("tick", async () => { throw new Error("async listener bug"); });
            s.on("tick", (payload) => seen.push(payload.i));
            s.emit("ticks", {n: 2});
            await s.request("echo", {});
            await new Promise((resolve) => setTimeout(resolve, 50));
            return seen;
        }"""
    )
    assert seen == [0, 1]
    errors = console_messages(page, "error")
    assert sum("'tick' listener threw" in text for text in errors) == 4, errors
    assert page.js_errors == []
    assert page.evaluate("() => s.connected")


def test_server_events_named_like_lifecycle_events_are_not_delivered(new_page, site, key):
    page = open_page(new_page, site)
    connect(page, f"/ws/lab/{key}/", events=["after"])
    wait_seen(page, "connect")
    page.evaluate("() => s.emit('lifecycle_names')")
    wait_seen(page, "after")
    assert page.evaluate("() => seen('connect')") == [CONNECTED]
    assert page.evaluate("() => seen('disconnect').length + seen('reconnecting').length") == 0
    warnings = console_messages(page, "warning")
    assert len(warnings) == 3 and all("not delivered" in text for text in warnings), warnings


def test_emit_and_request_check_their_arguments(new_page, site):
    page = open_page(new_page, site)
    results = page.evaluate(
        """() => {
            const s = EasyChannels.connect("/ws/lab/args/", {autoConnect: false});
            const calls = [
                () => s.emit("a\\nb"), () => s.emit(""), () => s.emit("a\\tb"), () => s.emit(7),
                () => s.emit("x".repeat(101)), () => s.emit("ok", []), () => s.emit("ok", null),
                () => s.emit("ok", "text"), () => s.emit("ok", new Date()),
                () => s.emit("ok", {event: 1}), () => s.emit("ok", {ack: 1}),
                () => s.request("a\\u0000"), () => s.request("ok", {ack: 2}),
                () => s.on("x", "not a function"),
            ];
            const names = calls.map((call) => {
                try { call(); } catch (e) { return e.name; }
                return "no error";
            });
            s.emit("x".repeat(100), {fine: true});  // the longest valid name
            s.emit("_x");
            s.emit("new message");  // any printable name (the server binds it with @on)
            s.emit("ok", Object.create(null));
            return names;
        }"""
    )
    assert results == ["TypeError"] * 14


# -- requests ---------------------------------------------------------------------------------


def test_request_resolves_with_the_data(new_page, site, key):
    page = open_page(new_page, site)
    connect(page, f"/ws/lab/{key}/")
    result = page.evaluate(
        """async () => {
            const a = s.request("echo", {text: "hi", nested: {list: [1, null, "x"]}});
            const b = s.request("echo");
            const c = s.request("records");
            return [await a, await b, await c];
        }"""
    )
    assert result == [{"text": "hi", "nested": {"list": [1, None, "x"]}}, {}, []]


def test_request_rejects_with_the_socket_error(new_page, site, key):
    page = open_page(new_page, site)
    connect(page, f"/ws/lab/{key}/")
    error = page.evaluate(
        """async () => {
            try {
                await s.request("fail", {room: "lobby"});
            } catch (e) {
                return {
                    name: e.name, code: e.code, message: e.message, details: e.details,
                    isError: e instanceof Error,
                    isEasy: e instanceof EasyChannels.EasyChannelsError,
                };
            }
            return "resolved";
        }"""
    )
    assert error == {
        "name": "EasyChannelsError",
        "code": "room_full",
        "message": "Room is full",
        "details": {"room": "lobby"},
        "isError": True,
        "isEasy": True,
    }
    # An error answering a request goes to the request only, not to `error` listeners.
    assert page.evaluate("() => seen('error')") == []


def test_request_timeout(new_page, site, key):
    page = open_page(new_page, site)
    connect(page, f"/ws/lab/{key}/")
    result = page.evaluate(
        """async () => {
            const started = performance.now();
            let error;
            try {
                await s.request("slow", {seconds: 1}, {timeout: 200});
            } catch (e) {
                error = {code: e.code, message: e.message, isEasy: e instanceof Error};
            }
            const elapsed = performance.now() - started;
            // The late answer is ignored; the socket still works.
            const after = await s.request("echo", {after: true});
            return {error, elapsed, after};
        }"""
    )
    assert result["error"] == {
        "code": "timeout",
        "message": "No answer to 'slow' within 200 ms.",
        "isEasy": True,
    }
    assert 190 <= result["elapsed"] < 900
    assert result["after"] == {"after": True}
    assert page.evaluate("() => s.connected")
    assert console_messages(page, "error") == []


def test_error_frame_without_ack_goes_to_error_listeners(new_page, site, key):
    page = open_page(new_page, site)
    connect(page, f"/ws/lab/{key}/")
    page.evaluate("() => { s.emit('fail', {room: 'attic'}); s.emit('no_such_event'); }")
    errors = wait_seen(page, "error", 2)
    assert errors[0] == {
        "code": "room_full",
        "message": "Room is full",
        "details": {"room": "attic"},
    }
    assert errors[1]["code"] == "unknown_event"
    assert errors[1]["message"] == "Unknown event 'no_such_event'."
    assert console_messages(page, "warning") == []
    # Without an `error` listener, the client warns instead of swallowing it.
    page.evaluate("() => { s.off('error'); s.emit('fail', {}); }")
    page.evaluate("() => s.request('echo', {})")  # answered after the error frame
    assert any("room_full: Room is full" in text for text in console_messages(page, "warning"))


# -- refusals and close codes -----------------------------------------------------------------


# With noReconnectCodes [] the close code (4401) doesn't stop the client: connect_error does.
@pytest.mark.parametrize("no_reconnect_codes", [None, []])
def test_connect_error_is_final(new_page, site, key, no_reconnect_codes):
    page = open_page(new_page, site)
    page.evaluate(
        """([url, codes]) => {
            const options = {reconnectDelay: 20, noReconnectCodes: codes ?? undefined};
            window.s = track(EasyChannels.connect(url, options));
        }""",
        [f"/ws/refuse/{key}/", no_reconnect_codes],
    )
    assert wait_seen(page, "connect_error") == [{"code": 4401, "message": "Log in first."}]
    disconnect = wait_seen(page, "disconnect")
    assert disconnect == [
        {"code": 4401, "reason": "Log in first.", "wasClean": True, "willReconnect": False}
    ]
    time.sleep(0.5)  # a retry would have come after ~20 ms
    assert page.evaluate("() => [s.state, s.connected, seen('reconnecting')]") == [
        "closed",
        False,
        [],
    ]
    assert stats(site, key)["connects"] == 1
    # Nothing can be sent any more.
    code = page.evaluate("() => s.request('echo', {}).catch((e) => e.code)")
    assert code == "closed"


def test_a_refusal_for_an_unavailable_layer_is_retried(new_page, site, key):
    """4503 (the channel layer was down during the connect) is the one refusal worth a retry."""
    page = open_page(new_page, site)
    connect(page, f"/ws/unavailable/{key}/", {"reconnectDelay": 20})
    refusal = {"code": 4503, "message": "Service unavailable; try again shortly."}
    assert wait_seen(page, "connect_error") == [refusal]
    assert wait_seen(page, "connect", 2) == [
        CONNECTED,
        RECONNECTED,
    ]
    assert page.evaluate("() => seen('disconnect')")[0]["willReconnect"] is True
    assert page.evaluate("() => s.state") == "open"
    assert stats(site, key)["connects"] == 2


# With noReconnectCodes [] the close code (4404) doesn't stop the client: connect_error does.
@pytest.mark.parametrize("no_reconnect_codes", [None, []])
def test_a_path_without_a_route_is_final_and_says_why(new_page, no_reconnect_codes):
    with serve(ROUTER_APP, settings=SETTINGS) as server:  # websocket_router, no route at all
        page = open_page(new_page, server)
        page.evaluate(
            """([url, codes]) => {
                const options = {reconnectDelay: 20, noReconnectCodes: codes ?? undefined};
                window.s = track(EasyChannels.connect(url, options));
            }""",
            ["/ws/no/such/route/", no_reconnect_codes],
        )
        reason = "No route for this path."
        assert wait_seen(page, "connect_error") == [{"code": 4404, "message": reason}]
        assert wait_seen(page, "disconnect") == [
            {"code": 4404, "reason": reason, "wasClean": True, "willReconnect": False}
        ]
        time.sleep(0.5)  # a retry would have come after ~20 ms
        assert page.evaluate("() => [s.state, seen('connect'), seen('reconnecting')]") == [
            "closed",
            [CONNECTED],  # one attempt: accepted in order to say why, then closed
            [],
        ]
        assert page.js_errors == []
        output = server.output()
    assert output.count("no socket route for path '/ws/no/such/route/'") == 1, output
    assert "Traceback" not in output, output


@pytest.mark.parametrize("code", [4404, 4403, 4000, 1000])
def test_final_close_codes_are_not_retried(new_page, site, key, code):
    page = open_page(new_page, site)
    connect(page, f"/ws/lab/{key}/", {"reconnectDelay": 20})
    page.evaluate(f"() => s.emit('close_me', {{code: {code}, reason: 'Go away.'}})")
    assert wait_seen(page, "disconnect") == [
        {"code": code, "reason": "Go away.", "wasClean": True, "willReconnect": False}
    ]
    time.sleep(0.5)
    assert page.evaluate("() => [s.state, seen('reconnecting')]") == ["closed", []]
    assert stats(site, key)["connects"] == 1


def test_other_close_codes_reconnect_and_unanswered_requests_fail(new_page, site, key):
    page = open_page(new_page, site)
    connect(page, f"/ws/lab/{key}/", {"reconnectDelay": 20})
    error = page.evaluate("() => s.request('close_while_busy').catch((e) => [e.code, e.message])")
    assert error == [
        "disconnected",
        "The connection closed before 'close_while_busy' was answered; "
        "the server may or may not have handled it.",
    ]
    connects = wait_seen(page, "connect", 2)
    assert connects == [
        CONNECTED,
        RECONNECTED,
    ]
    assert page.evaluate("() => seen('disconnect')") == [
        {"code": 4001, "reason": "Busy.", "wasClean": True, "willReconnect": True}
    ]
    assert page.evaluate("() => seen('reconnecting')[0].attempt") == 1
    assert page.evaluate("() => s.request('echo', {back: 1})") == {"back": 1}
    assert stats(site, key)["connects"] == 2


def test_gives_up_after_reconnect_attempts(new_page, site):
    page = open_page(new_page, site)
    nothing_there = f"ws://127.0.0.1:{free_port()}/ws/"
    page.evaluate(
        """(url) => {
            window.s = track(EasyChannels.connect(url, {reconnectDelay: 20, reconnectAttempts: 2}));
            window.firstState = s.state;
        }""",
        nothing_there,
    )
    disconnect = wait_seen(page, "disconnect")
    assert disconnect == [{"code": 1006, "reason": "", "wasClean": False, "willReconnect": False}]
    assert [r["attempt"] for r in page.evaluate("() => seen('reconnecting')")] == [1, 2]
    assert page.evaluate("() => [firstState, s.state, seen('connect')]") == [
        "connecting",
        "closed",
        [],
    ]


# -- close() and the send buffer --------------------------------------------------------------


def test_close_stops_for_good(new_page, site, key):
    page = open_page(new_page, site)
    connect(page, f"/ws/lab/{key}/", {"reconnectDelay": 20})
    result = page.evaluate(
        """async () => {
            const pending = s.request("slow", {seconds: 0.5}).catch((e) => e.code);
            const returned = s.close();
            const state = s.state;
            const afterClose = await s.request("echo", {}).catch((e) => e.code);
            s.emit("echo", {});  // dropped, with a warning
            return {same: returned === s, state, pending: await pending, afterClose};
        }"""
    )
    assert result == {"same": True, "state": "closed", "pending": "closed", "afterClose": "closed"}
    assert page.evaluate("() => seen('disconnect')") == [
        {"code": 1000, "reason": "", "wasClean": True, "willReconnect": False}
    ]
    assert any("closed socket was dropped" in t for t in console_messages(page, "warning"))
    time.sleep(0.5)
    assert page.evaluate("() => [s.state, seen('reconnecting'), seen('connect').length]") == [
        "closed",
        [],
        1,
    ]
    assert stats(site, key)["connects"] == 1


def test_buffer_drops_the_oldest_when_full(new_page, site, key):
    page = open_page(new_page, site)
    result = page.evaluate(
        """async (url) => {
            window.s = track(EasyChannels.connect(url, {autoConnect: false, bufferSize: 3}));
            const state = s.state;
            const dropped = s.request("records").catch((e) => [e.code, e.message]);
            for (const n of [1, 2, 3, 4]) s.emit("record", {n});
            s.open();
            await new Promise((resolve) => s.once("connect", resolve));
            return {state, dropped: await dropped, records: await s.request("records")};
        }""",
        f"/ws/lab/{key}/",
    )
    assert result == {
        "state": "closed",
        "dropped": ["buffer_full", "'records' was dropped from the full send buffer."],
        "records": [2, 3, 4],
    }
    warnings = console_messages(page, "warning")
    assert len(warnings) == 1 and "send buffer is full (bufferSize 3)" in warnings[0]


def test_a_request_that_times_out_while_buffered_is_never_sent(new_page, site, key):
    page = open_page(new_page, site)
    result = page.evaluate(
        """async (url) => {
            window.s = track(EasyChannels.connect(url, {autoConnect: false}), "echoed");
            const started = performance.now();
            const code = await s.request("echo", {stale: true}, {timeout: 100})
                .catch((e) => e.code);
            const elapsed = performance.now() - started;
            s.open();
            return {code, elapsed, fresh: await s.request("echo", {fresh: true})};
        }""",
        f"/ws/lab/{key}/",
    )
    assert result["code"] == "timeout" and 90 <= result["elapsed"] < 1000
    assert result["fresh"] == {"fresh": True}
    assert page.evaluate("() => seen('echoed')") == [{"fresh": True}]


# -- heartbeat --------------------------------------------------------------------------------

SPY_WEBSOCKET = """() => {
    // Count the frames every WebSocket of the page sends and receives.
    window.frames = {sent: [], received: []};
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
        constructor(...args) {
            super(...args);
            this.addEventListener("message", (e) => frames.received.push(e.data));
        }
        send(data) {
            frames.sent.push(data);
            super.send(data);
        }
    };
}"""


def test_heartbeat_pings_get_pongs(new_page, site, key):
    page = open_page(new_page, site)
    page.evaluate(SPY_WEBSOCKET)
    connect(
        page,
        f"/ws/lab/{key}/",
        {"heartbeatInterval": 100, "heartbeatTimeout": 300},
        events=["_pong", "_ping"],
    )
    page.wait_for_function(
        """() => frames.received.filter((f) => f === '{"event":"_pong"}').length >= 8""",
        timeout=WAIT,
    )
    # Without pongs the client would have declared the connection dead after 100 + 300 ms.
    assert page.evaluate("() => [s.state, seen('disconnect'), seen('error')]") == [
        "open",
        [],
        [],
    ]
    assert page.evaluate("() => seen('_pong').length + seen('_ping').length") == 0
    sent = page.evaluate("() => frames.sent")
    assert sent.count('{"event":"_ping"}') >= 8
    assert page.evaluate("() => s.request('echo', {still: 'here'})") == {"still": "here"}
    assert stats(site, key)["connects"] == 1


def test_heartbeat_timeout_detects_a_dead_server(new_page, key):
    with own_server() as server:
        page = open_page(new_page, server)
        connect(
            page,
            f"/ws/lab/{key}/",
            {
                "heartbeatInterval": 200,
                "heartbeatTimeout": 400,
                "reconnectDelay": 50,
                "connectTimeout": 500,
            },
        )
        page.evaluate("() => s.request('echo', {})")
        # What came before (a first handshake slower than connectTimeout on a busy machine is
        # retried, as it should be) is not what this test looks at.
        page.evaluate("() => { window.events.length = 0; }")
        server.proc.send_signal(signal.SIGSTOP)  # alive for TCP, but answers nothing
        try:
            stopped = time.monotonic()
            disconnect = wait_seen(page, "disconnect")
            elapsed = time.monotonic() - stopped
            assert disconnect == [
                {
                    "code": 1006,
                    "reason": "heartbeat timeout",
                    "wasClean": False,
                    "willReconnect": True,
                }
            ]
            assert 0.35 < elapsed < 3, elapsed  # at most interval + timeout, plus slack
            # The retry's handshake hangs too: connectTimeout gives up on it and tries again.
            reconnecting = wait_seen(page, "reconnecting", 2)
            assert [r["attempt"] for r in reconnecting[:2]] == [1, 2]
            assert page.evaluate("() => s.state") == "reconnecting"
        finally:
            server.proc.send_signal(signal.SIGCONT)
        connects = wait_seen(page, "connect", 1)
        assert connects[-1] == RECONNECTED
        assert page.evaluate("() => s.request('echo', {revived: true})") == {"revived": True}


# -- reconnection -----------------------------------------------------------------------------


def test_reconnect_backoff_grows_with_jitter(new_page, key):
    with own_server() as server:
        page = open_page(new_page, server)
        path = f"/ws/lab/{key}/"
        page.evaluate(
            """(path) => {
                const options = {reconnectDelay: 100, reconnectDelayMax: 800};
                window.s = track(EasyChannels.connect(path, options));
                window.exact = EasyChannels.connect(path, {...options, randomizationFactor: 0});
                window.exactDelays = [];
                exact.on("reconnecting", ({delay}) => exactDelays.push(delay));
            }""",
            path,
        )
        page.wait_for_function("() => s.connected && exact.connected", timeout=WAIT)
        server.stop()
        reconnecting = wait_seen(page, "reconnecting", 5)[:5]
        assert [r["attempt"] for r in reconnecting] == [1, 2, 3, 4, 5]
        bases = [100, 200, 400, 800, 800]
        for r, base in zip(reconnecting, bases, strict=True):
            assert base * 0.5 - 1 <= r["delay"] <= min(800, base * 1.5), reconnecting
        assert [r["delay"] for r in reconnecting] != bases  # jittered
        page.wait_for_function("() => exactDelays.length >= 5", timeout=WAIT)
        assert page.evaluate("() => exactDelays.slice(0, 5)") == [100, 200, 400, 800, 800]
        assert page.evaluate("() => seen('disconnect')[0].willReconnect") is True
        assert page.evaluate("() => s.state") == "reconnecting"

        server.start()
        connects = wait_seen(page, "connect", 2)
        assert connects == [
            CONNECTED,
            RECONNECTED,
        ]
        # A successful connection resets the count: the next outage starts at attempt 1.
        page.evaluate("() => { window.events = []; }")
        server.stop()
        assert wait_seen(page, "reconnecting")[0]["attempt"] == 1


def test_restart_buffers_emits_and_flushes_them_in_order(new_page, key):
    with own_server() as server:
        page = open_page(new_page, server)
        connect(page, f"/ws/lab/{key}/", {"reconnectDelay": 100, "reconnectDelayMax": 300})
        page.evaluate(
            """(path) => {
                // Emitted while disconnected: buffered until the connection is back.
                s.once("disconnect", () => {
                    for (const n of [1, 2, 3, 4, 5]) s.emit("record", {n});
                    window.records = s.request("records");
                });
                // Emitted on reconnect: after everything buffered.
                s.on("connect", ({reconnect}) => { if (reconnect) s.emit("record", {n: 6}); });
                // Closed before the restart: must stay closed.
                window.stopped = EasyChannels.connect(path, {reconnectDelay: 20});
                stopped.on("connect", () => stopped.close());
            }""",
            f"/ws/lab/{key}-closed/",
        )
        page.wait_for_function("() => stopped.state === 'closed'", timeout=WAIT)
        server.restart()
        connects = wait_seen(page, "connect", 2)
        assert connects[-1] == RECONNECTED
        disconnect = page.evaluate("() => seen('disconnect')")[0]
        assert disconnect["code"] == 1012 and disconnect["willReconnect"] is True  # uvicorn
        assert page.evaluate("() => records") == [1, 2, 3, 4, 5]
        assert page.evaluate("() => s.request('records')") == [1, 2, 3, 4, 5, 6]
        assert stats(server, key)["connects"] == 1  # the new process saw one connection
        # The socket closed with close() did not come back with the server.
        assert page.evaluate("() => stopped.state") == "closed"
        assert stats(server, f"{key}-closed")["connects"] == 0
