"""
One of two server processes killed (SIGKILL) mid-session: the other process's clients don't
notice, and the browser client reconnects through the same URL (a load balancer in front) to
the surviving process.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import uuid

from websockets.sync.client import connect as ws_connect

from tests.liveserver import free_port, serve

APP = "tests.browser.client_site.asgi:application"
SETTINGS = "tests.browser.client_site.settings"


class Balancer:
    """
    A TCP proxy on a loopback port, like a load balancer: each connection goes to the first
    backend that accepts it (so a dead one is skipped). Runs its own event loop in a thread.
    """

    def __init__(self, backends: list[int]):
        self.backends = backends
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port)
        )
        self.ready.set()
        self.loop.run_forever()

    async def _handle(self, reader, writer) -> None:
        for port in self.backends:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                continue
        else:
            writer.close()
            return

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def __enter__(self) -> Balancer:
        self.thread.start()
        self.ready.wait(5)
        return self

    async def _shutdown(self) -> None:
        self.server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.loop.call_soon(self.loop.stop)

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(5)
        self.thread.join(5)
        self.loop.close()


def test_killed_process_clients_reconnect_to_the_survivor(new_page):
    key = uuid.uuid4().hex[:12]
    with (
        serve(APP, kind="uvicorn", settings=SETTINGS) as first,
        serve(APP, kind="daphne", settings=SETTINGS) as second,
        Balancer([first.port, second.port]) as balancer,
        ws_connect(f"{second.ws}/ws/lab/{key}/", origin="http://127.0.0.1") as bystander,
    ):
        assert json.loads(bystander.recv(10))["event"] == "welcome"
        page = new_page()
        page.goto(f"{second.url}/")
        url = f"ws://127.0.0.1:{balancer.port}/ws/lab/{key}/"
        page.evaluate(
            "(url) => { window.s = track(EasyChannels.connect(url, "
            "{reconnectDelay: 100, reconnectDelayMax: 500}), 'welcome'); }",
            url,
        )
        page.wait_for_function("() => window.s.connected")
        assert page.evaluate("() => s.request('echo', {n: 1})") == {"n": 1}

        first.stop(signal.SIGKILL)  # the balancer sent the page to the first process

        page.wait_for_function("() => seen('connect').length >= 2", timeout=15_000)
        assert page.evaluate("() => seen('disconnect')[0].willReconnect") is True
        assert page.evaluate("() => s.request('echo', {n: 2})") == {"n": 2}
        # The other process's client never noticed.
        bystander.send(json.dumps({"event": "echo", "ack": 7, "n": 3}))
        frames = [json.loads(bystander.recv(10)) for _ in range(2)]
        assert {"event": "ack", "ack": 7, "data": {"n": 3}} in frames
    assert page.js_errors == []
