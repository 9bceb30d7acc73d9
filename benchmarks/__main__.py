"""
``python -m benchmarks`` (``make bench``): see ``benchmarks/__init__.py`` and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import re
import secrets
import shlex
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from . import document, profiling, report
from .servers import ROOT, SPECS, Pool, add_baseline
from .suite import Config, Suite, to_json

LOADS = ("echo", "fanout", "storm", "presence", "memory", "slow")
LAYERS = ("memory", "redis", "pubsub")


def _list(choices, name):
    def parse(text: str) -> tuple[str, ...]:
        items = tuple(x.strip() for x in text.split(",") if x.strip())
        bad = [x for x in items if x not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"{name}: pick from {', '.join(choices)}")
        return items

    return parse


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Side-by-side WebSocket benchmarks: easy_channels (uvicorn, daphne), raw "
        "Channels, python-socketio and a bare websockets server, on loopback.",
    )
    p.add_argument("--quick", action="store_true", help="a smoke run under ~2 minutes")
    p.add_argument("--reps", type=int, help="repetitions (default 3; --quick 1)")
    p.add_argument(
        "--only",
        type=_list(LOADS, "--only"),
        default=LOADS,
        help=f"loads to run, comma-separated, from {','.join(LOADS)} (default: all)",
    )
    p.add_argument(
        "--servers",
        type=_list(tuple(SPECS), "--servers"),
        default=tuple(SPECS),
        help=f"servers, comma-separated: {','.join(SPECS)}",
    )
    p.add_argument(
        "--layers",
        type=_list(LAYERS, "--layers"),
        default=LAYERS,
        help="fan-out channel layers: memory,redis,pubsub",
    )
    p.add_argument("--sizes", type=_ints, help="fan-out group sizes (default 10,100,500,1000)")
    p.add_argument(
        "--out",
        type=Path,
        default=ROOT / "docs" / "benchmarks.md",
        help="the Markdown report (charts go to <out dir>/benchmarks/)",
    )
    p.add_argument("--no-write", action="store_true", help="print only; write no docs")
    p.add_argument(
        "--profile",
        action="store_true",
        help="only profile easy_channels/uvicorn during a fan-out (py-spy and pyinstrument; "
        "500 members, in-memory layer unless --profile-members/--profile-layer); updates the "
        "docs' profile section",
    )
    p.add_argument(
        "--profile-layer", choices=LAYERS, default="memory", help="channel layer of --profile"
    )
    p.add_argument("--profile-members", type=int, default=500, help="group size of --profile")
    p.add_argument(
        "--budget", type=float, help="minutes before the rest is skipped (default 30; --quick 4)"
    )
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument("--seed", type=int, default=6, help="seed of the shuffled server order")
    p.add_argument(
        "--baseline",
        metavar="REV",
        help="also measure easy_channels at commit REV (uvicorn, echo and fan-out), as "
        "'ec-baseline', from an unpacked copy of that commit: before and after in one run",
    )
    return p.parse_args(argv)  # fmt: skip


def make_config(args: argparse.Namespace) -> Config:
    config = Config(
        loads=args.only,
        servers=args.servers,
        layers=args.layers,
        redis_url=args.redis_url,
        seed=args.seed,
    )
    if args.quick:
        config.reps = 1
        config.echo_duration, config.echo_warmup = 1.0, 0.3
        config.fanout_sizes = (10, 100, 500)
        config.fanout_duration = 0.5
        config.memory_sockets = 300
        config.slow_messages = 1500
        config.budget = 4 * 60
    if args.reps is not None:
        config.reps = args.reps
    if args.sizes:
        config.fanout_sizes = args.sizes
    if args.budget is not None:
        config.budget = args.budget * 60
    return config


def _redis_ok(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except Exception as exc:
        print(f"Redis at {url} is unreachable ({exc!r})", file=sys.stderr)
        return False


def _clean_redis(url: str, pattern: str) -> int:
    """Delete our keys only (SCAN MATCH <our prefix>*), never anything else."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    deleted = 0
    keys = list(client.scan_iter(match=pattern, count=1000))
    for i in range(0, len(keys), 500):
        deleted += client.delete(*keys[i : i + 500])
    return deleted


def _run_async(coro):
    try:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)
    except ImportError:
        return asyncio.run(coro)


