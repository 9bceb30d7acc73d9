"""
``python -m benchmarks.polling_relay``: what long-polling without sticky sessions costs.

Two easy_channels servers (uvicorn, the Socket.IO benchmark consumer) share a channel layer on
Redis. Each Engine.IO session is opened on the first; its requests (a POST carrying an echo
event with an ack, then GETs until the ack comes) go either to that same process (what sticky
sessions give) or all to the second, which relays them to the first through the channel layer
(what a load balancer without affinity gives). Round trips are timed one session at a time
(latency) and with many sessions at once (throughput), and the CPU time of both processes is
counted. A load, not a test: it prints what it measured and asserts nothing but the answers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from .report import Table
from .servers import Pool, Server, cpu_seconds

PATH = "/socket.io/?EIO=4&transport=polling"
SEQUENTIAL = 300  # round trips of one session, one after the other
SESSIONS = 20  # sessions at once for the throughput
CONCURRENT = 50  # round trips of each of them


def _base(server: Server) -> str:
    return f"http://127.0.0.1:{server.port}{PATH}"


class Session:
    """One Engine.IO session over long-polling, opened on ``owner``, asked through ``via``."""

    def __init__(self, http: aiohttp.ClientSession, owner: Server, via: Server):
        self.http, self.owner, self.via = http, owner, via
        self.sid = ""
        self.acks = 0
        self.packets: list[str] = []

    async def open(self) -> None:
        async with self.http.get(_base(self.owner)) as response:
            self.sid = json.loads((await response.text())[1:])["sid"]
        await self._post("40")
        await self._until(lambda packet: packet.startswith("40"))

    async def echo(self, n: int) -> None:
        self.acks += 1
        ack = self.acks
        await self._post(f'42{ack}["echo",{{"n":{n}}}]')
        reply = await self._until(lambda packet: packet.startswith(f"43{ack}["))
        if json.loads(reply[len(f"43{ack}") :]) != [{"n": n}]:
            raise RuntimeError(f"wrong echo reply {reply!r}")

    async def close(self) -> None:
        await self._post("1")

    async def _post(self, body: str) -> None:
        async with self.http.post(f"{_base(self.via)}&sid={self.sid}", data=body) as response:
            if response.status != 200:
                raise RuntimeError(f"POST answered {response.status}: {await response.text()}")

    async def _until(self, wanted) -> str:
        while True:
            while self.packets:
                packet = self.packets.pop(0)
                if packet == "2":  # a ping: answered, as clients do
                    await self._post("3")
                elif wanted(packet):
                    return packet
            async with self.http.get(f"{_base(self.via)}&sid={self.sid}") as response:
                if response.status != 200:
                    raise RuntimeError(f"GET answered {response.status}")
                self.packets.extend((await response.text()).split("\x1e"))


async def _measure(http, owner: Server, via: Server) -> dict[str, float]:
    one = Session(http, owner, via)
    await one.open()
    times = []
    for n in range(SEQUENTIAL):
        start = time.perf_counter()
        await one.echo(n)
        times.append(time.perf_counter() - start)
    await one.close()
    sessions = [Session(http, owner, via) for _ in range(SESSIONS)]
    await asyncio.gather(*(s.open() for s in sessions))
    servers = {owner.pid, via.pid}
    cpu0, t0 = sum(map(cpu_seconds, servers)), time.perf_counter()

    async def run(session: Session) -> None:
        for n in range(CONCURRENT):
            await session.echo(n)

    await asyncio.gather(*(run(s) for s in sessions))
    elapsed = time.perf_counter() - t0
    cpu1 = sum(map(cpu_seconds, servers))
    await asyncio.gather(*(s.close() for s in sessions))
    trips = SESSIONS * CONCURRENT
    return {
        "median_ms": statistics.median(times) * 1e3,
        "p95_ms": statistics.quantiles(times, n=20)[18] * 1e3,
        "per_s": trips / elapsed,
        "cpu_us": (cpu1 - cpu0) * 1e6 / trips,
    }


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.polling_relay")
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    pool = Pool(f"relay-{secrets.token_hex(3)}", Path(tempfile.mkdtemp()), args.redis_url)
    prefix = pool.prefix("relay")
    try:
        owner = pool.new("ec-sio", "redis", "relay-a", prefix=prefix)
        other = pool.new("ec-sio", "redis", "relay-b", prefix=prefix)
        results: dict[str, list[dict[str, float]]] = {"same": [], "relayed": []}
        async with aiohttp.ClientSession() as http:
            for _ in range(args.reps):
                results["same"].append(await _measure(http, owner, owner))
                results["relayed"].append(await _measure(http, owner, other))
    finally:
        pool.close()
        await _forget(args.redis_url, prefix)
    table = Table(
        f"Long-polling echo round trips (POST the event, GET until its ack), uvicorn, Redis "
        f"layer, median of {args.reps} runs",
        [
            "requests go to",
            "round trip ms: median (p95)",
            "round trips/s, 20 sessions",
            "server CPU µs per round trip",
        ],
    )
    labels = {
        "same": "the session's process (sticky)",
        "relayed": "another process (relayed)",
    }
    for key, runs in results.items():
        med = statistics.median
        table.add(
            labels[key],
            f"{med(r['median_ms'] for r in runs):.2f} ({med(r['p95_ms'] for r in runs):.2f})",
            f"{med(r['per_s'] for r in runs):,.0f}",
            f"{med(r['cpu_us'] for r in runs):,.0f}",
        )
    print(table.text())


async def _forget(redis_url: str, prefix: str) -> None:
    """Delete this run's keys only (SCAN MATCH <prefix>*), never anything else."""
    import redis.asyncio as redis

    connection = redis.Redis.from_url(redis_url)
    try:
        async for key in connection.scan_iter(match=f"{prefix}*", count=1000):
            await connection.delete(key)
    finally:
        await connection.aclose()


if __name__ == "__main__":
    asyncio.run(main())
