"""
Connection state recovery with the official ``socket.io-client`` (Node.js) as the oracle: it
keeps the ``pid`` of the CONNECT reply and the last offset of the frames, reconnects by itself
after its connection closes, sends them back, and sets ``socket.recovered`` when the server
restored the session. A ``recovery = True`` consumer must give it what it missed meanwhile.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import require_redis
from tests.liveserver import serve
from tests.node_packages import installed, node

CLIENT_PACKAGE = Path(__file__).parent / "sio_docs_site" / "client"

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
    command = node("the socket.io-client recovery test")
    files = ("package.json", "package-lock.json")
    directory = installed(
        CLIENT_PACKAGE, files, "socketio-docs-client", "node_modules/socket.io-client"
    )
    script = directory / f"recovery-{os.getpid()}-{uuid.uuid4().hex[:6]}.mjs"
    script.write_text(SCRIPT)
    env = {
        **os.environ,
        "SERVER_URL": server.url,
        "ROOM": f"csr-{transport}-{uuid.uuid4().hex[:6]}",
        "TRANSPORT": transport,
    }
    try:
        result = subprocess.run(
            [command, script.name], cwd=directory, env=env, capture_output=True, text=True,
            timeout=30,
        )  # fmt: skip
    finally:
        script.unlink(missing_ok=True)
    assert result.returncode == 0, result.stdout + result.stderr
    got = json.loads(result.stdout.splitlines()[-1])
    assert got["reason"] == "forced close"  # the client closed its connection, not the namespace
    assert got["recovered"] is True  # the client's own verdict: pid and offset accepted
    # What it missed came once, in order, before the live frame that followed.
    assert got["said"] == ["one", "two", "three", "four"]
    assert got["welcomes"] == [{"recovered": False}, {"recovered": True}]
