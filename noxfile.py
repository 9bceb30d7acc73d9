"""
``make matrix`` (``nox``): the suite's core on the lowest and the newest supported versions.

``floors`` installs exactly the lowest versions setup.cfg allows, on Python 3.11, so a floor
that no longer works fails here; ``newest`` takes the newest releases on Python 3.13. Both run
the tests of groups, Redis, routing, sending and the consumer (the browser, load and fault
tests run once, in ``make test``). Redis is required as in ``make test`` under CI.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["floors", "newest"]

#: The lowest supported versions: keep in step with install_requires in setup.cfg.
FLOORS = ["django==4.2.*", "channels==4.2.2", "channels-redis==4.2.1", "django-appconf==1.0.6"]
NEWEST = ["django>=5.2,<5.3", "channels", "channels-redis", "django-appconf"]

TESTS = [
    "tests/test_consumer.py",
    "tests/test_core.py",
    "tests/test_groups.py",
    "tests/test_losses.py",
    "tests/test_redis_direct.py",
    "tests/test_reserved_names.py",
    "tests/test_routing.py",
    "tests/test_sending.py",
    "tests/test_checks.py",
    "tests/test_middleware.py",
    # Socket.IO and server calls, in this process (the real-server tests run in make test).
    "tests/test_calls.py",
    "tests/test_socketio_packets.py",
    "tests/test_socketio_http.py",
]


def _run(session: nox.Session, pins: list[str]) -> None:
    session.install("--upgrade", "-e", ".[test]", *pins)
    session.run("python", "-m", "pip", "list", "--format=freeze", silent=False)
    session.run("python", "-m", "pytest", "-q", "-p", "no:randomly", *TESTS, *session.posargs)


@nox.session(python="3.11")
def floors(session: nox.Session) -> None:
    """Python 3.11, Django 4.2 and the floors of channels, channels-redis, django-appconf."""
    _run(session, FLOORS)


@nox.session(python="3.13")
def newest(session: nox.Session) -> None:
    """Python 3.13, Django 5.2 and the newest channels and channels-redis."""
    _run(session, NEWEST)
