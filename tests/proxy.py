"""
:class:`Proxy`: a TCP proxy on loopback whose "network" a test can take down and bring back.

Down, it drops every connection through it (no close handshake reaches either side: the
client sees an abnormal close, 1006) and refuses new ones until it is up again: a phone
switching networks, a proxy restarting, a cable pulled.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading

from tests.liveserver import free_port

__all__ = ["Proxy"]


class Proxy:
    """``with Proxy(target_port) as proxy:`` listens on ``proxy.port``; ``down()``, ``up()``."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self.connections = 0  # accepted while up, in all
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._open: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> Proxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def down(self) -> None:
        """Drop every connection at once (RST, no close frame) and refuse new ones."""
        self._call(self._stop())

    def up(self) -> None:
        self._call(self._listen())

    def _call(self, coro) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            sock = writer.get_extra_info("socket")
            with contextlib.suppress(OSError):  # RST instead of FIN: an abrupt loss
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
            writer.transport.abort()
        self._open.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._open.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                if dst in self._open:
                    self._open.discard(dst)
                    dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
