"""Run by tests/test_live_server.py with ``manage.py test`` (the checks run first, as for users)."""

import os

from channels.testing import ChannelsLiveServerTestCase
from playwright.sync_api import sync_playwright


class BrowserTests(ChannelsLiveServerTestCase):
    serve_static = False

    def test_a_browser_page_talks_to_a_socket(self):
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
                args=["--headless", "--no-sandbox", "--disable-gpu",
                      "--disable-background-networking"],
            )  # fmt: skip
            try:
                page = browser.new_page()
                page.goto(self.live_server_url)
                page.wait_for_function("document.title !== 'waiting'", timeout=10_000)
                self.assertEqual(page.title(), "hello")
            finally:
                browser.close()
