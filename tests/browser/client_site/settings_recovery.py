"""
The browser test site with docs/topics/recovery.rst's chat (recovery_asgi.py): the app of its
``Message`` model, a database file the server's threads share (``CLIENT_SITE_DB``), and a
window and a history short enough for a test to outlast them.
"""

import os

from .settings import *  # noqa: F403
from .settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.orders"]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["CLIENT_SITE_DB"]}
}
ASGI_APPLICATION = "tests.browser.client_site.recovery_asgi.application"
EASY_CHANNELS = {"RECOVERY": {"WINDOW": 2, "HISTORY": 3}}
