"""
Real-browser fixtures: Playwright (the Python package) driving Debian's Chromium.

Playwright's own browser download can't work offline, so the tests use the system Chromium
(``CHROMIUM`` env var, default /usr/bin/chromium). Without it they skip with the reason, unless
EASY_CHANNELS_REQUIRE_BROWSER=1 (CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("EASY_CHANNELS_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _browser_unavailable() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return (
            f"Chromium is not installed at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)"
        )
    return None


def pytest_collection_modifyitems(items):
    reason = _browser_unavailable()
    here = Path(__file__).parent
    for item in items:
        if here not in item.path.parents:  # this hook sees every test of the session
            continue
        item.add_marker(pytest.mark.browser)
        if reason is not None and not REQUIRE_BROWSER:  # under REQUIRE, `browser` fails instead
            item.add_marker(pytest.mark.skip(reason=f"{reason}; browser tests skipped"))


@pytest.fixture(scope="module")
def browser():
    """
    One Chromium per test module; every test gets its own context (see ``new_page``).

    Playwright's sync API keeps its event loop marked as running in this thread from start to
    stop, also between calls. So the browser must not outlive its module: every async test run
    after it would fail ("Cannot run the event loop while another loop is running"). For the
    same reason the browser tests don't get the test database (see tests/conftest.py): the
    sites under test run in server subprocesses.
    """
    reason = _browser_unavailable()
    if reason is not None:
        pytest.fail(f"{reason}, and EASY_CHANNELS_REQUIRE_BROWSER=1 forbids skipping.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:  # Playwright gives Chromium a throwaway profile directory
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(browser):
    """``new_page()`` opens a page in a fresh context (its own cookies); all closed afterwards."""
    contexts = []

    def open_page():
        context = browser.new_context(viewport={"width": 1100, "height": 720})
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(exc))
        page.js_errors = errors
        return page

    yield open_page
    for context in contexts:
        context.close()
