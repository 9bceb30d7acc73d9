"""
The servers under test as subprocesses on free loopback ports, and what we read about them
from ``/proc`` (CPU time, resident memory).

Every process is started by :class:`Server` and stopped by its pid (SIGTERM, then SIGKILL):
:class:`Pool` stops everything it started in its ``close()``, which the harness calls in a
``finally``. On Linux each child also gets ``PR_SET_PDEATHSIG``, so even a harness killed with
SIGKILL leaves no server behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")

_UVICORN = [
    "-m", "uvicorn", "{app}", "--host", "127.0.0.1", "--port", "{port}",
    "--lifespan", "off", "--log-level", "warning", "--no-access-log",
]  # fmt: skip
_DAPHNE = ["-m", "daphne", "-b", "127.0.0.1", "-p", "{port}", "-v", "0", "{app}"]


@dataclass(frozen=True)
class Spec:
    """One kind of server: how to start it, where its socket lives, which protocol it speaks."""

    key: str
    label: str
    argv: tuple[str, ...]
    app: str
    path: str
    codec: str  # "json" (easy_channels' frames) or "sio" (Engine.IO 4 / Socket.IO 5)
    layers: tuple[str, ...]  # channel layers (or Socket.IO managers) it can run on
    #: Where the server's code comes from (its cwd and PYTHONPATH): None for this checkout,
    #: or an unpacked earlier commit (``--baseline``), so both are measured in one run.
    root: Path | None = None
    #: Environment variables of its own.
    env: tuple[tuple[str, str], ...] = ()
    #: Seconds per member a fan-out waits once its members joined, before it measures: the
    #: presence frames of the join (ec-presence) settle, so the steady state is measured.
    settle_per_member: float = 0.0


SPECS: dict[str, Spec] = {
    spec.key: spec
    for spec in [
        Spec(
            "ec-uvicorn",
            "easy_channels/uvicorn",
            tuple(_UVICORN),
            "benchmarks.apps.easy_asgi:application",
            "/ws/bench/",
            "json",
            ("memory", "redis", "pubsub"),
        ),
        Spec(
            "ec-recovery",
            "easy_channels+recovery/uvicorn",
            tuple(_UVICORN),
            "benchmarks.apps.easy_asgi:application",
            "/ws/bench-recovery/",
            "json",
            ("memory", "redis"),  # the layers recovery keeps sessions on
            env=(("BENCH_RECOVERY", "1"),),
        ),
        Spec(
            "ec-presence",
            "easy_channels+presence/uvicorn",
            tuple(_UVICORN),
            "benchmarks.apps.easy_asgi:application",
            "/ws/bench-presence/",
            "json",
            ("memory", "redis"),  # the layers presence is kept on
            env=(("BENCH_PRESENCE", "1"),),
            settle_per_member=0.004,
        ),
        Spec(
            "ec-sio",
            "easy_channels (Socket.IO)/uvicorn",
            tuple(_UVICORN),
            "benchmarks.apps.easy_asgi:application",
            "/socket.io/?EIO=4&transport=websocket",
            "sio",
            ("memory", "redis"),  # the rows python-socketio is measured in
        ),
        Spec(
            "ec-daphne",
            "easy_channels/daphne",
            tuple(_DAPHNE),
            "benchmarks.apps.easy_asgi:application",
            "/ws/bench/",
            "json",
            ("memory", "redis", "pubsub"),
        ),
        Spec(
            "channels",
            "Channels/uvicorn",
            tuple(_UVICORN),
            "benchmarks.apps.channels_asgi:application",
            "/ws/bench/",
            "json",
            ("memory", "redis", "pubsub"),
        ),
        Spec(
            "socketio",
            "python-socketio/uvicorn",
            tuple(_UVICORN),
            "benchmarks.apps.socketio_app:application",
            "/socket.io/?EIO=4&transport=websocket",
            "sio",
            # Socket.IO's only Redis option (AsyncRedisManager) is pub/sub: it runs in the
            # "redis" rows, which are the ones the targets compare; not repeated under pubsub.
            ("memory", "redis"),
        ),
        Spec(
            "websockets",
            "websockets (ceiling)",
            ("-m", "benchmarks.apps.websockets_server", "--port", "{port}"),
            "",
            "/",
            "json",
            ("memory",),  # groups are sets in the process: no layer at all
        ),
    ]
}


def add_baseline(rev: str, into: Path) -> str:
    """
    Unpack commit ``rev`` of this repository into ``into`` and add it as the server
    ``ec-baseline`` (easy_channels on uvicorn, as ``ec-uvicorn``, with that commit's code).
    Returns the short commit id.
    """
    short = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.Popen(["git", "archive", short], cwd=ROOT, stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise RuntimeError(f"git archive {rev} failed")
    current = SPECS["ec-uvicorn"]
    SPECS["ec-baseline"] = Spec(
        "ec-baseline",
        f"easy_channels@{short}/uvicorn",
        current.argv,
        current.app,
        current.path,
        current.codec,
        current.layers,
        root=into,
    )
    return short


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of ``pid`` (all threads) from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK  # utime, stime (14, 15)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (all threads)."""
    return sum(cpu_split(pid))


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


class Server:
    """One server process on ``127.0.0.1:<port>``; ``log`` is where its output goes."""

    def __init__(self, spec: Spec, layer: str, env: dict[str, str], log_dir: Path, name: str):
        self.spec, self.layer, self.env = spec, layer, env
        self.name = name
        self.port = free_port()
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.spec.path}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, extra_env: dict[str, str] | None = None, prefix: list[str] | None = None):
        args = [a.format(app=self.spec.app, port=self.port) for a in self.spec.argv]
        env = {**self.env, **dict(self.spec.env), **(extra_env or {})}
        root = self.spec.root or ROOT
        env["PYTHONPATH"] = str(root)
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [*(prefix or [sys.executable]), *args],
                cwd=root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl+C reaches the harness, which stops us
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        self._wait_listening(timeout=40)

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not listen within {timeout}s; see {self.log_path}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; idempotent."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def quiesce(self, threshold: float = 0.05, window: float = 0.1, limit: float = 5.0) -> float:
        """Wait (up to ``limit`` s) until the server uses < ``threshold`` of a core; seconds."""
        start = time.monotonic()
        while self.alive() and time.monotonic() - start < limit:
            before = cpu_seconds(self.pid)
            time.sleep(window)
            if cpu_seconds(self.pid) - before < threshold * window + 1e-9:
                break
        return time.monotonic() - start

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Pool:
    """
    Long-lived servers, one per (kind, layer), started on first use and kept for the whole
    run (all of them see the same history); ``restart`` replaces one after a failure.
    """

    def __init__(self, run_id: str, log_dir: Path, redis_url: str):
        self.run_id, self.log_dir, self.redis_url = run_id, log_dir, redis_url
        self.servers: dict[tuple[str, str], Server] = {}
        self.extra: list[Server] = []  # one-off servers (storm, memory, profile)
        self.prefixes: set[str] = set()

    def prefix(self, tag: str) -> str:
        prefix = f"ecbench-{self.run_id}-{tag}"
        self.prefixes.add(prefix)
        return prefix

    def env(self, layer: str, prefix: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            BENCH_LAYER=layer,
            BENCH_PREFIX=prefix,
            REDIS_URL=self.redis_url,
            PYTHONPATH=str(ROOT),
            PYTHONUNBUFFERED="1",
        )
        env.pop("DJANGO_SETTINGS_MODULE", None)
        return env

    def get(self, key: str, layer: str) -> Server:
        server = self.servers.get((key, layer))
        if server is None or not server.alive():
            if server is not None:
                server.stop()
            server = self.new(key, layer, f"{key}-{layer}")
            self.servers[(key, layer)] = server
        return server

    def new(self, key: str, layer: str, tag: str, prefix: str | None = None, **start) -> Server:
        """A server outside the pool (the caller stops it; ``close`` does if it doesn't)."""
        spec = SPECS[key]
        env = self.env(layer, prefix or self.prefix(tag))
        server = Server(spec, layer, env, self.log_dir, f"{tag}-{len(self.extra)}")
        self.extra.append(server)
        server.start(**start)
        return server

    def restart(self, key: str, layer: str) -> None:
        server = self.servers.pop((key, layer), None)
        if server is not None:
            server.stop()

    def close(self) -> None:
        for server in [*self.servers.values(), *self.extra]:
            try:
                server.stop(grace=3.0)
            except Exception as exc:  # keep stopping the others
                print(f"warning: could not stop {server.name}: {exc!r}", file=sys.stderr)
        self.servers.clear()
        self.extra.clear()
