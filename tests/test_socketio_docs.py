"""
docs/topics/socketio.rst stays true: its consumers, settings and asgi.py are the project that
``tests.sio_docs_site`` serves on uvicorn and daphne, python-socketio's AsyncClient checks what
the page says each one does (its own Python client example included), and its JavaScript runs
in Node.js with the official socket.io-client against the same server.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
from pathlib import Path

import pytest
import socketio
from django.core import signing
from websockets.asyncio.client import connect

from tests.liveserver import serve
from tests.node_packages import node, run_module, socketio_client
from tests.sio_docs_site import (
    DOCS_MODULE,
    PAGE,
    SECRET_KEY,
    blocks,
    easy_channels_setting,
    settings_blocks,
)

APP = "tests.sio_docs_site.asgi:application"
SETTINGS = "tests.sio_docs_site.settings"


def token(nickname: str) -> str:
    """What the page's view gives its template: the nickname, signed with the site's key."""
    return signing.dumps(nickname, key=SECRET_KEY)


def client_block() -> str:
    [code] = [code for code in blocks("py") if "async def chat(" in code]
    return code


@pytest.fixture(scope="module", params=["uvicorn", "daphne"])
def server(request):
    with serve(APP, kind=request.param, settings=SETTINGS) as running:
        yield running


@pytest.fixture(scope="module")
def uvicorn_server():
    """For the tests that need to run once: they don't depend on the server."""
    with serve(APP, settings=SETTINGS) as running:
        yield running


async def _connect(url: str, namespaces, transports=None, auth=None, events=()):
    """A python-socketio client on ``namespaces``, recording ``events`` of each one."""
    client = socketio.AsyncClient(reconnection=False)
    got: dict[tuple[str, str], asyncio.Queue] = {}
    for namespace in namespaces:
        for event in events:
            queue = got[namespace, event] = asyncio.Queue()

            async def record(*args, _queue=queue):
                await _queue.put(args)

            client.on(event, record, namespace=namespace)
    await client.connect(
        url,
        namespaces=list(namespaces),
        transports=transports,
        auth=auth,
        headers={"Origin": url},
        wait_timeout=5,
    )
    return client, got


async def _next(queue: asyncio.Queue):
    return await asyncio.wait_for(queue.get(), 5)


async def _refusal(url: str, namespace: str, auth=None):
    """The ``connect_error`` data a client gets for ``namespace``."""
    client = socketio.AsyncClient(reconnection=False)
    errors: list = []
    client.on("connect_error", errors.append, namespace=namespace)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(
            url, namespaces=[namespace], auth=auth, transports=["websocket"],
            headers={"Origin": url}, wait_timeout=5,
        )  # fmt: skip
    return errors


def test_every_block_of_the_page_is_run_here():
    """A block added to the page must be given a test: each one is taken by a selector above."""
    py = blocks("py")
    taken = [
        *blocks("py", caption="mysite/asgi.py"),
        *blocks("py", caption="chat/sockets.py"),
        *settings_blocks(),
        client_block(),
    ]
    assert sorted(taken) == sorted(py) and len(py) == 9
    assert len(blocks("javascript")) == 2  # both run in test_the_javascript_examples_run_...


def test_the_settings_blocks_pass_the_checks(settings, clean_registry):
    from easy_channels.checks import check_consumers, check_settings
    from easy_channels.socketio_checks import check_namespaces, check_socketio

    for code in settings_blocks():
        namespace: dict = {}
        exec(compile(code, str(PAGE), "exec"), namespace)
        value = namespace["EASY_CHANNELS"]
        for dotted in value.get("SOCKETS", {}).values():
            assert dotted.startswith(DOCS_MODULE + "."), dotted  # rewritten for the site below
        settings.EASY_CHANNELS = value
        assert check_settings() == [] and check_socketio() == [], code
    settings.EASY_CHANNELS = easy_channels_setting()  # as the site serves it
    assert check_settings() == check_socketio() == check_namespaces() == []
    assert check_consumers() == []


async def test_chat_authenticates_with_the_connect_auth_and_refuses_a_bad_token(server):
    assert await _refusal(server.url, "/chat", auth={"token": "forged"}) == [
        {"message": "Invalid or expired token.", "data": {"code": 4401}}
    ]
    assert await _refusal(server.url, "/chat") == [  # no auth at all
        {"message": "Invalid or expired token.", "data": {"code": 4401}}
    ]
    client, got = await _connect(server.url, ["/chat"], auth={"token": token("ana")},
                                 events=["said"])  # fmt: skip
    try:
        assert await client.call("say", {"text": "hi"}, namespace="/chat", timeout=5) == {
            "ok": True
        }
        assert await _next(got["/chat", "said"]) == ({"from": "ana", "text": "hi"},)
    finally:
        await client.disconnect()


