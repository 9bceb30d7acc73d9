"""
The official ``socket.io-client`` (Node.js) as the oracle for what it implements itself:

- connection state recovery: it keeps the ``pid`` of the CONNECT reply and the last offset
  of the frames, reconnects by itself after its connection closes, sends them back, and sets
  ``socket.recovered`` when the server restored the session; a ``recovery = True`` consumer
  must give it what it missed meanwhile;
- presence: ``presence_state`` and ``presence_diff`` reach its listeners as one argument.
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import require_redis
from tests.liveserver import serve
from tests.node_packages import run_module, socketio_client

SCRIPT = r"""
import { io } from "socket.io-client";

const url = process.env.SERVER_URL;
const room = process.env.ROOM;
const options = { transports: [process.env.TRANSPORT], reconnectionDelay: 300 };
const report = (what) => console.log(JSON.stringify(what));
const once = (socket, event) => new Promise((resolve) => socket.once(event, (...a) => resolve(a)));
const until = async (test) => {
  while (!test()) await new Promise((resolve) => setTimeout(resolve, 10));
};
setTimeout(() => { report({ timeout: true, said }); process.exit(3); }, 15000);

const said = [];
const welcomes = [];
const listener = io(url + "/recovering", options);
listener.on("said", (payload) => said.push(payload.text));
listener.on("welcome", (payload) => welcomes.push(payload));
await until(() => welcomes.length === 1);
await listener.timeout(5000).emitWithAck("join", room);

const speaker = io(url + "/room", { ...options, forceNew: true });
const say = (text) => speaker.timeout(5000).emitWithAck("say", { room, text });
await say("one");
await until(() => said.length === 1);

const gone = once(listener, "disconnect");
listener.io.engine.close();  // the connection closes under the namespace, as on a network change
const [reason] = await gone;
await say("two");  // acked once sent to the group: while the listener is away
await say("three");
await once(listener, "connect");
const recovered = listener.recovered;
await until(() => said.length === 3 && welcomes.length === 2);
await say("four");
await until(() => said.length === 4);
report({ reason, recovered, said, welcomes });
listener.close();
speaker.close();
process.exit(0);
"""


PRESENCE_SCRIPT = r"""
import { io } from "socket.io-client";

const url = process.env.SERVER_URL;
const room = process.env.ROOM;
const options = { transports: [process.env.TRANSPORT], forceNew: true };
const seen = [];
setTimeout(() => { console.log(JSON.stringify({ timeout: true, seen })); process.exit(3); }, 15000);
const until = async (test) => {
  while (!test()) await new Promise((resolve) => setTimeout(resolve, 10));
};
const ana = io(url + "/room", options);
ana.on("presence_state", (state) => seen.push(["state", Object.keys(state.members)]));
ana.on("presence_diff", (diff) =>
  seen.push(["diff", Object.keys(diff.joins), Object.keys(diff.leaves)]));
await ana.timeout(5000).emitWithAck("track", { room, name: "ana" });
await until(() => seen.length === 1);
const bob = io(url + "/room", options);
await bob.timeout(5000).emitWithAck("track", { room, name: "bob" });
await until(() => seen.length === 2);
bob.disconnect();
await until(() => seen.length === 3);
console.log(JSON.stringify({ seen }));
ana.close();
process.exit(0);
"""


def _run(server, code: str, transport: str) -> dict:
    env = {
        "SERVER_URL": server.url,
        "ROOM": f"js-{transport}-{uuid.uuid4().hex[:6]}",
        "TRANSPORT": transport,
    }
    lines = run_module(socketio_client(), code, env, "the socket.io-client tests")
    return json.loads(lines[-1])


@pytest.fixture(scope="module", params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def server(request):
    env = {}
    if request.param == "redis":
        require_redis()
        env["SIO_REDIS_PREFIX"] = f"ec-csr-js-{uuid.uuid4().hex[:8]}"
    with serve(
        "tests.sio_site.asgi:application", settings="tests.sio_site.settings", env=env
    ) as running:
        yield running


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_socket_io_client_recovers_what_it_missed(server, transport):
    got = _run(server, SCRIPT, transport)
    assert got["reason"] == "forced close"  # the client closed its connection, not the namespace
    assert got["recovered"] is True  # the client's own verdict: pid and offset accepted
    # What it missed came once, in order, before the live frame that followed.
    assert got["said"] == ["one", "two", "three", "four"]
    assert got["welcomes"] == [{"recovered": False}, {"recovered": True}]


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_presence_reaches_socket_io_client(server, transport):
    """Its state when it tracks, then bob's join and, once bob disconnects, his leave."""
    got = _run(server, PRESENCE_SCRIPT, transport)
    assert got["seen"] == [["state", ["ana"]], ["diff", ["bob"], []], ["diff", [], ["bob"]]]
