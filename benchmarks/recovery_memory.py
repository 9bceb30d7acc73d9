"""
``python -m benchmarks.recovery_memory``: what recovery keeps in Redis, per session and per
kept group message.

Sessions (of sockets in 3 groups each) and group messages (frames of a few sizes) are written
through easy_channels' own recovery store and group send, under a prefix of this run, and
measured with Redis' ``MEMORY USAGE`` of each key it made; the keys are deleted afterwards.
A load, not a test: it prints what it measured and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets

SESSIONS = 1000
MESSAGES = 500  # one group's whole history at the default HISTORY
SIZES = (100, 1000, 4000)  # bytes of text in the frame


async def _usage(connection, pattern: str) -> tuple[int, int]:
    """(bytes, keys) of the keys matching ``pattern``."""
    total = count = 0
    async for key in connection.scan_iter(match=pattern, count=1000):
        total += await connection.memory_usage(key, samples=0) or 0
        count += 1
    return total, count


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.recovery_memory")
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.apps.settings")
    import django

    django.setup()
    from channels_redis.core import RedisChannelLayer

    from easy_channels import protocol, recovery, redis_direct
    from easy_channels.outgoing import frame_message
    from easy_channels.recovery import Saved
    from easy_channels.recovery_redis import RedisStore

    prefix = f"ecmem{secrets.token_hex(4)}"
    layer = RedisChannelLayer(hosts=[args.redis_url], prefix=prefix)
    store = RedisStore(layer)
    connection = layer.connection(0)
    rows = []
    try:
        for i in range(SESSIONS):
            saved = Saved(f"chat.sockets.ChatConsumer:/ws/chat/room{i % 10}/", str(i))
            inbox = f"easy_channels.hub.{secrets.token_hex(6)}!"
            saved.channels.append(f"{inbox}s{secrets.token_hex(16)}")
            groups = [f"room{i % 10}", f"user.{i}", "all"]
            await store.save(secrets.token_urlsafe(18), saved, groups)
        store.open.clear()  # no renewals: this process is not serving them
        if store.renewer is not None:
            store.renewer.cancel()
        used, keys = await _usage(connection, f"{prefix}:ec:s:*")
        rows.append(("session (3 groups)", f"{used / SESSIONS:,.0f}", f"{keys} keys"))
        for size in SIZES:
            group = f"history{size}"
            await store.save(secrets.token_urlsafe(18), Saved("x", None), [group])
            text = "x" * size
            for n in range(MESSAGES):
                message = frame_message("said", {"text": text, "n": n})
                position = recovery.new_position()
                message = {**message, recovery.POSITION_KEY: [group, position]}
                recording = store.recording(group, position, message)
                await redis_direct.group_send(layer, group, message, (), recording)
            used, _ = await _usage(connection, f"{prefix}:ec:h:{group}")
            frame = len(protocol.encode_event("said", {"text": text, "n": 0}))
            rows.append(
                (f"kept message, {frame:,} byte frame", f"{used / MESSAGES:,.0f}", f"{MESSAGES}")
            )
    finally:
        keys = [key async for key in connection.scan_iter(match=f"{prefix}*")]
        if keys:
            await connection.delete(*keys)
        await layer.close_pools()
    print(f"Redis memory of recovery (MEMORY USAGE of its keys; {args.redis_url})")
    print(f"{'what':<34} {'bytes each':>10}  measured over")
    for what, each, over in rows:
        print(f"{what:<34} {each:>10}  {over}")


if __name__ == "__main__":
    asyncio.run(main())
