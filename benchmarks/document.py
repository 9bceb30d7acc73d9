"""docs/benchmarks.md: the machine, the method, the latest tables and charts."""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Any

from .report import Summary, block, kept_blocks

PACKAGES = [
    "django",
    "channels",
    "channels-redis",
    "redis",
    "uvicorn",
    "daphne",
    "twisted",
    "websockets",
    "python-socketio",
    "python-engineio",
    "uvloop",
    "django-easy-channels",
]


def source_fingerprint() -> str:
    """Which easy_channels was measured: a hash of its sources and their newest mtime."""
    root = Path(__file__).resolve().parent.parent / "easy_channels"
    digest = hashlib.sha256()
    newest = 0.0
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
        newest = max(newest, path.stat().st_mtime)
    stamp = datetime.datetime.fromtimestamp(newest, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"sha256 {digest.hexdigest()[:12]} of easy_channels/**/*.py (newest file {stamp})"


def machine(redis_url: str) -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    try:
        import redis

        versions["redis-server"] = redis.Redis.from_url(redis_url).info("server")["redis_version"]
    except Exception:
        versions["redis-server"] = "unreachable"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": versions,
    }


METHOD = """\
Everything runs on one machine over loopback: each server is its own process on a free port
(started and stopped by pid), and one load generator (asyncio, the `websockets` client,
uvloop) drives them all: one process, and for fan-out groups of 500 members and more several
(`benchmarks/members.py`, each on uvloop too), since one process reading that many sockets
saturates its core first. The client handles each text frame as websockets parses it
(`load._Connection`), not through `recv()`'s queue: with `recv()`, half its time per
delivery, the fastest servers measured the client at 100 members. With {cores} cores, the
server under test and the load generator share them; the other servers sit idle meanwhile.

**Servers.** The same three events everywhere: `echo` (answer the payload as an ack),
`join` (add the socket to a group, ack), `broadcast` (send `msg` to the group, ack).

- *easy_channels/uvicorn*, *easy_channels/daphne*: a `JSONWebSocket` with three `async def`
  handlers (`benchmarks/apps/easy_consumers.py`), behind `easy_channels.routing.websocket_router`.
- *easy_channels (Socket.IO)/uvicorn*: the same `JSONWebSocket` registered on Socket.IO's main
  namespace (`"/"` in `SOCKETS`), served at `/socket.io/` by the same router: the load generator
  speaks Socket.IO to it exactly as to python-socketio, so the two compare on one protocol.
- *Channels/uvicorn*: the raw Channels equivalent, an `AsyncJsonWebsocketConsumer` written as
  the Channels tutorial does (`group_send` of a typed message, each member `send_json`s it).
- *python-socketio/uvicorn*: `socketio.AsyncServer(async_mode="asgi")`, handlers returning
  the ack; rooms for groups. Its Redis variant is `socketio.AsyncRedisManager` (pub/sub).
- *easy_channels@&lt;commit&gt;/uvicorn* (`--baseline <commit>`): the same consumer on an
  earlier commit of this repository, unpacked with `git archive` and served the same way, so
  that before and after are measured in one run (echo and fan-out only).
- *websockets (ceiling)*: a bare `websockets` server, groups are sets, fan-out is
  `websockets.broadcast`. No framework, no layer: the most this client/machine can show.

uvicorn runs with its defaults (uvloop, httptools, and its default WebSocket implementation,
`websockets-sansio` in uvicorn 0.54), no access log; daphne (Twisted/autobahn) with its
defaults. Channel layers: `InMemoryChannelLayer`,
`channels_redis.core.RedisChannelLayer` and `channels_redis.pubsub.RedisPubSubChannelLayer` on
a local Redis, hosts `{{"address": REDIS_URL, "socket_timeout": 15}}`, defaults otherwise, a
key prefix of their own per run (deleted afterwards with `SCAN`/`DEL`, never `FLUSHALL`). The
client sends no permessage-deflate offer, so every server sends plain frames.

**Loads.** The client speaks easy_channels' JSON frames to the Channels-based servers and
to the bare websockets server, and Engine.IO 4 / Socket.IO 5 over a raw WebSocket to
python-socketio (`42<id>[...]` events, `43<id>[...]` acks, answering pings), so the client's
own cost is the same for every server. Every load checks its answers.

- *Echo*: 1 or 50 sockets, each in a loop sending an echo request and waiting for its reply,
  for {echo_duration:g} s after {echo_warmup:g} s of warm-up. Round trips per second, and the
  server's CPU time (utime + stime from `/proc/<pid>/stat`) per round trip. In-memory layer
  (echo doesn't touch the layer).
- *Fan-out*: M members join one group (all join acks awaited), then one more socket (not a
  member) broadcasts to it **one message at a time**: the next broadcast goes out when the last
  member has the previous one, for {fanout_duration:g} s (at least 5 messages) after 2 warm-up
  messages. deliveries/s = M x messages / elapsed; latency = from sending a broadcast until
  its last member has it. Every member must get every message exactly once and in order, or
  the measurement fails. The server's CPU per delivery is reported too, the number that
  doesn't depend on the load generator. From 500 members the members are spread over several
  client processes; each reports when its last member had a broadcast (one monotonic clock
  for all), every member's sequence is still checked, and the "CPU busy" table sums the
  client processes.
- *Connect storm*: {storm_sockets} sockets connect **all at once** to two easy_channels/uvicorn
  processes sharing one `RedisChannelLayer` (half each), every socket joins one group ("all
  joined" is the time until the last join ack); one member broadcasts and every socket that
  joined must get it; then all disconnect, and the members of every group sorted set under
  the layer's prefix (`ZCARD` of each `<prefix>:group:*`, summed) must drop to 0 within 10 s.
  The same against raw Channels.
- *Memory*: a fresh server's RSS (`VmRSS`) before and after {memory_sockets} idle connected
  sockets (after one warm-up batch of 20), in KiB per socket.
- *Slow member* (not in the issue's list; added because it found a stall): 10 members join a
  group, one of them stops reading (as a frozen tab or a dead mobile link would), and
  {slow_messages} broadcasts of 4 KiB follow, each sent once the 9 others have the previous one.
  The number is how many reached the 9 before one took more than 3 s. In-memory layer.

**Order and statistics.** {reps} repetitions, interleaved: within each repetition, every
(load, size, layer) is measured on every server in a shuffled order (seeded). Tables show the
median across repetitions (`(k/n)` when only k of n succeeded). Ratios are computed within each
repetition, then their median is shown. Each measurement has a timeout; a failed one is shown
as `—`, and the server is replaced before the next.
"""


