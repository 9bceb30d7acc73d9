"""
Real ASGI servers in subprocesses on loopback ports, for tests that need a real network path.

Every server is started by :func:`serve` and stopped by its pid when the block ends, whatever
happens in it: tests never leave a server behind.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Command lines of the servers the tests cover; ``{app}`` is the ``module:attribute`` path.
SERVERS = {
    "uvicorn": [
        "-m", "uvicorn", "{app}", "--host", "127.0.0.1", "--port", "{port}",
        "--lifespan", "off", "--log-level", "warning",
    ],
    "daphne": ["-m", "daphne", "-b", "127.0.0.1", "-p", "{port}", "{app}"],
    # Django's runserver as daphne replaces it (what `make demo` runs); serves static files.
    "runserver": ["manage.py", "runserver", "127.0.0.1:{port}", "--noreload", "--skip-checks"],
}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


class Server:
    """One server process; ``url`` is ``http://127.0.0.1:<port>``, ``ws`` the same with ws://."""

    def __init__(self, kind: str, app: str, port: int, env: dict[str, str]):
        self.kind, self.app, self.port, self.env = kind, app, port, env
        self.proc: subprocess.Popen | None = None
        # A file, not a pipe: a chatty server must never block on a full pipe nobody reads.
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed by serve())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [a.format(app=self.app, port=self.port) for a in SERVERS[self.kind]]
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(self.port, self.proc)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; {self.kind} printed:\n{self.output()}") from None

    def output(self) -> str:
        """Everything the process printed so far (for failure messages)."""
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the process (SIGTERM, or e.g. SIGKILL) and wait for it; idempotent."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def restart(self) -> None:
        """Stop and start again on the same port (the clients' URL stays valid)."""
        self.stop()
        self.start()


@contextlib.contextmanager
def serve(
    app: str,
    *,
    kind: str = "uvicorn",
    settings: str = "tests.settings",
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> Iterator[Server]:
    """Run ``app`` (``module:attribute``) on a free loopback port for the block's duration."""
    full_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings,
        "PYTHONPATH": str(ROOT),
        **(env or {}),
    }
    server = Server(kind, app, port or free_port(), full_env)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.log.close()


#: The scale-out test project (tests/scaleout): its layer comes from SCALEOUT_* variables.
SCALEOUT_APP = "tests.scaleout.asgi:application"
SCALEOUT_SETTINGS = "tests.scaleout.settings"


def scaleout_server(kind: str = "uvicorn", env: dict[str, str] | None = None):
    """:func:`serve` the scale-out test project on ``kind``, configured by ``env``."""
    return serve(SCALEOUT_APP, kind=kind, settings=SCALEOUT_SETTINGS, env=env)


@contextlib.contextmanager
def example_server(
    db_dir: Path,
    *,
    kind: str = "runserver",
    redis_url: str = "",
    prefix: str = "asgi",
    port: int | None = None,
) -> Iterator[Server]:
    """
    The example chat project (``manage.py``) with a fresh, migrated SQLite file in ``db_dir``.

    In-memory channel layer unless ``redis_url`` is given (CI exports REDIS_URL for the other
    tests; the example must not pick it up by accident).
    """
    env = {
        "EXAMPLE_DB": str(Path(db_dir) / "example.sqlite3"),
        "REDIS_URL": redis_url,
        "CHANNELS_PREFIX": prefix,
    }
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "example_project.settings", **env}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=full_env,
        check=True,
    )
    with serve(
        "example_project.asgi:application",
        kind=kind,
        settings="example_project.settings",
        env=env,
        port=port,
    ) as server:
        yield server


class RedisServer:
    """
    A throwaway redis-server on a loopback port (nothing on disk), stopped by its pid.

    ``stop()`` and ``start()`` again on the same port simulate an outage: the restarted server
    is empty, like any Redis without persistence.
    """

    def __init__(self, port: int | None = None, *, debug_command: bool = False):
        self.port = port or free_port()
        self.debug_command = debug_command  # allow DEBUG SLEEP, to stall the server on purpose
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        self._dir = tempfile.TemporaryDirectory()

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self._dir.name,
             *(["--enable-debug-command", "yes"] if self.debug_command else [])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for_port(self.port, self.proc, timeout=10)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._dir.cleanup()


class DeafClient:
    """
    A WebSocket client over a bare TCP socket that reads nothing after the handshake.

    Its receive buffer is tiny, so a server writing to it soon waits on its transport: the
    moment a handler's ``emit`` is stuck. It can still send frames, and a close frame.
    """

    def __init__(self, port: int, path: str):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1\r\n\r\n"
            ).encode()
        )
        head = b""
        self.sock.settimeout(10)
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            assert chunk, f"the server closed during the handshake: {head!r}"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head

    def _frame(self, opcode: int, data: bytes) -> bytes:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        n = len(data)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        return header + mask + masked

    def send(self, frame: dict) -> None:
        self.sock.sendall(self._frame(0x1, json.dumps(frame).encode()))

    def send_close(self, code: int = 1000) -> None:
        """Send a close frame (and go on reading nothing)."""
        with contextlib.suppress(OSError):  # the server dropped us already
            self.sock.sendall(self._frame(0x8, struct.pack("!H", code)))

    def recv(self, timeout: float = 5.0) -> dict | None:
        """The next text frame from the server, decoded (None when none came in time)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                first, second = self._read(2)
                n = second & 0x7F
                if n == 126:
                    (n,) = struct.unpack("!H", self._read(2))
                elif n == 127:
                    (n,) = struct.unpack("!Q", self._read(8))
                data = self._read(n)
                if first & 0x0F == 0x1:
                    return json.loads(data)
                if first & 0x0F == 0x8:
                    return None
        except TimeoutError:
            return None

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("the server closed the connection")
            data += chunk
        return data

    def drop(self) -> None:
        self.sock.close()
