"""
``python -m benchmarks.presence_scale``: how long ``presence()`` of a big group takes on Redis,
and what an entry keeps there.

A group of 10,000 entries (the entries 10,000 tracked sockets of two processes would write:
user keys, a small meta each) is written through easy_channels' own presence store, under a
prefix of this run; then ``apresence(group)`` is timed, as a view or a task calls it; the keys
are deleted afterwards. A load, not a test: it prints what it measured and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time

READS = 50


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.presence_scale")
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args(argv)
    prefix = f"ecpres{secrets.token_hex(4)}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.apps.settings"
    os.environ["BENCH_LAYER"], os.environ["BENCH_PREFIX"] = "redis", prefix
    os.environ["REDIS_URL"] = args.redis_url
    import django

    django.setup()
    from channels.layers import get_channel_layer

    from easy_channels import apresence
    from easy_channels.presence_store import store_for

    layer = get_channel_layer()
    store = store_for(layer)
    assert store is not None
    connection = layer.connection(0)
    group, n = "big-room", args.members
    procs = [secrets.token_hex(6) for _ in range(2)]  # two server processes
    try:
        for index, proc in enumerate(procs):
            await store.beat(proc, 30, [group])
            mine = range(index, n, len(procs))
            for start in range(0, len(mine), 1000):
                joins = {
                    f"{proc}|{i}": (str(100_000 + i), {"name": f"user {i}", "status": "online"})
                    for i in mine[start : start + 1000]
                }
                await store.change(proc, group, joins, (), still=True, snapshot=False)
        assert len(await apresence(group)) == n
        times = []
        for _ in range(READS):
            began = time.perf_counter()
            members = await apresence(group)
            times.append((time.perf_counter() - began) * 1000)
        assert len(members) == n
        usage = await connection.memory_usage(f"{prefix}:ec:p:{group}", samples=0)
    finally:
        keys = [key async for key in connection.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await connection.delete(*keys)
        await layer.close_pools()
    times.sort()
    print(f"presence() of a group of {n:,} entries on Redis, {READS} reads:")
    print(f"  median {statistics.median(times):.1f} ms, p95 {times[int(READS * 0.95)]:.1f} ms, "
          f"max {times[-1]:.1f} ms")  # fmt: skip
    print(f"  Redis memory: {usage:,} bytes for the group's hash, {usage / n:.0f} bytes per entry")


if __name__ == "__main__":
    asyncio.run(main())