def render(
    summary: Summary,
    meta: dict[str, Any],
    chart_paths: list[Path],
    out: Path,
    wall: float,
    command: str,
) -> str:
    c = summary.config
    existing = out.read_text() if out.exists() else ""
    kept = kept_blocks(existing)
    v = meta["versions"]
    versions = ", ".join(f"{k} {v[k]}" for k in v)
    lines = [
        "# Benchmarks",
        "",
        "easy_channels against raw Django Channels, python-socketio and a bare `websockets`",
        "server (the ceiling), on one machine, by one load generator. Regenerate with",
        "`make bench` (about 18 minutes on 2 cores; `make bench BENCH_ARGS=--quick` for a",
        "2-minute smoke run); `benchmarks/` holds the harness and the servers.",
        "",
        "## This run",
        "",
        f"- Date: {meta['date']}; wall time {wall / 60:.1f} min; `{command}`",
        f"- Machine: {meta['cpu']}, {meta['cores']} cores, {meta['system']}, "
        f"Python {meta['python']}",
        f"- Versions: {versions}",
        f"- easy_channels measured: {meta['source']}"
        + (
            f" **at the start; it changed during the run** (end: {meta['source_end']})"
            if meta.get("source_end") not in (None, meta["source"])
            else ""
        ),
        f"- {c.reps} repetitions; fan-out sizes {', '.join(map(str, c.fanout_sizes))}; "
        f"layers {', '.join(c.layers)}",
        "",
        "## Results",
        "",
    ]
    for table in summary.tables():
        lines += [table.markdown(), ""]
    if chart_paths:
        lines += ["### Charts", ""]
        for path in chart_paths:
            rel = os.path.relpath(path, out.parent)
            lines += [f"![{path.stem}]({rel})", ""]
    failures = summary.failure_table()
    if failures is not None:
        lines += ["### Failures", "", failures.markdown(), ""]
    warnings = meta.get("log_warnings")
    if warnings:
        lines += [
            "### Warnings in the servers' logs",
            "",
            "Distinct warning/error lines the servers printed during the run (count x line):",
            "",
            "```text",
            *warnings,
            "```",
            "",
        ]
    lines += [
        "## Notes",
        "",
        block(
            "notes",
            kept.get("notes", "(Hand-written notes on the results go here; kept across runs.)\n"),
        ),
        "",
        "## Where the time goes",
        "",
        block(
            "profile_notes",
            kept.get("profile_notes", "(A hand-written reading of the profiles below.)\n"),
        ),
        "",
    ]
    profiles = sorted(
        (name for name in kept if name.startswith("profile_") and name != "profile_notes"),
        key=lambda name: (name != "profile_memory_500", name),
    )
    for name in profiles:
        lines += [block(name, kept[name]), ""]
    if not profiles:
        lines += ["Run `python -m benchmarks --profile` to profile the server.", ""]
    lines += [
        "## Method",
        "",
        METHOD.format(
            cores=meta["cores"],
            echo_duration=c.echo_duration,
            echo_warmup=c.echo_warmup,
            fanout_duration=c.fanout_duration,
            storm_sockets=c.storm_sockets,
            memory_sockets=c.memory_sockets,
            slow_messages=c.slow_messages,
            reps=c.reps,
        ),
    ]
    return "\n".join(lines).rstrip() + "\n"
