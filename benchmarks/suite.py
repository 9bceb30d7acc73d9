"""
The run: which measurements, in which order, with what bounds.

Repetitions are interleaved: ``for rep: for (load, size, layer): for server in a shuffled
order``, so a slow minute on a shared machine hits every server alike and ratios taken
within one repetition compare like with like. Every measurement has a timeout; a failure is
recorded (the tables show "—"), the server involved is replaced, and the run goes on. A global
time budget skips whatever is left once it is spent.
"""

from __future__ import annotations

import asyncio
import random
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any

from . import load, presence_load
from .servers import SPECS, Pool, Server


@dataclass
class Config:
    reps: int = 3
    loads: tuple[str, ...] = ("echo", "fanout", "storm", "presence", "memory", "slow")
    servers: tuple[str, ...] = tuple(SPECS)
    layers: tuple[str, ...] = ("memory", "redis", "pubsub")
    echo_clients: tuple[int, ...] = (1, 50)
    echo_duration: float = 2.0
    echo_warmup: float = 0.5
    fanout_sizes: tuple[int, ...] = (10, 100, 500, 1000)
    fanout_duration: float = 1.0
    storm_sockets: int = 1000
    storm_servers: tuple[str, ...] = ("ec-uvicorn", "channels")
    presence_sockets: int = 1000
    memory_sockets: int = 1000
    slow_messages: int = 3000
    budget: float = 30 * 60  # seconds for the whole run
    seed: int = 6
    redis_url: str = "redis://127.0.0.1:6379/0"


@dataclass
class Result:
    load: str
    size: int
    layer: str
    server: str
    rep: int
    value: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0


UNITS = {
    "echo": "msgs/s",
    "fanout": "deliveries/s",
    "storm": "s",
    "presence": "s until every view is complete",
    "memory": "KiB/socket",
    "slow": "broadcasts reached the others",
}