async def test_rooms_serves_both_protocols_in_one_group(server):
    assert await _refusal(server.url, "/rooms", auth={"room": "no room!"}) == [
        {"message": "No such room.", "data": {"code": 4404}}
    ]
    client, got = await _connect(server.url, ["/rooms"], auth={"room": "lobby"}, events=["said"])
    try:
        async with connect(f"{server.ws}/ws/rooms/lobby/", origin=server.url) as ws:
            # The JSON client is in the group once it answers a request after its accept.
            await ws.send(json.dumps({"event": "nothing", "ack": 1}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["code"] == "unknown_event"
            await client.emit("say", {"text": "from Socket.IO"}, namespace="/rooms")
            assert await _next(got["/rooms", "said"]) == ({"text": "from Socket.IO"},)
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert frame == {"event": "said", "text": "from Socket.IO"}
            await ws.send(json.dumps({"event": "say", "text": "from JSON"}))
            assert await _next(got["/rooms", "said"]) == ({"text": "from JSON"},)
    finally:
        await client.disconnect()


@pytest.mark.parametrize("transports", [["websocket"], None], ids=["websocket", "polling"])
async def test_lobby_events_arguments_and_acks(server, transports):
    """The main namespace "/" comes from SOCKETS; polling (then the upgrade) or WebSocket."""
    client, got = await _connect(
        server.url, ["/"], transports, events=["welcome", "position", "ready", "moved", "photo"]
    )
    try:
        assert await _next(got["/", "welcome"]) == ({"motd": "Be nice."},)
        assert await _next(got["/", "position"]) == (3, 4)
        assert await _next(got["/", "ready"]) == ()
        assert await client.call("echo", "hi", timeout=5) == "hi"
        assert await client.call("echo", timeout=5) is None  # no argument: None
        assert await client.call("add", (1, 2, 3), timeout=5) == 6
        assert await client.call("bounds", (3, 1, 2), timeout=5) == (1, 3)
        assert await client.call("new message", "yo", timeout=5) == {"got": "yo"}
        await client.emit("share")
        assert await _next(got["/", "moved"]) == (5, 6)
        assert await _next(got["/", "photo"]) == (b"\x89PNG",)
        assert client.get_sid("/") is not None
    finally:
        await client.disconnect()


async def test_shop_errors_go_through_the_ack_or_an_error_event(server):
    client, got = await _connect(server.url, ["/shop"], events=["error"])
    try:
        assert await client.call("buy", {"item": "tea", "quantity": 2}, namespace="/shop",
                                 timeout=5) == {"bought": "tea", "quantity": 2}  # fmt: skip
        error = {"code": "out_of_stock", "message": "Not enough cake.", "details": {"left": 2}}
        assert await client.call(
            "buy", {"item": "cake", "quantity": 3}, namespace="/shop", timeout=5
        ) == {"error": error}
        await client.emit("buy", {"item": "cake", "quantity": 3}, namespace="/shop")
        assert await _next(got["/shop", "error"]) == (error,)
        reply = await client.call("sell", namespace="/shop", timeout=5)
        assert reply["error"]["code"] == "unknown_event"
        assert client.connected
    finally:
        await client.disconnect()


@pytest.mark.parametrize("answer", [True, False])
async def test_shop_asks_the_client_with_call(server, answer):
    client = socketio.AsyncClient(reconnection=False)
    questions: list = []

    @client.on("confirm", namespace="/shop")
    async def confirm(question):
        questions.append(question)
        return answer

    await client.connect(server.url, namespaces=["/shop"], headers={"Origin": server.url})
    try:
        reply = await client.call("cancel", 7, namespace="/shop", timeout=5)
        assert reply == {"cancelled": 7 if answer else None}
        assert questions == ["Cancel order 7?"]
    finally:
        await client.disconnect()


async def test_shop_call_times_out_when_the_client_does_not_answer(uvicorn_server):
    """The page's 10 s, waited once."""
    server = uvicorn_server
    client = socketio.AsyncClient(reconnection=False)
    never = asyncio.Event()

    @client.on("confirm", namespace="/shop")
    async def confirm(question):
        await never.wait()  # python-socketio sends the ack when its handler returns

    await client.connect(server.url, namespaces=["/shop"], headers={"Origin": server.url})
    try:
        reply = await client.call("cancel", 7, namespace="/shop", timeout=15)
        assert reply == {
            "error": {"code": "no_answer", "message": "The cancellation was not confirmed."}
        }
    finally:
        never.set()
        await client.disconnect()


async def test_files_take_and_give_bytes(server):
    client, got = await _connect(server.url, ["/files"], events=["stored"])
    data = bytes(range(256)) * 4
    try:
        assert await client.call("upload", {"name": "a.bin", "data": data}, namespace="/files",
                                 timeout=5) == {"size": 1024}  # fmt: skip
        assert await _next(got["/files", "stored"]) == (
            {"name": "a.bin", "sha256": hashlib.sha256(data).hexdigest()},
        )
        assert await client.call("download", "logo.png", namespace="/files", timeout=5) == (
            b"\x89PNG\r\n\x1a\n"
        )
    finally:
        await client.disconnect()


async def test_several_namespaces_share_one_connection_and_unknown_ones_are_refused(server):
    client, got = await _connect(server.url, ["/", "/chat", "/shop"], auth={"token": token("bo")},
                                 events=["welcome"])  # fmt: skip
    try:
        assert await _next(got["/", "welcome"]) == ({"motd": "Be nice."},)
        sids = {client.get_sid(namespace) for namespace in ("/", "/chat", "/shop")}
        assert len(sids) == 3 and None not in sids  # three consumer instances ...
        assert client.eio.sid is not None  # ... on one Engine.IO connection
        assert await client.call("say", {"text": "x"}, namespace="/chat", timeout=5) == {"ok": True}
    finally:
        await client.disconnect()
    assert await _refusal(server.url, "/nowhere") == [{"message": "Invalid namespace"}]


async def test_the_python_client_example(server):
    namespace: dict = {}
    exec(compile(client_block(), str(PAGE), "exec"), namespace)
    assert await namespace["chat"](server.url, token("ana")) == (
        {"ok": True},
        {"from": "ana", "text": "hello"},
        {"cancelled": 42},
    )


# -- JavaScript --------------------------------------------------------------------------------

NODE_TIMEOUT = 30
#: Runs first, in place of the page's import: the page's code as it runs in a browser on the
#: site's origin (io("/chat") there is relative to the page; Node sends no Origin by itself).
PRELUDE = """\
import { io as connect } from "socket.io-client";
const URL = process.env.SERVER_URL;
const token = process.env.TOKEN;
const io = (namespace, options = {}) =>
  connect(URL + namespace, { ...options, extraHeaders: { origin: URL } });
const window = { confirm: (question) => question === "Cancel order 42?" };
const file = new File([new Uint8Array([1, 2, 3])], "a.png");
const expected = Number(process.env.EXPECTED_LINES);
let seen = 0;
const print = console.log;
console.log = (...args) => {
  print(...args);
  if (++seen === expected) process.exit(0);
};
setTimeout(() => process.exit(3), 20000);
"""
IMPORT = 'import { io } from "socket.io-client";'


def _node() -> str:
    return node("the page's JavaScript")


def test_the_javascript_blocks_are_valid_modules(tmp_path):
    node = _node()
    for i, code in enumerate(blocks("javascript")):
        script = tmp_path / f"block{i}.mjs"
        script.write_text(code)
        result = subprocess.run([node, "--check", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, f"block {i}:\n{code}\n{result.stderr}"


def _run_javascript(directory: Path, url: str, code: str, token_: str, expected: int) -> list[str]:
    env = {"SERVER_URL": url, "TOKEN": token_, "EXPECTED_LINES": str(expected)}
    return run_module(directory, PRELUDE + code, env, "the page's JavaScript", NODE_TIMEOUT)


def test_the_javascript_examples_run_with_socket_io_client(uvicorn_server):
    server = uvicorn_server
    _node()
    directory = socketio_client()
    chat, others = blocks("javascript")
    assert chat.startswith(IMPORT + "\n")
    chat = chat.removeprefix(IMPORT)

    digest = hashlib.sha256(bytes([1, 2, 3])).hexdigest()
    expected = [
        "true",  # the say ack's reply.ok
        "ana: hello",  # the said event
        "{ left: 2 }",  # the buy ack's error details
        "out_of_stock Not enough cake.",  # the error listener
        "42",  # cancel, once confirmed
        f"a.png {digest}",  # the stored event
        "3",  # the upload's size
        "80",  # the download's second byte
        "Invalid namespace",
    ]
    lines = _run_javascript(directory, server.url, chat + "\n" + others, token("ana"), 9)
    assert sorted(lines) == sorted(expected), lines

    [refused] = _run_javascript(directory, server.url, chat, "forged", 1)
    assert refused == "Invalid or expired token. 4401"
