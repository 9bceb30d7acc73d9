"""
``python -m benchmarks.connect_scale``: how connecting many sockets to one process scales.

For each layer, a fresh easy_channels server (uvicorn) gets N idle sockets, opened 100
handshakes at a time by one client process; the table gives the seconds it took, the ratio
to the smaller N (2.0 means linear in N), the server's CPU seconds meanwhile and its resident
memory per socket (measured after a warm-up of 20 sockets, as ``make bench``'s memory load).

A load, not a test: it prints what it measured and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

from .load import close_all, open_many
from .servers import Pool, cpu_seconds, rss_kib


async def _measure(pool: Pool, layer: str, sockets: int) -> tuple[float, float, float]:
    server = pool.new("ec-uvicorn", layer, f"scale-{layer}-{sockets}")
    try:
        await close_all(await open_many(server, 20))
        await asyncio.sleep(0.5)
        before = rss_kib(server.pid)
        started, cpu = time.monotonic(), cpu_seconds(server.pid)
        clients = await open_many(server, sockets, concurrency=100)
        elapsed, cpu = time.monotonic() - started, cpu_seconds(server.pid) - cpu
        try:
            await asyncio.sleep(1.0)
            server.quiesce()
            per_socket = (rss_kib(server.pid) - before) / sockets
        finally:
            await close_all(clients, limit=60)
        return elapsed, cpu, per_socket
    finally:
        server.stop()


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.connect_scale")
    parser.add_argument("--layers", default="memory,redis")
    parser.add_argument("--sockets", default="5000,10000")
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.sockets.split(",")]
    log_dir = Path(tempfile.mkdtemp(prefix="ec-scale-"))
    pool = Pool(secrets.token_hex(4), log_dir, args.redis_url)
    rows = []
    try:
        for layer in args.layers.split(","):
            first = None
            for count in counts:
                elapsed, cpu, per_socket = await _measure(pool, layer, count)
                first = first or elapsed
                rows.append((layer, count, elapsed, elapsed / first, cpu, per_socket))
    finally:
        pool.close()
    print(
        f"{'layer':<8} {'sockets':>8} {'seconds':>8} {'ratio':>6} {'server CPU s':>13} "
        f"{'KiB/socket':>11}"
    )
    for layer, count, elapsed, ratio, cpu, kib in rows:
        print(f"{layer:<8} {count:>8} {elapsed:>8.2f} {ratio:>6.2f} {cpu:>13.2f} {kib:>11.1f}")
    print(f"(server logs: {log_dir})", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