class Suite:
    def __init__(self, config: Config, pool: Pool):
        self.config, self.pool = config, pool
        self.results: list[Result] = []
        self.started = time.monotonic()

    # -- plan ----------------------------------------------------------------------------------

    def _order(self, servers: list[str], *key: Any) -> list[str]:
        """A shuffled server order, reproducible from the seed and the measurement's key."""
        order = list(servers)
        random.Random(f"{self.config.seed}-{'-'.join(map(str, key))}").shuffle(order)
        return order

    def _servers_for(self, layer: str) -> list[str]:
        return [k for k in self.config.servers if layer in SPECS[k].layers]

    async def run(self) -> list[Result]:
        c = self.config
        for rep in range(c.reps):
            if "echo" in c.loads:
                # Echo doesn't touch the channel layer: in-memory layer only.
                for clients in c.echo_clients:
                    for key in self._order(self._servers_for("memory"), rep, "echo", clients):
                        await self._measure("echo", clients, "memory", key, rep)
            if "fanout" in c.loads:
                for layer in c.layers:
                    for size in c.fanout_sizes:
                        for key in self._order(self._servers_for(layer), rep, size, layer):
                            await self._measure("fanout", size, layer, key, rep)
            # The baseline (an earlier commit, --baseline) is compared on echo and fan-out.
            others = [k for k in c.servers if k != "ec-baseline"]
            if "storm" in c.loads:
                kinds = [k for k in c.storm_servers if k in c.servers]
                for key in self._order(kinds, rep, "storm"):
                    await self._storm(key, rep)
            if "presence" in c.loads and "ec-presence" in c.servers:
                await self._presence(rep)
            if "memory" in c.loads:
                for key in self._order(others, rep, "memory"):
                    await self._memory(key, rep)
            if "slow" in c.loads:
                slow = [k for k in self._servers_for("memory") if k in others]
                for key in self._order(slow, rep, "slow"):
                    await self._measure("slow", 10, "memory", key, rep)
        return self.results

    # -- measurements --------------------------------------------------------------------------

    def _over_budget(self) -> bool:
        return time.monotonic() - self.started > self.config.budget

    def _record(self, result: Result, began: float) -> None:
        result.seconds = time.monotonic() - began
        self.results.append(result)
        where = f"rep {result.rep + 1}/{self.config.reps} {result.load:6} {result.size:>5}"
        where += f" {result.layer:6} {SPECS[result.server].label:24}"
        if result.error:
            print(f"  {where} FAILED: {result.error}", flush=True)
            return
        unit = UNITS[result.load]
        detail = ""
        if "lat_ms" in result.extra:
            detail = f"  latency {result.extra['lat_ms']:.1f} ms"
        if "cpu_us" in result.extra:
            detail += f"  server CPU {result.extra['cpu_us']:.1f} µs/msg"
        if result.load == "presence":
            e = result.extra
            detail = (
                f"  complete {e['complete']}/{e['sockets']} same {e['same']} frames max "
                f"{e['frames_max']} median {e['frames_median']:.0f} keys left "
                f"{e['presence_keys_left']} errors {e['errors']}"
            )
        if result.load == "storm":
            e = result.extra
            detail = (
                f"  joined {e['joined']}/{e['sockets']} delivered {e['delivered']}"
                f"/{e['sockets']} leftover {e['leftover']} errors {e['errors']}"
            )
        print(
            f"  {where} {result.value:>10,.1f} {unit}{detail}  ({result.seconds:.1f}s)",
            flush=True,
        )

    async def _guarded(self, result: Result, coro, limit: float) -> bool:
        """Run a measurement with a timeout; record a failure instead of raising."""
        try:
            async with asyncio.timeout(limit):
                sample = await coro
        except TimeoutError:
            result.error = f"timed out after {limit:g}s"
            return False
        except (load.MeasurementError, OSError, RuntimeError) as exc:
            result.error = f"{type(exc).__name__}: {exc}"[:300]
            return False
        except Exception as exc:  # an unexpected bug in the harness: keep going, loudly
            result.error = f"{type(exc).__name__}: {exc}"[:300]
            traceback.print_exc()
            return False
        result.value, result.extra = sample.value, sample.extra
        return True

    async def _measure(self, kind: str, size: int, layer: str, key: str, rep: int) -> None:
        c = self.config
        result = Result(kind, size, layer, key, rep)
        began = time.monotonic()
        if self._over_budget():
            result.error = "skipped: time budget spent"
            self.results.append(result)
            return
        try:
            server = self.pool.get(key, layer)
        except RuntimeError as exc:
            result.error = f"could not start: {exc}"
            self._record(result, began)
            return
        if kind == "echo":
            coro = load.echo(server, size, c.echo_duration, c.echo_warmup)
            timeout = c.echo_duration + c.echo_warmup + 30
        elif kind == "slow":
            coro = load.slow_member(server, f"slow.r{rep}", size, c.slow_messages)
            timeout = 120
        else:
            group = f"fan{size}.r{rep}"
            settle = (
                1.0 + size * SPECS[key].settle_per_member if SPECS[key].settle_per_member else 0.0
            )
            coro = load.fanout(server, size, group, c.fanout_duration, settle=settle)
            timeout = c.fanout_duration + settle + 60
        ok = await self._guarded(result, coro, timeout)
        if not ok:
            result.extra["log"] = server.log_tail(8)
            self.pool.restart(key, layer)  # a fresh one for the next measurement
        else:
            server.quiesce()  # don't let its clean-up overlap the next measurement
        self._record(result, began)

    async def _storm(self, key: str, rep: int) -> None:
        c = self.config
        result = Result("storm", c.storm_sockets, "redis", key, rep)
        began = time.monotonic()
        if self._over_budget():
            result.error = "skipped: time budget spent"
            self.results.append(result)
            return
        prefix = self.pool.prefix(f"storm-{key}-r{rep}")
        servers: list[Server] = []
        try:
            for i in range(2):
                servers.append(self.pool.new(key, "redis", f"storm-{key}-{i}", prefix=prefix))
            group = "storm"
            coro = load.storm(servers, c.storm_sockets, group, c.redis_url, prefix)
            if not await self._guarded(result, coro, 150):
                result.extra["log"] = "\n".join(s.log_tail(8) for s in servers)
            else:
                result.extra["log_warnings"] = sum(_warnings(s) for s in servers)
        except RuntimeError as exc:
            result.error = f"could not start: {exc}"
        finally:
            for server in servers:
                server.stop()
        self._record(result, began)

    async def _presence(self, rep: int) -> None:
        """The presence storm (benchmarks.presence_load) on two ec-presence processes."""
        c, key = self.config, "ec-presence"
        result = Result("presence", c.presence_sockets, "redis", key, rep)
        began = time.monotonic()
        if self._over_budget():
            result.error = "skipped: time budget spent"
            self.results.append(result)
            return
        prefix = self.pool.prefix(f"presence-r{rep}")
        servers: list[Server] = []
        try:
            for i in range(2):
                servers.append(self.pool.new(key, "redis", f"presence-{i}", prefix=prefix))
            coro = presence_load.presence_storm(
                servers, c.presence_sockets, "storm", c.redis_url, prefix
            )
            if not await self._guarded(result, coro, 180):
                result.extra["log"] = "\n".join(s.log_tail(8) for s in servers)
        except RuntimeError as exc:
            result.error = f"could not start: {exc}"
        finally:
            for server in servers:
                server.stop()
        self._record(result, began)

    async def _memory(self, key: str, rep: int) -> None:
        c = self.config
        result = Result("memory", c.memory_sockets, "memory", key, rep)
        began = time.monotonic()
        if self._over_budget():
            result.error = "skipped: time budget spent"
            self.results.append(result)
            return
        server = None
        try:
            server = self.pool.new(key, "memory", f"mem-{key}")
            await self._guarded(result, load.idle_memory(server, c.memory_sockets), 90)
        except RuntimeError as exc:
            result.error = f"could not start: {exc}"
        finally:
            if server is not None:
                server.stop()
        self._record(result, began)


def _warnings(server: Server) -> int:
    try:
        text = server.log_path.read_text(errors="replace")
    except OSError:
        return 0
    return sum(1 for line in text.splitlines() if "WARNING" in line or "Traceback" in line)


def to_json(results: list[Result]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