def _log_warnings(log_dir: Path, limit: int = 25) -> list[str]:
    """Distinct warning/error lines of the servers' logs, most frequent first."""
    counts: Counter = Counter()
    # Log lines, and the last line of each traceback ("redis.exceptions.XError: ...").
    interesting = re.compile(r"WARNING|ERROR|CRITICAL|^[\w.]+(Error|Exception|Timeout)\w*:")
    for path in sorted(log_dir.glob("*.log")):
        server = re.sub(r"-\d+$", "", path.stem)
        for line in path.read_text(errors="replace").splitlines():
            if interesting.search(line):
                line = re.sub(r"\b(?=[\w!.]*\d)[\w!.]{16,}", "…", line.strip())
                line = re.sub(r"\d+", "N", line)
                counts[f"[{server}] {line[:160]}"] += 1
    return [f"{n:6d} x {line}" for line, n in counts.most_common(limit)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)
    out_dir = Path(tempfile.gettempdir()) / "easy_channels_bench" / run_id
    out_dir.mkdir(parents=True)
    if args.baseline:
        short = add_baseline(args.baseline, out_dir / "baseline")
        print(f"baseline: easy_channels at {short}, unpacked in {out_dir / 'baseline'}")
        if "ec-baseline" not in args.servers:
            args.servers = (*args.servers, "ec-baseline")
    config = make_config(args)
    command = ("python -m benchmarks " + shlex.join(sys.argv[1:] if argv is None else argv)).strip()
    print(f"run {run_id}: logs and raw results in {out_dir}", flush=True)

    if args.profile:
        needs_redis = args.profile_layer != "memory"
    else:
        needs_redis = "storm" in config.loads or (
            "fanout" in config.loads and bool(set(config.layers) - {"memory"})
        )
    if needs_redis and not _redis_ok(config.redis_url):
        print("skipping the Redis layers and the connect storm", file=sys.stderr)
        config.layers = tuple(x for x in config.layers if x == "memory")
        config.loads = tuple(x for x in config.loads if x != "storm")

    def terminate(signum, frame):  # SIGTERM: unwind through the finally below
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    pool = Pool(run_id, out_dir, config.redis_url)
    source = document.source_fingerprint()
    started = time.monotonic()
    results = []
    profile_body = None
    try:
        if args.profile:
            profile_body = _run_async(
                profiling.run(pool, out_dir, args.profile_members, layer=args.profile_layer)
            )
        else:
            suite = Suite(config, pool)
            try:
                _run_async(suite.run())
            finally:
                results = suite.results
    except KeyboardInterrupt:
        print("\ninterrupted: stopping every server", file=sys.stderr)
        return 130
    finally:
        pool.close()
        if needs_redis:
            try:
                n = _clean_redis(config.redis_url, f"ecbench-{run_id}*")
                print(f"deleted {n} Redis keys of this run (ecbench-{run_id}*)")
            except Exception as exc:
                print(f"could not clean Redis: {exc!r}", file=sys.stderr)
    wall = time.monotonic() - started

    if profile_body is not None:
        if not args.no_write:
            text = args.out.read_text() if args.out.exists() else "# Benchmarks\n"
            name = f"profile_{args.profile_layer}_{args.profile_members}"
            args.out.write_text(report.replace_block(text, name, profile_body))
            print(f"\nwrote the profile section of {args.out}")
        print(f"\nwall time {wall:.0f} s")
        return 0

    (out_dir / "results.json").write_text(
        json.dumps({"config": vars(config), "results": to_json(results)}, indent=1, default=str)
    )
    summary = report.Summary(results, config)
    print()
    for table in summary.tables():
        print(table.text() + "\n")
    failures = summary.failure_table()
    if failures is not None:
        print(failures.text() + "\n")
    warnings = _log_warnings(out_dir)
    if warnings:
        print("Warnings in the servers' logs (count x distinct line):")
        print("\n".join(warnings) + "\n")
    if document.source_fingerprint() != source:
        print(
            "WARNING: easy_channels' sources changed during the run; servers started after "
            "the change ran the new code."
        )
    print(f"wall time {wall / 60:.1f} min; raw results: {out_dir / 'results.json'}")

    if not args.no_write:
        meta = document.machine(config.redis_url)
        meta["date"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        meta["log_warnings"] = warnings
        meta["source"], meta["source_end"] = source, document.source_fingerprint()
        paths = report.charts(summary, args.out.parent / "benchmarks")
        args.out.write_text(document.render(summary, meta, paths, args.out, wall, command))
        print(f"wrote {args.out} and {len(paths)} chart(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
