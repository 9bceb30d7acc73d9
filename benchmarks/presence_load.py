"""
The presence storm: many sockets join one group with presence at once, over two processes on
Redis. Every member must end with the same view of the group; how many presence frames each
got until then is the coalescing at work. Then they all leave, and Redis must forget them.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import time
from collections import Counter
from typing import Any

from .load import Client, Sample, close_all
from .servers import Server


async def presence_storm(
    servers: list[Server], sockets: int, group: str, redis_url: str, prefix: str
) -> Sample:
    """
    ``sockets`` sockets connect all at once, spread over ``servers``, and join ``group`` with
    presence (``presence_add``). The value is the seconds until every member's view (built from
    its ``presence_state`` and ``presence_diff`` frames, as a client builds it) holds all
    ``sockets`` keys. Failures are counted, not raised: they are the result.
    """
    import redis.asyncio as aioredis

    views: list[dict[str, int]] = [{} for _ in range(sockets)]
    frames = [0] * sockets
    complete = [False] * sockets
    done = [0]  # members whose view is complete
    everyone = asyncio.get_running_loop().create_future()
    opened: list[Client | None] = [None] * sockets
    start = time.perf_counter()

    def watcher(index: int):
        view = views[index]

        def on_presence(frame: dict[str, Any]) -> None:
            frames[index] += 1
            if frame["event"] == "presence_state":
                view.clear()
                for key, metas in frame["members"].items():
                    view[sys.intern(key)] = len(metas)
            else:
                for key, metas in frame["joins"].items():
                    view[sys.intern(key)] = view.get(key, 0) + len(metas)
                for key, metas in frame["leaves"].items():
                    left = view.get(key, 0) - len(metas)
                    if left > 0:
                        view[key] = left
                    else:
                        view.pop(key, None)
            if len(view) == sockets and not complete[index]:
                complete[index] = True
                done[0] += 1
                if done[0] == sockets and not everyone.done():
                    everyone.set_result(time.perf_counter() - start)

        return on_presence

    async def connect_and_join(index: int) -> None:
        client = await Client.open(servers[index % len(servers)], limit=30)
        opened[index] = client
        client.on_presence = watcher(index)
        client.listen()
        await asyncio.wait_for(client.call("join", {"group": group}), 60)

    results = await asyncio.gather(
        *(connect_and_join(i) for i in range(sockets)), return_exceptions=True
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    converged = float("nan")
    with contextlib.suppress(TimeoutError):
        converged = await asyncio.wait_for(asyncio.shield(everyone), 60)
    complete_views = [view for view in views if len(view) == sockets]
    same = len({frozenset(view.items()) for view in complete_views}) <= 1
    clients = [c for c in opened if c is not None]
    redis = aioredis.from_url(redis_url)
    try:
        await close_all(clients, limit=30)
        left_at = time.perf_counter()
        pattern = f"{prefix}:ec:p*"
        left = [k async for k in redis.scan_iter(match=pattern, count=1000)]
        while left and time.perf_counter() - left_at < 15:
            await asyncio.sleep(0.25)
            left = [k async for k in redis.scan_iter(match=pattern, count=1000)]
    finally:
        await redis.aclose()
    counts = sorted(frames)
    return Sample(
        converged,
        {
            "sockets": sockets,
            "joined": sockets - len(errors),
            "complete": len(complete_views),
            "same": same,
            "frames_max": counts[-1] if counts else 0,
            "frames_median": statistics.median(counts) if counts else 0,
            "presence_keys_left": len(left),
            "errors": len(errors),
            "error_kinds": dict(Counter(type(e).__name__ for e in errors)),
            "first_error": repr(errors[0])[:200] if errors else "",
        },
    )
