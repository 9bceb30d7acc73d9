"""
Fixtures shared by the tests.

``channel_layer`` runs a test once on the in-memory layer and once on channels-redis
(``REDIS_URL``, default redis://127.0.0.1:6379/0). The Redis run uses a key prefix of its own
and deletes only those keys. Without Redis it skips, unless EASY_CHANNELS_REQUIRE_REDIS=1 (CI),
which makes it fail.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from channels.layers import get_channel_layer

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_REDIS = os.environ.get("EASY_CHANNELS_REQUIRE_REDIS") == "1"


def _redis_unavailable() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
    except redis.RedisError as exc:
        return f"Redis is not reachable at {REDIS_URL} ({exc})"
    return None


def require_redis() -> None:
    reason = _redis_unavailable()
    if reason is None:
        return
    if REQUIRE_REDIS:
        pytest.fail(f"{reason}, and EASY_CHANNELS_REQUIRE_REDIS=1 forbids skipping.")
    pytest.skip(f"{reason}; start redis-server or set REDIS_URL.")


def redis_layer_config(prefix: str) -> dict:
    """A channels-redis layer configured as README.rst recommends (see checks W007)."""
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 2}],
            "prefix": prefix,
        },
    }


@pytest.fixture
def clean_registry():
    """Register test-only consumers without leaking them into other tests."""
    from easy_channels.registry import registry

    saved = dict(registry._registry)
    yield registry
    registry._registry = saved


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def channel_layer(request, settings):
    """The default channel layer, in-memory or Redis (see module docstring)."""
    if request.param == "redis":
        require_redis()
        settings.CHANNEL_LAYERS = {"default": redis_layer_config(f"easytest{uuid.uuid4().hex}")}
    else:
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    layer = get_channel_layer()
    yield layer
    if request.param == "redis":
        await layer.flush()  # deletes only keys under this test's prefix
        await layer.close_pools()


def pytest_collection_modifyitems(items):
    """
    Every test may reach the database: sync handlers run in another thread through
    database_sync_to_async, so only a transactional test database is visible to them.

    Except the browser tests: Playwright's sync API marks an event loop as running in this
    thread while the browser is open, and Django then refuses the test database's setup and
    flush. Their sites run in server subprocesses with databases of their own.
    """
    browser_tests = Path(__file__).parent / "browser"
    for item in items:
        if browser_tests in item.path.parents:
            continue
        if item.get_closest_marker("django_db") is None:
            item.add_marker(pytest.mark.django_db(transaction=True))


#: Seconds a test's teardown may take before the asyncio tasks still running are printed.
_SLOW_TEARDOWN = 30.0


def _print_running_tasks() -> None:
    """From a watchdog thread: what a stuck event loop is still waiting for (diagnostics)."""
    import asyncio
    import gc
    import io

    # type(), not isinstance(): isinstance() would set up Django's lazy objects from this thread.
    loops = [o for o in gc.get_objects() if issubclass(type(o), asyncio.AbstractEventLoop)]
    for loop in loops:
        if not loop.is_running():
            continue
        out = io.StringIO()
        for task in list(asyncio.all_tasks(loop)):
            print(f"--- {task!r} (cancelling={task.cancelling()})", file=out)
            awaiting = task.get_coro()
            while awaiting is not None:  # the whole await chain; print_stack shows its top only
                frame = getattr(awaiting, "cr_frame", None) or getattr(awaiting, "gi_frame", None)
                if frame is not None:
                    print(f"    {frame.f_code.co_filename}:{frame.f_lineno} in "
                          f"{frame.f_code.co_name}", file=out)  # fmt: skip
                awaiting = getattr(awaiting, "cr_await", None) or getattr(
                    awaiting, "gi_yieldfrom", None
                )
            print(f"    awaits {task._fut_waiter!r}", file=out)
        print(f"\n+++ teardown slower than {_SLOW_TEARDOWN:g}s; running tasks:\n{out.getvalue()}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    """Print the tasks of an event loop whose shutdown hangs (pytest-timeout shows threads only)."""
    import threading

    watchdog = threading.Timer(_SLOW_TEARDOWN, _print_running_tasks)
    watchdog.daemon = True
    watchdog.start()
    try:
        yield
    finally:
        watchdog.cancel()
